// http.trustproxy as the deployment files set it: the ingress/pod network's CIDRs, never `true`.
// Trusting every peer lets any client name its own address in X-Forwarded-For, past the
// per-address login limit and the network rules.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { api, closeApp, expectError, removeDir, startServer, type TestServer } from '../helpers/api-server.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'berth-trustproxy-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function fromYaml(text: string) {
  const file = path.join(tmp, `${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(file, text);
  return loadConfig({ file, env: {} });
}

describe('http.trustproxy', () => {
  it('takes a YAML list or a comma-separated string of CIDRs and addresses', () => {
    assert.equal(
      fromYaml('http:\n  trustproxy: [10.244.0.0/16, "fd00:10:244::/56", 192.168.1.7]\n').http.trustproxy,
      '10.244.0.0/16,fd00:10:244::/56,192.168.1.7',
    );
    assert.equal(loadConfig({ env: { REGISTRY_HTTP_TRUSTPROXY: '10.42.0.0/16, loopback' } }).http.trustproxy, '10.42.0.0/16,loopback');
    assert.equal(loadConfig({ env: { REGISTRY_HTTP_TRUSTPROXY: 'true' } }).http.trustproxy, 'true');
    assert.equal(fromYaml('http:\n  trustproxy: false\n').http.trustproxy, '');
  });

  it('refuses an entry that is not an address or CIDR, naming the key, instead of failing later with a stack', () => {
    for (const bad of ['10.244.0.0/33', 'ingress-nginx', '10.244.1.0/16']) {
      assert.throws(
        () => loadConfig({ env: { REGISTRY_HTTP_TRUSTPROXY: `127.0.0.1,${bad}` } }),
        (err: unknown) =>
          err instanceof ConfigError &&
          /^http\.trustproxy: .*expected true or the proxies' addresses\/CIDRs \(from REGISTRY_HTTP_TRUSTPROXY\)$/.test(err.message),
        bad,
      );
    }
  });

  describe('a client spoofing X-Forwarded-For', () => {
    // Connections come from 127.0.0.1, which is denied: the only way in would be a forged address.
    const deny = { network: { pull: { deny: ['127.0.0.1'] } } };
    const servers: TestServer[] = [];
    after(async () => {
      for (const s of servers) {
        await closeApp(s.app);
        removeDir(s.dir);
      }
    });
    const start = async (trustproxy: string) => {
      const s = await startServer({ config: { http: { trustproxy }, ...deny } });
      servers.push(s);
      return s;
    };

    it('gets nowhere when only the ingress network is trusted', async () => {
      const s = await start('10.244.0.0/16,fd00:10:244::/56');
      const res = await api(s.url, '/v2/team/app/manifests/v1', { headers: { 'X-Forwarded-For': '198.51.100.1' } });
      const body = await expectError(res, 403, 'DENIED');
      assert.match(body.errors[0].message, /from 127\.0\.0\.1 is denied/);
    });

    it('passes as another address when every peer is trusted (why the manifests never say true)', async () => {
      const s = await start('true');
      const res = await api(s.url, '/v2/team/app/manifests/v1', { headers: { 'X-Forwarded-For': '198.51.100.1' } });
      await expectError(res, 404, 'MANIFEST_UNKNOWN');
    });
  });
});
