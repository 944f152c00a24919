// The Harbor pluggable scanner adapter contract (API v1.2) end to end: Berth asks the adapter for
// its metadata, sends POST /api/v1/scan with its own URL and a pull-only token for the repository,
// the adapter really pulls the image from Berth with it, Berth polls the report through 302 +
// Refresh-After and stores it; the token pulls nothing else and pushes nothing; the adapter's pulls
// pass an enforced policy that refuses the image to everyone else (and an enforced trust policy the
// image does not meet); a new database re-scans.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { backgroundOf } from '../../src/app.js';
import { call, expect, registryToken } from '../api-v1/helpers.js';
import { HarborAdapter, REPORT_TYPE } from '../helpers/harbor-adapter.js';
import { removeDir, startServer, type TestServer } from '../helpers/api-server.js';
import { ADMIN, CLEAN, VULNERABLE, pushApkImage, reportWhen, scanningConfig } from './helpers.js';

const TRUST_KEY = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

describe('Harbor scanner adapter', () => {
  const adapter = new HarborAdapter({
    'openssl@3.0.1-r0': [
      { id: 'CVE-2099-1001', severity: 'Critical', fix: '3.0.7-r0', score: 9.8 },
      { id: 'CVE-2099-1002', severity: 'High', fix: '3.0.5-r0' },
    ],
    'busybox@1.35.0-r17': [{ id: 'CVE-2099-1003', severity: 'Negligible' }],
  });
  let s: TestServer;
  before(async () => {
    const url = await adapter.start();
    s = await startServer({
      config: scanningConfig('', {
        scanning: { scanner: 'trivy', allow: ['127.0.0.1'], adapters: { trivy: { url, authorization: 'Bearer adapter-secret' } } },
        // Nothing signs admin/app: the adapter must still read it (no content policy applies to its token).
        trust: { policies: { signed: { repository: 'admin/app', mode: 'enforce', keys: { k: TRUST_KEY } } } },
      }),
    });
  });
  after(async () => {
    await s?.close();
    if (s) removeDir(s.dir);
    await adapter.close();
  });

  test('a scan on demand goes through the adapter, which pulls the image with a pull-only token; the report is stored', async () => {
    const img = await pushApkImage(s, 'admin/app', 'v1', VULNERABLE);
    expect(await call(s, 'POST', `/repositories/admin/app/manifests/${img.digest}/scan`, ADMIN), 202);
    const r = await reportWhen(s, 'admin/app', img.digest);
    assert.equal(r.status, 'scanned', JSON.stringify(r));
    assert.deepEqual(r.scanner, { name: 'trivy', version: 'Test Scanner 1.2.3' });
    assert.equal(r.advisoryVersion, '2026-12-01T00:00:00Z');
    assert.deepEqual(r.counts, { critical: 1, high: 1, medium: 0, low: 1, unknown: 0 });
    assert.deepEqual(
      r.findings.map((f: { id: string; package: string; installed: string; fixed: string | null; severity: string; score: number | null }) => [
        f.id,
        f.package,
        f.installed,
        f.fixed,
        f.severity,
        f.score,
      ]),
      [
        ['CVE-2099-1001', 'openssl', '3.0.1-r0', '3.0.7-r0', 'critical', 9.8],
        ['CVE-2099-1002', 'openssl', '3.0.1-r0', '3.0.5-r0', 'high', null],
        ['CVE-2099-1003', 'busybox', '1.35.0-r17', null, 'low', null],
      ],
    );

    const scan = adapter.scans.at(-1)!;
    assert.equal(scan.contentType, 'application/vnd.scanner.adapter.scan.request+json; version=1.1');
    assert.equal(scan.body.registry.url, s.url, 'the adapter is sent the URL Berth listens on');
    assert.deepEqual(scan.body.artifact, { repository: 'admin/app', digest: img.digest, mime_type: 'application/vnd.oci.image.manifest.v1+json' });
    assert.deepEqual(scan.body.enabled_capabilities, [{ type: 'vulnerability', produces_mime_types: [REPORT_TYPE] }]);
    assert.match(scan.body.registry.authorization ?? '', /^Bearer \S+$/);
    assert.deepEqual(scan.pulls, [`GET /v2/admin/app/manifests/${img.digest} 200`, `GET /v2/admin/app/blobs/${img.layer} 200`]);
    assert.ok(scan.polls >= 2, 'the first report poll answered 302 with Refresh-After, and Berth asked again');
    assert.ok(
      adapter.authorizations.every((a) => a === 'Bearer adapter-secret'),
      'every call to the adapter carries its configured Authorization',
    );

    // The token pulls that repository only, and pushes nothing.
    const auth = { authorization: scan.body.registry.authorization! };
    const other = await pushApkImage(s, 'admin/other', 'v1', CLEAN);
    assert.equal((await fetch(`${s.url}/v2/admin/other/manifests/${other.digest}`, { headers: auth })).status, 401);
    assert.equal((await fetch(`${s.url}/v2/admin/app/blobs/uploads/`, { method: 'POST', headers: auth })).status, 401);
  });

  test("the adapter's pulls pass the enforced policy that refuses the image to everyone else; a new database re-scans", async () => {
    const img = await pushApkImage(s, 'admin/locked', 'v1', VULNERABLE);
    expect(await call(s, 'PUT', '/namespaces/admin/vulnerability-policy', ADMIN, { severity: 'high', mode: 'enforce' }), 200);
    const token = await registryToken(s, ADMIN, ['repository:admin/locked:pull']);
    const refused = await fetch(`${s.url}/v2/admin/locked/manifests/v1`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(refused.status, 403, 'unscanned: refused');
    const first = await reportWhen(s, 'admin/locked', img.digest);
    assert.equal(first.status, 'scanned', JSON.stringify(first));
    assert.ok(adapter.scans.at(-1)!.pulls.every((p) => p.endsWith(' 200')));
    const stillRefused = await fetch(`${s.url}/v2/admin/locked/manifests/v1`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(stillRefused.status, 403);
    assert.match(await stillRefused.text(), /2 vulnerabilities of severity High or higher/);

    adapter.refreshAfter = 0;
    adapter.dbUpdatedAt = '2026-12-05T00:00:00Z';
    await backgroundOf(s.app).jobs.runNow('scan-advisories');
    const next = await reportWhen(s, 'admin/locked', img.digest, (r) => r.status === 'scanned' && r.advisoryVersion === '2026-12-05T00:00:00Z');
    assert.ok(next.scannedAt > first.scannedAt);
    expect(await call(s, 'DELETE', '/namespaces/admin/vulnerability-policy', ADMIN), 204);
  });
});
