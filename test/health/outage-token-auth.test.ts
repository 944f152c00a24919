// The database-outage cache under token auth (docs/operations.md): a pull this replica served is
// answered during a PostgreSQL outage only to a caller whose registry token grants it (checked
// without the database, as before the outage); a token for another repository and no token are
// refused as always; /token and the REST API answer 503 + Retry-After in their own vocabularies.
// PostgreSQL is the test's own cluster (test/health/private-postgres.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { digestOf, removeDir, startServer, type TestServer } from '../helpers/api-server.js';
import { sleep } from '../helpers/shared.js';
import { TOKEN_AUTH, TokenClient } from '../helpers/token-client.js';
import { startPrivatePostgres, type PrivatePostgres } from './private-postgres.js';

const ADMIN = { user: 'admin', password: TOKEN_AUTH.auth.accounts.adminpassword };

describe('outage cache and registry tokens', () => {
  let pg: PrivatePostgres;
  let s: TestServer;
  before(async () => {
    pg = await startPrivatePostgres();
    s = await startServer({ config: { ...TOKEN_AUTH, metadata: { postgres: { url: pg.url, poolsize: 4 } } } });
  });
  after(async () => {
    await s?.close().catch(() => {});
    if (s) removeDir(s.dir);
    pg?.dispose();
  });

  it('serves a cached pull to a token that grants it, and to nobody else', { timeout: 120_000 }, async () => {
    const admin = new TokenClient(s.url, ADMIN);
    const image = await admin.pushImage('admin/app', 'v1');
    const pull = await admin.tokenFor(['repository:admin/app:pull']);
    const other = await admin.tokenFor(['repository:admin/other:pull']);
    const get = (path: string, token?: string) =>
      fetch(`${s.url}${path}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json', ...(token ? { Authorization: `Bearer ${token}` } : {}) } });
    // Served once, normally.
    assert.equal((await get('/v2/admin/app/manifests/v1', pull)).status, 200);
    assert.equal((await get(`/v2/admin/app/blobs/${image.layer}`, pull)).status, 200);

    pg.stop();
    try {
      const m = await get('/v2/admin/app/manifests/v1', pull);
      assert.equal(m.status, 200, await m.clone().text());
      assert.equal(m.headers.get('docker-content-digest'), image.manifest);
      assert.equal(digestOf(Buffer.from(await m.arrayBuffer())), image.manifest);
      const b = await get(`/v2/admin/app/blobs/${image.layer}`, pull);
      assert.equal(b.status, 200);
      await b.arrayBuffer();
      // Not granted by the token, or no token: refused exactly as before the outage.
      const wrong = await get('/v2/admin/app/manifests/v1', other);
      assert.equal(wrong.status, 401);
      assert.match(wrong.headers.get('www-authenticate') ?? '', /insufficient_scope/);
      assert.equal((await get('/v2/admin/app/manifests/v1')).status, 401);
      assert.equal((await get(`/v2/admin/app/blobs/${image.layer}`, other)).status, 401);
      // New tokens need the database: 503 with Retry-After, OCI vocabulary on /token, REST on /api.
      const basic = `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`;
      const t = await fetch(`${s.url}/token?service=berth&scope=repository:admin/app:pull`, { headers: { Authorization: basic } });
      assert.equal(t.status, 503);
      assert.equal(t.headers.get('retry-after'), '5');
      const apiRes = await fetch(`${s.url}/api/v1/repositories`, { headers: { Authorization: basic } });
      assert.equal(apiRes.status, 503);
      assert.equal(apiRes.headers.get('retry-after'), '5');
      assert.equal((await apiRes.json()).errors[0].code, 'UNAVAILABLE');
    } finally {
      pg.start();
    }
    const back = Date.now();
    while ((await fetch(`${s.url}/readyz`)).status !== 200) {
      assert.ok(Date.now() - back < 20_000, 'ready again within 20 s');
      await sleep(200);
    }
    await admin.pushImage('admin/after', 'v1');
  });
});
