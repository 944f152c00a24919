// A scan on demand: the report of an image built with an apk database of vulnerable versions has
// the expected counts and findings, its SBOM is a referrer of the image and downloads through the
// API, tag listings carry the counts, and who may see or ask what follows the repository's rules;
// the analyser's fixture images (dpkg, apk, rpm, npm, Python, Go) against its OSV fixture report
// exactly what scan-images.ts EXPECTED says; the routes are in the OpenAPI document.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addUser, call, expect, registryToken } from '../api-v1/helpers.js';
import { MT, removeDir, tempDir, type TestServer } from '../helpers/api-server.js';
import { EXPECTED, OSV_FIXTURE_DIR, alpineImage, debianImage, pushFixtureImage, rhelImage } from '../helpers/scan-images.js';
import { ADMIN, CLEAN, OSV, VULNERABLE, pushApkImage, reportWhen, startScanning, writeAdvisories } from './helpers.js';

describe('scanning: reports on demand', () => {
  let s: TestServer;
  let advisories: string;
  before(async () => {
    advisories = tempDir('berth-osv-');
    writeAdvisories(advisories, [OSV.critical, OSV.high, OSV.medium, OSV.fixedBefore]);
    s = await startScanning(advisories);
  });
  after(async () => {
    await s?.close();
    if (s) removeDir(s.dir);
    removeDir(advisories);
  });

  test('an image is unscanned until asked; POST …/scan answers 202 and the report has the expected counts', async () => {
    const img = await pushApkImage(s, 'admin/app', 'v1', VULNERABLE);
    const before = expect(await call(s, 'GET', `/repositories/admin/app/manifests/${img.digest}/vulnerabilities`, ADMIN), 200).body;
    assert.equal(before.status, 'unscanned');
    assert.deepEqual(before.counts, { critical: 0, high: 0, medium: 0, low: 0, unknown: 0 });

    const accepted = expect(await call(s, 'POST', `/repositories/admin/app/manifests/${img.digest}/scan`, ADMIN), 202).body;
    assert.deepEqual(accepted, { repository: 'admin/app', digest: img.digest, status: 'pending' });
    const r = await reportWhen(s, 'admin/app', img.digest);
    assert.equal(r.status, 'scanned', JSON.stringify(r));
    assert.deepEqual(r.counts, { critical: 1, high: 1, medium: 1, low: 0, unknown: 0 });
    assert.deepEqual(
      r.findings.map((f: { id: string; package: string; installed: string; severity: string }) => [f.id, f.package, f.installed, f.severity]),
      [
        ['BERTH-TEST-0001', 'openssl', '3.0.1-r0', 'critical'],
        ['BERTH-TEST-0002', 'openssl', '3.0.1-r0', 'high'],
        ['BERTH-TEST-0003', 'busybox', '1.35.0-r17', 'medium'],
      ],
    );
    assert.equal(r.findings[0].fixed, '3.0.7-r0');
    assert.deepEqual(r.findings[0].aliases, ['CVE-2099-0001']);
    assert.equal(r.scanner.name, 'berth');
    assert.match(r.advisoryVersion, /\S/);
    assert.ok(r.scannedAt > 0);
    assert.equal(r.packages, 3);
    assert.equal(r.policy, null);
  });

  test('the SBOM is a referrer of the image (artifactType application/vnd.cyclonedx+json) and downloads through the API', async () => {
    const img = await pushApkImage(s, 'admin/sbom', 'v1', VULNERABLE);
    expect(await call(s, 'POST', `/repositories/admin/sbom/manifests/${img.digest}/scan`, ADMIN), 202);
    const r = await reportWhen(s, 'admin/sbom', img.digest);
    assert.match(r.sbom ?? '', /^sha256:/);

    const token = await registryToken(s, ADMIN, ['repository:admin/sbom:pull']);
    const auth = { authorization: `Bearer ${token}` };
    const refs = await fetch(`${s.url}/v2/admin/sbom/referrers/${img.digest}?artifactType=${encodeURIComponent('application/vnd.cyclonedx+json')}`, {
      headers: auth,
    });
    assert.equal(refs.status, 200);
    const index = (await refs.json()) as { manifests: { digest: string; artifactType: string }[] };
    assert.deepEqual(
      index.manifests.map((m) => [m.digest, m.artifactType]),
      [[r.sbom, 'application/vnd.cyclonedx+json']],
    );
    const m = await fetch(`${s.url}/v2/admin/sbom/manifests/${r.sbom}`, { headers: { ...auth, accept: MT.ociManifest } });
    assert.equal(m.status, 200);
    const doc = (await m.json()) as { subject: { digest: string }; layers: { digest: string; mediaType: string }[] };
    assert.equal(doc.subject.digest, img.digest);

    const dl = await fetch(`${s.url}/api/v1/repositories/admin/sbom/manifests/${img.digest}/sbom`, {
      headers: { authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}` },
    });
    assert.equal(dl.status, 200);
    assert.equal(dl.headers.get('content-type'), 'application/vnd.cyclonedx+json');
    assert.equal(dl.headers.get('docker-content-digest'), doc.layers[0].digest);
    const bom = (await dl.json()) as { bomFormat: string; components: { name: string; version: string }[] };
    assert.equal(bom.bomFormat, 'CycloneDX');
    assert.deepEqual(bom.components.map((c) => `${c.name}@${c.version}`).sort(), ['busybox@1.35.0-r17', 'openssl@3.0.1-r0', 'zlib@1.2.12-r3']);

    // A second scan does not push a second SBOM.
    expect(await call(s, 'POST', `/repositories/admin/sbom/manifests/${img.digest}/scan`, ADMIN), 202);
    await reportWhen(s, 'admin/sbom', img.digest, (x) => x.status === 'scanned' && x.queued === false);
    const again = (await (await fetch(`${s.url}/v2/admin/sbom/referrers/${img.digest}`, { headers: auth })).json()) as { manifests: unknown[] };
    assert.equal(again.manifests.length, 1);
  });

  test('an index: its report holds its images’ findings together; the tag listing carries status and counts', async () => {
    const a = await pushApkImage(s, 'admin/multi', 'amd64', VULNERABLE);
    const b = await pushApkImage(s, 'admin/multi', 'arm64', { ...CLEAN, busybox: '1.35.0-r17' });
    const token = await registryToken(s, ADMIN, ['repository:admin/multi:pull,push']);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociIndex,
        manifests: [
          { mediaType: MT.ociManifest, digest: a.digest, size: a.size, platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: MT.ociManifest, digest: b.digest, size: b.size, platform: { os: 'linux', architecture: 'arm64' } },
        ],
      }),
    );
    const put = await fetch(`${s.url}/v2/admin/multi/manifests/latest`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': MT.ociIndex },
      body: index as unknown as BodyInit,
    });
    assert.equal(put.status, 201);
    const digest = put.headers.get('docker-content-digest')!;
    expect(await call(s, 'POST', `/repositories/admin/multi/manifests/${digest}/scan`, ADMIN), 202);
    const r = await reportWhen(s, 'admin/multi', digest);
    assert.equal(r.status, 'scanned');
    // busybox 1.35.0-r17 is in both images: one finding.
    assert.deepEqual(r.counts, { critical: 1, high: 1, medium: 1, low: 0, unknown: 0 });

    const tags = await fetch(`${s.url}/ui/api/tags?repository=admin/multi`, {
      headers: { authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}` },
    });
    assert.equal(tags.status, 200);
    const listed = (await tags.json()) as { tags: { name: string; vulnerabilities: unknown }[] };
    const byName = Object.fromEntries(listed.tags.map((t) => [t.name, t.vulnerabilities]));
    assert.deepEqual(byName.latest, { status: 'scanned', critical: 1, high: 1, medium: 1, low: 0, unknown: 0 });
    assert.deepEqual(byName.amd64, { status: 'scanned', critical: 1, high: 1, medium: 1, low: 0, unknown: 0 });
    assert.deepEqual(byName.arm64, { status: 'scanned', critical: 0, high: 0, medium: 1, low: 0, unknown: 0 });
  });

  test('who may: a private repository’s report is a 404 to others; a scan on demand needs push', async () => {
    const img = await pushApkImage(s, 'admin/private', 'v1', CLEAN);
    const eve = await addUser(s, 'eve');
    expect(await call(s, 'GET', `/repositories/admin/private/manifests/${img.digest}/vulnerabilities`, eve), 404, 'NOT_FOUND');
    expect(await call(s, 'GET', `/repositories/admin/private/manifests/${img.digest}/vulnerabilities`, null), 404, 'NOT_FOUND');
    expect(await call(s, 'POST', `/repositories/admin/private/manifests/${img.digest}/scan`, eve), 404, 'NOT_FOUND');
    // Public: anyone reads the report, only pushers ask for a scan.
    expect(await call(s, 'PATCH', '/repositories/admin/private', ADMIN, { visibility: 'public' }), 200);
    expect(await call(s, 'GET', `/repositories/admin/private/manifests/${img.digest}/vulnerabilities`, null), 200);
    expect(await call(s, 'POST', `/repositories/admin/private/manifests/${img.digest}/scan`, eve), 403, 'DENIED');
    expect(await call(s, 'POST', `/repositories/admin/private/manifests/${img.digest}/scan`, null), 401, 'UNAUTHORIZED');
    // A digest the repository does not hold, and one that is no digest.
    expect(await call(s, 'GET', `/repositories/admin/private/manifests/sha256:${'0'.repeat(64)}/vulnerabilities`, ADMIN), 404, 'NOT_FOUND');
    expect(await call(s, 'GET', '/repositories/admin/private/manifests/sha256:xyz/vulnerabilities', ADMIN), 400, 'INVALID');
  });
});

describe('scanning: the fixture images against the OSV fixture', () => {
  let s: TestServer;
  before(async () => {
    s = await startScanning(OSV_FIXTURE_DIR);
  });
  after(async () => {
    await s?.close();
    if (s) removeDir(s.dir);
  });

  for (const name of ['debian', 'alpine', 'rhel'] as const) {
    test(`${name}: the report has the expected counts and findings`, async () => {
      const image = await { debian: debianImage, alpine: alpineImage, rhel: rhelImage }[name]();
      const token = await registryToken(s, ADMIN, [`repository:admin/${name}:pull,push`]);
      const pushed = await pushFixtureImage(s.url, `admin/${name}`, 'v1', image, { authorization: `Bearer ${token}` });
      expect(await call(s, 'POST', `/repositories/admin/${name}/manifests/${pushed.digest}/scan`, ADMIN), 202);
      const r = await reportWhen(s, `admin/${name}`, pushed.digest);
      assert.equal(r.status, 'scanned', JSON.stringify(r).slice(0, 500));
      assert.deepEqual(r.counts, EXPECTED[name].counts);
      assert.deepEqual(r.findings.map((f: { id: string; package: string }) => `${f.id} ${f.package}`).sort(), [...EXPECTED[name].findings].sort());
      assert.equal(r.packages, EXPECTED[name].packages.length);
      assert.match(r.os, new RegExp(`^${EXPECTED[name].os.id}`));
    });
  }

  test('the OpenAPI document describes the scanning routes', async () => {
    const doc = expect(await call(s, 'GET', '/openapi.json', null), 200).body;
    const ops = Object.entries<Record<string, { summary?: string; parameters?: { name: string; in: string }[] }>>(doc.paths).flatMap(([p, item]) =>
      Object.entries(item).map(([m, op]) => ({ key: `${m.toUpperCase()} ${p.replace(/^\/api\/v1/, '')}`, op })),
    );
    const scanOps = ops.filter((o) => /vulnerabilit|sbom|\/scan$/.test(o.key));
    assert.deepEqual(scanOps.map((o) => o.key).sort(), [
      'DELETE /namespaces/{ns}/vulnerability-policy',
      'GET /namespaces/{ns}/vulnerability-policy',
      'GET /repositories/{name}/manifests/{digest}/sbom',
      'GET /repositories/{name}/manifests/{digest}/vulnerabilities',
      'POST /repositories/{name}/manifests/{digest}/scan',
      'PUT /namespaces/{ns}/vulnerability-policy',
    ]);
    for (const { key, op } of scanOps) {
      assert.ok(op.summary, `${key}: summary`);
      for (const name of key.match(/\{(\w+)\}/g) ?? [])
        assert.ok(
          op.parameters?.some((p) => p.in === 'path' && `{${p.name}}` === name),
          `${key}: ${name}`,
        );
    }
  });
});
