// Vulnerability policies and the pull check: an enforced namespace policy refuses pulls of images
// with findings at or above its severity (403 DENIED naming the policy, the severity and the
// count), not counting its allow-list; audit lets them through; an image without a report is
// refused under enforce (unscanned: deny, the default) and a scan is queued; referrers are always
// served; the policy is managed by the namespace's administrators; the global policy from the
// configuration applies without one, and a namespace policy may only tighten it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addUser, call, expect, registryToken } from '../api-v1/helpers.js';
import { MT, removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';
import { ADMIN, CLEAN, OSV, VULNERABLE, pushApkImage, reportWhen, scanningConfig, scanningOf, writeAdvisories } from './helpers.js';

const ACCEPT = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

async function pull(s: TestServer, repo: string, ref: string, method: 'GET' | 'HEAD' = 'GET'): Promise<{ status: number; text: string }> {
  const token = await registryToken(s, ADMIN, [`repository:${repo}:pull`]);
  const res = await fetch(`${s.url}/v2/${repo}/manifests/${ref}`, { method, headers: { authorization: `Bearer ${token}`, accept: ACCEPT } });
  return { status: res.status, text: await res.text() };
}

function denied(r: { status: number; text: string }): string {
  assert.equal(r.status, 403, r.text);
  const body = JSON.parse(r.text) as { errors: { code: string; message: string }[] };
  assert.equal(body.errors[0].code, 'DENIED');
  return body.errors[0].message;
}

describe('vulnerability policies', () => {
  let s: TestServer;
  let advisories: string;
  before(async () => {
    advisories = tempDir('berth-osv-');
    writeAdvisories(advisories, [OSV.critical, OSV.high, OSV.medium, OSV.fixedBefore]);
    s = await startServer({ config: scanningConfig(advisories, { scanning: { onpush: true } }) });
  });
  after(async () => {
    await s?.close();
    if (s) removeDir(s.dir);
    removeDir(advisories);
  });

  test('enforce at High refuses the vulnerable image naming the policy, severity and count; the allow-list lets it through', async () => {
    const img = await pushApkImage(s, 'admin/web', 'v1', VULNERABLE);
    await reportWhen(s, 'admin/web', img.digest);
    assert.equal((await pull(s, 'admin/web', 'v1')).status, 200, 'no policy: served');

    const set = expect(await call(s, 'PUT', '/namespaces/admin/vulnerability-policy', ADMIN, { severity: 'high', mode: 'enforce' }), 200).body;
    assert.deepEqual(
      { ...set.namespace, updatedAt: 0 },
      { scope: 'admin', mode: 'enforce', severity: 'high', allowlist: [], unscanned: 'deny', updatedBy: 'admin', updatedAt: 0 },
    );
    assert.equal(set.global, null);
    const message = denied(await pull(s, 'admin/web', 'v1'));
    assert.match(message, /vulnerability policy of namespace admin/);
    assert.match(message, /2 vulnerabilities of severity High or higher/);
    assert.match(message, /BERTH-TEST-0001/);
    denied(await pull(s, 'admin/web', img.digest));
    assert.equal((await pull(s, 'admin/web', 'v1', 'HEAD')).status, 403, 'HEAD is refused too');

    const report = expect(await call(s, 'GET', `/repositories/admin/web/manifests/${img.digest}/vulnerabilities`, ADMIN), 200).body;
    assert.equal(report.policy.violations, 2);
    assert.equal(report.policy.passes, false);

    // Allow-listing one advisory (by id) leaves one; the other by its CVE alias, and the image is served.
    expect(await call(s, 'PUT', '/namespaces/admin/vulnerability-policy', ADMIN, { severity: 'high', mode: 'enforce', allowlist: ['BERTH-TEST-0001'] }), 200);
    assert.match(denied(await pull(s, 'admin/web', 'v1')), /1 vulnerability of severity High or higher \(BERTH-TEST-0002\)/);
    expect(
      await call(s, 'PUT', '/namespaces/admin/vulnerability-policy', ADMIN, {
        severity: 'high',
        mode: 'enforce',
        allowlist: ['BERTH-TEST-0001', 'cve-2099-0002'],
      }),
      200,
    );
    assert.equal((await pull(s, 'admin/web', 'v1')).status, 200);
    const passing = expect(await call(s, 'GET', `/repositories/admin/web/manifests/${img.digest}/vulnerabilities`, ADMIN), 200).body;
    assert.deepEqual(
      passing.findings.map((f: { id: string; allowListed: boolean }) => [f.id, f.allowListed]),
      [
        ['BERTH-TEST-0001', true],
        ['BERTH-TEST-0002', true],
        ['BERTH-TEST-0003', false],
      ],
    );
    assert.equal(passing.policy.passes, true);

    // At Medium, busybox's Medium counts.
    expect(
      await call(s, 'PUT', '/namespaces/admin/vulnerability-policy', ADMIN, {
        severity: 'medium',
        mode: 'enforce',
        allowlist: ['BERTH-TEST-0001', 'CVE-2099-0002'],
      }),
      200,
    );
    assert.match(denied(await pull(s, 'admin/web', 'v1')), /1 vulnerability of severity Medium or higher \(BERTH-TEST-0003\)/);

    // Audit: served (and logged).
    expect(await call(s, 'PUT', '/namespaces/admin/vulnerability-policy', ADMIN, { severity: 'low', mode: 'audit' }), 200);
    assert.equal((await pull(s, 'admin/web', 'v1')).status, 200);
    expect(await call(s, 'DELETE', '/namespaces/admin/vulnerability-policy', ADMIN), 204);
    expect(await call(s, 'DELETE', '/namespaces/admin/vulnerability-policy', ADMIN), 404, 'NOT_FOUND');
  });

  test('the SBOM referrer of a refused image is still served', async () => {
    const img = await pushApkImage(s, 'admin/refs', 'v1', VULNERABLE);
    const r = await reportWhen(s, 'admin/refs', img.digest);
    assert.ok(r.sbom);
    expect(await call(s, 'PUT', '/namespaces/admin/vulnerability-policy', ADMIN, { severity: 'high', mode: 'enforce' }), 200);
    denied(await pull(s, 'admin/refs', 'v1'));
    assert.equal((await pull(s, 'admin/refs', r.sbom)).status, 200);
    expect(await call(s, 'DELETE', '/namespaces/admin/vulnerability-policy', ADMIN), 204);
  });

  test('an image without a report is refused under enforce (unscanned: deny) until its scan is done; unscanned: allow serves it', async () => {
    expect(await call(s, 'PUT', '/namespaces/admin/vulnerability-policy', ADMIN, { severity: 'high', mode: 'enforce', unscanned: 'allow' }), 200);
    // Scanned on push: clean, served.
    const clean = await pushApkImage(s, 'admin/fresh', 'v1', CLEAN);
    const pulled = await pull(s, 'admin/fresh', 'v1');
    assert.equal(pulled.status, 200, 'unscanned: allow serves it whether or not its scan is done');
    await reportWhen(s, 'admin/fresh', clean.digest);

    expect(await call(s, 'PUT', '/namespaces/admin/vulnerability-policy', ADMIN, { severity: 'high', mode: 'enforce' }), 200);
    // Forget the report: the image is unscanned again.
    await scanningOf(s).store.meta.db.deleteFrom('scan_reports').where('digest', '=', clean.digest).execute();
    const message = denied(await pull(s, 'admin/fresh', 'v1'));
    assert.match(message, /vulnerability policy of namespace admin: (it has not been scanned; a scan is queued|its scan has not finished yet)/);
    // The refusal queued a scan; once it is done the image is served.
    await reportWhen(s, 'admin/fresh', clean.digest);
    assert.equal((await pull(s, 'admin/fresh', 'v1')).status, 200);
    expect(await call(s, 'DELETE', '/namespaces/admin/vulnerability-policy', ADMIN), 204);
  });

  test("a namespace's policy is its administrators' to set; members read it; others see nothing", async () => {
    const bob = await addUser(s, 'bob');
    const eve = await addUser(s, 'eve');
    expect(await call(s, 'POST', '/orgs', bob, { name: 'acme' }), 201);
    expect(await call(s, 'PUT', '/orgs/acme/members/eve', bob, { role: 'member' }), 200);
    expect(await call(s, 'PUT', '/namespaces/acme/vulnerability-policy', bob, { severity: 'critical', mode: 'enforce', allowlist: ['CVE-1'] }), 200);
    const seen = expect(await call(s, 'GET', '/namespaces/acme/vulnerability-policy', eve), 200).body;
    assert.equal(seen.effective.severity, 'critical');
    expect(await call(s, 'PUT', '/namespaces/acme/vulnerability-policy', eve, { severity: 'low', mode: 'audit' }), 403, 'DENIED');
    expect(await call(s, 'DELETE', '/namespaces/acme/vulnerability-policy', eve), 403, 'DENIED');
    expect(await call(s, 'GET', '/namespaces/bob/vulnerability-policy', eve), 404, 'NOT_FOUND');
    expect(await call(s, 'GET', '/namespaces/acme/vulnerability-policy', null), 401, 'UNAUTHORIZED');
    expect(await call(s, 'PUT', '/namespaces/acme/vulnerability-policy', bob, { severity: 'severe', mode: 'enforce' }), 400, 'INVALID');
    expect(await call(s, 'PUT', '/namespaces/acme/vulnerability-policy', bob, { severity: 'high' }), 400, 'INVALID');
  });
});

describe('the global vulnerability policy from the configuration', () => {
  let s: TestServer;
  let advisories: string;
  before(async () => {
    advisories = tempDir('berth-osv-');
    writeAdvisories(advisories, [OSV.critical, OSV.high, OSV.medium]);
    s = await startServer({
      config: scanningConfig(advisories, { scanning: { onpush: true, policy: { mode: 'enforce', severity: 'critical', allowlist: ['CVE-2099-0003'] } } }),
    });
  });
  after(async () => {
    await s?.close();
    if (s) removeDir(s.dir);
    removeDir(advisories);
  });

  test('applies to every namespace; a namespace policy tightens it but cannot loosen it, and adds to its allow-list', async () => {
    const img = await pushApkImage(s, 'admin/svc', 'v1', VULNERABLE);
    await reportWhen(s, 'admin/svc', img.digest);
    assert.match(
      denied(await pull(s, 'admin/svc', 'v1')),
      /refused by the global vulnerability policy: 1 vulnerability of severity Critical or higher \(BERTH-TEST-0001\)/,
    );

    // Audit at Low in the namespace: the global enforce and the stricter severity (Low) combine.
    const state = expect(
      await call(s, 'PUT', '/namespaces/admin/vulnerability-policy', ADMIN, { severity: 'low', mode: 'audit', allowlist: ['BERTH-TEST-0001'] }),
      200,
    ).body;
    assert.deepEqual(
      { mode: state.effective.mode, severity: state.effective.severity, allowlist: state.effective.allowlist },
      { mode: 'enforce', severity: 'low', allowlist: ['CVE-2099-0003', 'BERTH-TEST-0001'] },
    );
    assert.equal(state.global.scope, '*');
    assert.match(denied(await pull(s, 'admin/svc', 'v1')), /namespace admin: 1 vulnerability of severity Low or higher \(BERTH-TEST-0002\)/);
  });
});
