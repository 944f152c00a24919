// /healthz for load balancers, and http.trustproxy: behind a proxy, Location URLs
// follow X-Forwarded-Proto/Host only when the proxy is trusted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { removeDir, startServer, type TestServer } from '../helpers/api-server.js';

describe('health and proxies', () => {
  let plain: TestServer;
  let proxied: TestServer;
  before(async () => {
    plain = await startServer();
    proxied = await startServer({ config: { http: { trustproxy: '127.0.0.1' } } });
  });
  after(async () => {
    for (const s of [plain, proxied]) {
      await s.close();
      removeDir(s.dir);
    }
  });

  it('GET /healthz answers 200 JSON', async () => {
    const res = await fetch(`${plain.url}/healthz`);
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.status, 'ok');
    assert.deepEqual([body.checks.database.status, body.checks.storage.status], ['ok', 'ok']);
  });

  const forwarded = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'registry.example.com' };

  it('a trusted proxy decides the scheme and host of Location URLs', async () => {
    const res = await fetch(`${proxied.url}/v2/a/b/blobs/uploads/`, { method: 'POST', headers: forwarded });
    assert.equal(res.status, 202);
    assert.match(res.headers.get('location') ?? '', /^https:\/\/registry\.example\.com\/v2\/a\/b\/blobs\/uploads\//);
  });

  it('without trustproxy, X-Forwarded-* are ignored', async () => {
    const res = await fetch(`${plain.url}/v2/a/b/blobs/uploads/`, { method: 'POST', headers: forwarded });
    assert.equal(res.status, 202);
    assert.ok((res.headers.get('location') ?? '').startsWith(plain.url), res.headers.get('location') ?? '');
  });
});
