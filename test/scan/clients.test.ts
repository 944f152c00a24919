// Blocking at High with real clients: skopeo and docker pull an image whose apk database lists
// versions with a Critical and a High advisory; an enforced namespace policy at High refuses them
// and each client shows the registry's message (the policy, the severity, the count); once both
// advisories are allow-listed the same pulls succeed.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { call, expect } from '../api-v1/helpers.js';
import { Docker, Skopeo, type RunResult } from '../helpers/clients.js';
import { removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';
import { ADMIN, OSV, VULNERABLE, pushApkImage, reportWhen, scanningConfig, writeAdvisories } from './helpers.js';

const shown = (r: RunResult) => `${r.stderr}\n${r.stdout}`.replace(/time="[^"]*" /g, '').trim();

function assertRefused(r: RunResult, client: string): void {
  const text = shown(r);
  assert.notEqual(r.code, 0, `${client} pull must fail:\n${text}`);
  console.log(`${client} printed: ${text.split('\n').find((l) => /denied|refused/i.test(l)) ?? text}`);
  assert.match(text, /denied/i, `${client} shows DENIED`);
  assert.match(
    text,
    /refused by the vulnerability policy of namespace admin: 2 vulnerabilities of severity High or higher/,
    `${client} shows the policy's message`,
  );
}

describe('real clients and the vulnerability policy', () => {
  let s: TestServer;
  let advisories: string;
  let work: string;
  let host: string;
  before(async () => {
    advisories = tempDir('berth-osv-');
    work = tempDir('berth-scan-clients-');
    writeAdvisories(advisories, [OSV.critical, OSV.high, OSV.medium]);
    s = await startServer({ config: scanningConfig(advisories, { scanning: { onpush: true } }) });
    host = new URL(s.url).host;
    const img = await pushApkImage(s, 'admin/blocked', 'v1', VULNERABLE);
    await reportWhen(s, 'admin/blocked', img.digest);
    expect(await call(s, 'PUT', '/namespaces/admin/vulnerability-policy', ADMIN, { severity: 'high', mode: 'enforce' }), 200);
  });
  after(async () => {
    await s?.close();
    if (s) removeDir(s.dir);
    removeDir(advisories);
    removeDir(work);
  });

  test('skopeo: refused with the message; served once the advisories are allow-listed', { timeout: 120_000 }, async () => {
    const skopeo = new Skopeo('scan-skopeo');
    const copy = (dest: string) => [
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      '--src-creds',
      `${ADMIN.user}:${ADMIN.password}`,
      `docker://${host}/admin/blocked:v1`,
      `oci:${path.join(work, dest)}:v1`,
    ];
    assertRefused(await skopeo.runMayFail(copy('refused')), 'skopeo');
    expect(
      await call(s, 'PUT', '/namespaces/admin/vulnerability-policy', ADMIN, {
        severity: 'high',
        mode: 'enforce',
        allowlist: ['CVE-2099-0001', 'CVE-2099-0002'],
      }),
      200,
    );
    try {
      const ok = await skopeo.runMayFail(copy('allowed'));
      assert.equal(ok.code, 0, shown(ok));
    } finally {
      expect(await call(s, 'PUT', '/namespaces/admin/vulnerability-policy', ADMIN, { severity: 'high', mode: 'enforce' }), 200);
    }
  });

  test('docker: refused with the message; served once the advisories are allow-listed', { timeout: 180_000 }, async () => {
    const docker = await Docker.create('scan-docker');
    const login = await docker.run(['login', '--username', ADMIN.user, '--password-stdin', host], { input: `${ADMIN.password}\n` });
    assert.match(shown(login), /Login Succeeded/i);
    const ref = `${host}/admin/blocked:v1`;
    await docker.removeImage(ref);
    assertRefused(await docker.runMayFail(['pull', ref]), 'docker');
    expect(
      await call(s, 'PUT', '/namespaces/admin/vulnerability-policy', ADMIN, {
        severity: 'high',
        mode: 'enforce',
        allowlist: ['BERTH-TEST-0001', 'BERTH-TEST-0002'],
      }),
      200,
    );
    const ok = await docker.runMayFail(['pull', ref]);
    assert.equal(ok.code, 0, shown(ok));
    await docker.removeImage(ref);
  });
});
