// The SBOM: CycloneDX 1.5 JSON with a purl per package, the image as the described component, the same
// bytes for the same packages (so a re-scan pushes no new referrer).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CYCLONEDX_MEDIA_TYPE, analyzeImage, cycloneDx } from '../../src/scan/analyze/index.js';
import { debianImage, EXPECTED, layerSources } from '../helpers/scan-images.js';

describe('cycloneDx', () => {
  it('lists every package with its purl, the OS, and the image as the subject', async () => {
    const image = await debianImage();
    const r = await analyzeImage(layerSources(image), { maxFileBytes: 1 << 20 });
    const bytes = cycloneDx({ name: 'registry.example/scan/debian-app', digest: image.manifestDigest }, r.packages, r.os);
    assert.equal(CYCLONEDX_MEDIA_TYPE, 'application/vnd.cyclonedx+json');
    const bom = JSON.parse(bytes.toString('utf8'));
    assert.equal(bom.bomFormat, 'CycloneDX');
    assert.equal(bom.specVersion, '1.5');
    assert.match(bom.serialNumber, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(bom.metadata.component.type, 'container');
    assert.equal(bom.metadata.component.version, image.manifestDigest);
    assert.equal(bom.metadata.component.purl, `pkg:oci/debian-app@${image.manifestDigest}?repository_url=registry.example%2Fscan%2Fdebian-app`);
    const libs = bom.components.filter((c: { type: string }) => c.type === 'library');
    assert.equal(libs.length, EXPECTED.debian.packages.length);
    assert.deepEqual(libs.map((c: { purl: string }) => c.purl).sort(), r.packages.map((p) => p.purl).sort());
    assert.deepEqual(
      bom.components.find((c: { type: string }) => c.type === 'operating-system'),
      { type: 'operating-system', 'bom-ref': 'os:debian@12', name: 'debian', version: '12', description: 'Debian GNU/Linux 12 (bookworm)' },
    );
    const lodash = libs.find((c: { name: string }) => c.name === 'lodash');
    assert.deepEqual(lodash.licenses, [{ license: { name: 'MIT' } }]);
    assert.ok(
      lodash.properties.some((p: { name: string; value: string }) => p.name === 'berth:package:source' && p.value === 'app/node_modules/lodash/package.json'),
    );
    const refs = bom.components.map((c: { 'bom-ref': string }) => c['bom-ref']);
    assert.equal(new Set(refs).size, refs.length, 'bom-refs are unique');
    assert.deepEqual(bom.dependencies, [{ ref: bom.metadata.component['bom-ref'], dependsOn: refs }]);
  });

  it('is deterministic: the same packages in any order give the same bytes; other packages, other bytes', async () => {
    const image = await debianImage();
    const r = await analyzeImage(layerSources(image), { maxFileBytes: 1 << 20 });
    const subject = { name: 'scan/debian-app', digest: image.manifestDigest };
    const a = cycloneDx(subject, r.packages, r.os);
    const b = cycloneDx(subject, [...r.packages].reverse(), r.os);
    assert.ok(a.equals(b));
    const c = cycloneDx(subject, r.packages.slice(1), r.os);
    assert.notEqual(JSON.parse(c.toString()).serialNumber, JSON.parse(a.toString()).serialNumber);
  });
});
