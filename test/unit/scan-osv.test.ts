// OSV matching: the advisory fixture against the fixture images gives exactly the expected findings and
// counts; ranges (introduced/fixed/last_affected, ECOSYSTEM and SEMVER), versions lists, ecosystem releases,
// severities from CVSS v3.1/v4.0/v2 vectors and from database words; loading from files and zips.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { zipSync } from 'fflate';
import { analyzeImage, type Finding, loadOsv, OsvLoadError, type Package } from '../../src/scan/analyze/index.js';
import { ecosystemApplies } from '../../src/scan/analyze/osv.js';
import { cvssBaseScore, severityOf } from '../../src/scan/analyze/severity.js';
import { alpineImage, type Counts, debianImage, EXPECTED, layerSources, osvFixtureFiles, rhelImage } from '../helpers/scan-images.js';

async function* files(list: [string, unknown][]): AsyncIterable<{ path: string; bytes: Buffer }> {
  for (const [path, doc] of list) yield { path, bytes: Buffer.isBuffer(doc) ? doc : Buffer.from(JSON.stringify(doc)) };
}

const pkg = (ecosystem: string, name: string, version: string, extra: Partial<Package> = {}): Package => ({
  ecosystem,
  name,
  version,
  purl: `pkg:x/${name}@${version}`,
  source: 'f',
  layer: 'sha256:1',
  ...extra,
});

function countOf(findings: Finding[]): Counts {
  const c: Counts = { critical: 0, high: 0, medium: 0, low: 0, unknown: 0 };
  for (const f of findings) c[f.severity]++;
  return c;
}

describe('the advisory fixture against the fixture images', () => {
  for (const [key, make] of [
    ['debian', debianImage],
    ['alpine', alpineImage],
    ['rhel', rhelImage],
  ] as const) {
    it(`${key}: the expected findings and counts by severity`, async () => {
      const db = await loadOsv(osvFixtureFiles());
      const r = await analyzeImage(layerSources(await make()), { maxFileBytes: 1 << 20 });
      const findings = db.match(r.packages);
      assert.deepEqual(findings.map((f) => `${f.id} ${f.package}`).sort(), EXPECTED[key].findings.slice().sort());
      assert.deepEqual(countOf(findings), EXPECTED[key].counts);
    });
  }

  it('findings carry the fixed version, score, aliases and the package they came from', async () => {
    const db = await loadOsv(osvFixtureFiles());
    const r = await analyzeImage(layerSources(await debianImage()), { maxFileBytes: 1 << 20 });
    const f = db.match(r.packages);
    const lodash = f.find((x) => x.id === 'GHSA-35jh-r3h4-6jhm')!;
    assert.deepEqual(
      { ...lodash },
      {
        id: 'GHSA-35jh-r3h4-6jhm',
        aliases: ['CVE-2021-23337'],
        package: 'lodash',
        ecosystem: 'npm',
        installed: '4.17.20',
        fixed: '4.17.21',
        severity: 'high',
        score: 7.2,
        summary: 'Command Injection in lodash',
        purl: 'pkg:npm/lodash@4.17.20',
        source: 'app/node_modules/lodash/package.json',
      },
    );
    const zlib = f.find((x) => x.id === 'DEBIAN-CVE-2023-45853')!;
    assert.equal(zlib.fixed, undefined, 'no fix in Debian 12');
    assert.equal(zlib.installed, '1:1.2.13.dfsg-1');
    assert.equal(f.find((x) => x.id === 'GHSA-67hx-6x53-jw92')!.score, 9.3, 'CVSS v4.0 vector');
    assert.equal(f.find((x) => x.id === 'GO-2023-1621')!.fixed, '1.20.2', 'the fix of the range the version is in');
    assert.equal(f.find((x) => x.id === 'GHSA-xvch-5gv4-984h')!.fixed, '1.2.6', 'second affected entry of the same package');
  });
});

describe('loadOsv', () => {
  it('versions the data by content: same files, same version; a changed file, another', async () => {
    const a = await loadOsv(osvFixtureFiles());
    const b = await loadOsv(osvFixtureFiles());
    assert.equal(a.version, b.version);
    assert.match(a.version, /^sha256:[0-9a-f]{64}$/);
    assert.equal(a.size, 27, 'every record but the withdrawn one');
    const changed = await loadOsv(files([['x.json', { id: 'X-1', affected: [] }]]));
    assert.notEqual(changed.version, a.version);
  });

  it('reads a file holding an array of records', async () => {
    const db = await loadOsv(
      files([
        [
          'list.json',
          [
            { id: 'A-1', affected: [{ package: { ecosystem: 'npm', name: 'a' }, versions: ['1.0.0'] }] },
            { id: 'A-2', affected: [{ package: { ecosystem: 'npm', name: 'b' }, versions: ['1.0.0'] }] },
          ],
        ],
      ]),
    );
    assert.equal(db.size, 2);
    assert.deepEqual(
      db.match([pkg('npm', 'a', '1.0.0'), pkg('npm', 'b', '1.0.0')]).map((f) => f.id),
      ['A-1', 'A-2'],
    );
  });

  it('reads OSV zip exports like the directory they came from', async () => {
    const entries: Record<string, Uint8Array> = {};
    for await (const f of osvFixtureFiles()) entries[f.path.replaceAll('/', '_')] = f.bytes;
    const fromZip = await loadOsv(files([['all.zip', Buffer.from(zipSync(entries))]]));
    const fromDir = await loadOsv(osvFixtureFiles());
    assert.equal(fromZip.size, fromDir.size);
    const r = await analyzeImage(layerSources(await alpineImage()), { maxFileBytes: 1 << 20 });
    assert.deepEqual(
      fromZip.match(r.packages).map((f) => f.id),
      fromDir.match(r.packages).map((f) => f.id),
    );
  });

  it('refuses a file that is not JSON or not an OSV record, naming it', async () => {
    await assert.rejects(
      loadOsv(
        files([
          ['ok.json', { id: 'A' }],
          ['bad.json', Buffer.from('{nope')],
        ]),
      ),
      (e: Error) => e instanceof OsvLoadError && /bad\.json/.test(e.message),
    );
    await assert.rejects(loadOsv(files([['noid.json', { affected: [] }]])), OsvLoadError);
    await assert.rejects(loadOsv(files([['x.zip', Buffer.from('PK not a zip')]])), OsvLoadError);
    const zip = Buffer.from(zipSync({ 'a.json': Buffer.from(JSON.stringify({ id: 'A' })) }));
    await assert.rejects(loadOsv(files([['cut.zip', zip.subarray(0, zip.length - 10)]])), OsvLoadError, 'a truncated zip');
    await assert.rejects(loadOsv(files([['bad.zip', Buffer.from(zipSync({ 'b.json': Buffer.from('{') }))]])), (e: Error) => /bad\.zip!b\.json/.test(e.message));
    const bomb = Buffer.from(zipSync({ 'big.json': new Uint8Array(40 << 20) }, { level: 1 }));
    assert.ok(bomb.length < 1 << 20);
    await assert.rejects(loadOsv(files([['bomb.zip', bomb]])), (e: Error) => e instanceof OsvLoadError && /inflates past/.test(e.message));
    const ignored = await loadOsv(files([['README.md', Buffer.from('# hi')]]));
    assert.equal(ignored.size, 0);
  });
});

describe('OSV matching rules', () => {
  const rec = (affected: unknown[], extra: Record<string, unknown> = {}) => ({ id: 'T-1', affected, ...extra });

  it('introduced / fixed / last_affected, several ranges, and explicit versions', async () => {
    const db = await loadOsv(
      files([
        [
          'a.json',
          rec([
            {
              package: { ecosystem: 'npm', name: 'p' },
              ranges: [{ type: 'SEMVER', events: [{ introduced: '1.0.0' }, { fixed: '1.2.0' }, { introduced: '2.0.0' }, { last_affected: '2.1.0' }] }],
            },
          ]),
        ],
        ['b.json', { id: 'T-2', affected: [{ package: { ecosystem: 'npm', name: 'q' }, versions: ['0.9.0', '3.0.0'] }] }],
      ]),
    );
    const hit = (name: string, v: string) => db.match([pkg('npm', name, v)]).length > 0;
    assert.deepEqual(
      ['0.9.9', '1.0.0', '1.1.9', '1.2.0', '1.9.0', '2.0.0', '2.1.0', '2.1.1'].map((v) => hit('p', v)),
      [false, true, true, false, false, true, true, false],
    );
    assert.deepEqual(
      ['0.9.0', '1.0.0', '3.0.0'].map((v) => hit('q', v)),
      [true, false, true],
    );
  });

  it('matches OS advisories by source package and source version, only within the image release', async () => {
    const db = await loadOsv(
      files([
        [
          'a.json',
          rec([{ package: { ecosystem: 'Debian:12', name: 'src' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.0-2' }] }] }]),
        ],
      ]),
    );
    assert.equal(db.match([pkg('Debian:12', 'libsrc1', '1.0-1', { sourceName: 'src', sourceVersion: '1.0-1' })]).length, 1);
    assert.equal(db.match([pkg('Debian:12', 'libsrc1', '1.0-2+b1', { sourceName: 'src', sourceVersion: '1.0-2' })]).length, 0, 'binNMU of the fixed source');
    assert.equal(db.match([pkg('Debian:11', 'libsrc1', '1.0-1', { sourceName: 'src' })]).length, 0, 'another release');
    assert.equal(db.match([pkg('Debian', 'libsrc1', '1.0-1', { sourceName: 'src' })]).length, 0, 'unknown release: no guess');
  });

  it('ecosystem names with release suffixes', () => {
    assert.ok(ecosystemApplies('Debian:12', 'Debian:12'));
    assert.ok(!ecosystemApplies('Debian:11', 'Debian:12'));
    assert.ok(ecosystemApplies('Alpine:v3.19', 'Alpine:v3.19'));
    assert.ok(!ecosystemApplies('Alpine:v3.18', 'Alpine:v3.19'));
    assert.ok(ecosystemApplies('Ubuntu:22.04:LTS', 'Ubuntu:22.04'));
    assert.ok(ecosystemApplies('Red Hat:enterprise_linux:9::appstream', 'Red Hat:9'));
    assert.ok(!ecosystemApplies('Red Hat:enterprise_linux:8::appstream', 'Red Hat:9'));
    assert.ok(ecosystemApplies('npm', 'npm'));
    assert.ok(!ecosystemApplies('PyPI', 'npm'));
  });

  it('PyPI names are compared normalised; Go versions with or without v', async () => {
    const db = await loadOsv(
      files([
        [
          'a.json',
          rec([{ package: { ecosystem: 'PyPI', name: 'Foo_Bar' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '2.0rc1' }] }] }]),
        ],
        ['b.json', { id: 'T-2', affected: [{ package: { ecosystem: 'Go', name: 'example.com/m' }, versions: ['1.0.0'] }] }],
      ]),
    );
    assert.equal(db.match([pkg('PyPI', 'foo-bar', '2.0b3')]).length, 1);
    assert.equal(db.match([pkg('PyPI', 'foo.bar', '2.0')]).length, 0);
    assert.equal(db.match([pkg('Go', 'example.com/m', 'v1.0.0')]).length, 1);
  });

  it('merges records that alias each other into one finding with the highest severity', async () => {
    const db = await loadOsv(
      files([
        [
          'a.json',
          rec([{ package: { ecosystem: 'npm', name: 'p' }, versions: ['1.0.0'] }], {
            id: 'GHSA-aaaa',
            aliases: ['CVE-1'],
            database_specific: { severity: 'LOW' },
          }),
        ],
        [
          'b.json',
          rec([{ package: { ecosystem: 'npm', name: 'p' }, versions: ['1.0.0'] }], {
            id: 'CVE-1',
            severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
          }),
        ],
      ]),
    );
    const f = db.match([pkg('npm', 'p', '1.0.0')]);
    assert.equal(f.length, 1);
    assert.equal(f[0].severity, 'critical');
    assert.deepEqual(new Set([f[0].id, ...f[0].aliases]), new Set(['GHSA-aaaa', 'CVE-1']));
  });

  it('a record without severity is rated by a related record it names (upstream CVE, alias)', async () => {
    const db = await loadOsv(
      files([
        ['dsa.json', rec([{ package: { ecosystem: 'Debian:12', name: 'p' }, versions: ['1-1'] }], { id: 'DSA-1', upstream: ['CVE-2024-1'] })],
        ['alpine.json', rec([{ package: { ecosystem: 'Alpine:v3.19', name: 'q' }, versions: ['1-r0'] }], { id: 'ALPINE-CVE-2024-2', aliases: ['CVE-2024-2'] })],
        ['cve1.json', { id: 'CVE-2024-1', severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H' }] }],
        ['cve2.json', { id: 'CVE-2024-2', database_specific: { severity: 'LOW' } }],
      ]),
    );
    const [d] = db.match([pkg('Debian:12', 'p', '1-1')]);
    assert.deepEqual([d.id, d.severity, d.score], ['DSA-1', 'high', 7.5]);
    const [a] = db.match([pkg('Alpine:v3.19', 'q', '1-r0')]);
    assert.deepEqual([a.id, a.severity, a.score], ['ALPINE-CVE-2024-2', 'low', undefined]);
    assert.equal(db.size, 4);
  });

  it('a version the ecosystem ordering cannot read gives no verdict instead of an error', async () => {
    const db = await loadOsv(
      files([['a.json', rec([{ package: { ecosystem: 'npm', name: 'p' }, ranges: [{ type: 'SEMVER', events: [{ introduced: '0' }, { fixed: '2.0.0' }] }] }])]]),
    );
    assert.deepEqual(db.match([pkg('npm', 'p', 'not-a-version')]), []);
  });
});

describe('severity', () => {
  it('computes CVSS base scores (v3.1, v3.0, v4.0, v2) as FIRST and NVD publish them', () => {
    const vectors: [string, string, number][] = [
      ['CVSS_V3', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H', 9.8], // network, no privileges, full impact
      ['CVSS_V3', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H', 10.0], // CVE-2021-44228
      ['CVSS_V3', 'CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N', 5.9], // the same with high attack complexity
      ['CVSS_V3', 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N', 7.5], // CVE-2014-0160
      ['CVSS_V3', 'CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H', 7.8], // CVE-2021-4034 (pwnkit)
      ['CVSS_V3', 'CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N', 5.4], // a typical stored XSS
      ['CVSS_V3', 'CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H', 7.5],
      ['CVSS_V4', 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N', 9.3],
      ['CVSS_V2', 'AV:N/AC:L/Au:N/C:P/I:P/A:P', 7.5],
    ];
    for (const [type, v, score] of vectors) assert.equal(cvssBaseScore(type, v), score, v);
    assert.equal(cvssBaseScore('CVSS_V3', 'not a vector'), null);
  });

  it('prefers a v3 vector, then v4, then v2, then a database word, else unknown', () => {
    const v3 = { type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N' }; // 3.1
    const v4 = { type: 'CVSS_V4', score: 'CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N' }; // 9.3
    assert.deepEqual(severityOf([v4, v3], ['CRITICAL']), { severity: 'low', score: 3.1 });
    assert.deepEqual(severityOf([v4], ['LOW']), { severity: 'critical', score: 9.3 });
    assert.deepEqual(severityOf([{ type: 'CVSS_V2', score: 'AV:N/AC:L/Au:N/C:C/I:C/A:C' }], []), { severity: 'high', score: 10 });
    assert.deepEqual(severityOf([], [undefined, 'MODERATE']), { severity: 'medium' });
    assert.deepEqual(severityOf([{ type: 'Ubuntu', score: 'negligible' }], []), { severity: 'low' });
    assert.deepEqual(severityOf([{ type: 'CVSS_V3', score: 'garbage' }], []), { severity: 'unknown' });
  });
});
