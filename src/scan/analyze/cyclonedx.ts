// The SBOM: CycloneDX 1.5 JSON (application/vnd.cyclonedx+json). Deterministic for the same image and
// packages (serial number derived from the content, no timestamp), so a re-scan that finds the same
// packages produces the same bytes and the same referrer digest.
import { createHash } from 'node:crypto';
import { imagePurl } from './purl.js';
import type { Package } from './types.js';

export const CYCLONEDX_MEDIA_TYPE = 'application/vnd.cyclonedx+json';

function uuidFrom(hash: Buffer): string {
  const h = Buffer.from(hash.subarray(0, 16));
  h[6] = (h[6] & 0x0f) | 0x50; // version 5 (name-based, SHA-1 family): derived, not random
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function cycloneDx(image: { name: string; digest: string }, pkgs: Package[], os?: { id: string; version: string; name?: string }): Buffer {
  const root = imagePurl(image.name, image.digest);
  const refs = new Set<string>([root]);
  const sorted = [...pkgs].sort((a, b) => (a.purl < b.purl ? -1 : a.purl > b.purl ? 1 : a.source < b.source ? -1 : 1));
  const components: Record<string, unknown>[] = [];
  if (os) {
    const ref = `os:${os.id}@${os.version}`;
    refs.add(ref);
    components.push({ type: 'operating-system', 'bom-ref': ref, name: os.id, version: os.version, ...(os.name ? { description: os.name } : {}) });
  }
  for (const p of sorted) {
    let ref = p.purl;
    for (let i = 2; refs.has(ref); i++) ref = `${p.purl}#${i}`;
    refs.add(ref);
    components.push({
      type: 'library',
      'bom-ref': ref,
      name: p.name,
      version: p.version,
      purl: p.purl,
      ...(p.license ? { licenses: [{ license: { name: p.license } }] } : {}),
      properties: [
        { name: 'berth:package:ecosystem', value: p.ecosystem },
        { name: 'berth:package:source', value: p.source },
        { name: 'berth:package:layer', value: p.layer },
        ...(p.sourceName ? [{ name: 'berth:package:source-package', value: p.sourceVersion ? `${p.sourceName}@${p.sourceVersion}` : p.sourceName }] : []),
      ],
    });
  }
  const serial = uuidFrom(createHash('sha256').update(root).update('\n').update(JSON.stringify(components)).digest());
  const bom = {
    $schema: 'http://cyclonedx.org/schema/bom-1.5.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${serial}`,
    version: 1,
    metadata: {
      tools: { components: [{ type: 'application', name: 'berth', description: 'Berth built-in image analyser' }] },
      component: { type: 'container', 'bom-ref': root, name: image.name, version: image.digest, purl: root },
    },
    components,
    dependencies: [{ ref: root, dependsOn: components.map((c) => c['bom-ref'] as string) }],
  };
  return Buffer.from(`${JSON.stringify(bom, null, 2)}\n`);
}
