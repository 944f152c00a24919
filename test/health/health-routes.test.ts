// /livez, /readyz and /healthz (docs/operations.md): liveness is the process alone; readiness
// is the database and storage each answering within 2 s, with a 503 naming the failed check.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FilesystemDriver } from '../../src/storage/filesystem.js';
import { removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';

/** A filesystem driver whose stat can be made to fail or hang. */
class FlakyStorage extends FilesystemDriver {
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  override async stat(key: string): Promise<{ size: number } | null> {
    if (this.mode === 'fail') throw Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:7480'), { code: 'ECONNREFUSED' });
    if (this.mode === 'hang') return new Promise(() => {});
    return super.stat(key);
  }
}

interface Health {
  status?: string;
  checks: Record<string, { status: string; ms: number; reason?: string }>;
}

async function get(url: string, method = 'GET'): Promise<{ status: number; cache: string | null; body: Health }> {
  const res = await fetch(url, { method });
  const text = await res.text();
  return { status: res.status, cache: res.headers.get('cache-control'), body: text ? JSON.parse(text) : { checks: {} } };
}

describe('health endpoints', () => {
  let s: TestServer;
  let storage: FlakyStorage;
  before(async () => {
    const dir = tempDir();
    storage = new FlakyStorage(dir);
    s = await startServer({ dir, exposeMeta: true, parts: { storage } });
  });
  after(async () => {
    await s.close();
    removeDir(s.dir);
  });

  it('/livez answers 200 while the process runs, with no I/O', async () => {
    const r = await get(`${s.url}/livez`);
    assert.equal(r.status, 200);
    assert.equal(r.cache, 'no-store');
    assert.deepEqual(r.body, { status: 'ok' });
    assert.equal((await get(`${s.url}/livez`, 'HEAD')).status, 200);
  });

  it('/readyz and /healthz answer 200 with each check when the database and storage answer', async () => {
    for (const path of ['/readyz', '/healthz']) {
      const r = await get(`${s.url}${path}`);
      assert.equal(r.status, 200, path);
      assert.equal(r.cache, 'no-store', path);
      const checks = r.body.checks;
      assert.equal(r.body.status, 'ok');
      assert.equal(checks.database.status, 'ok');
      assert.equal(checks.storage.status, 'ok');
      assert.equal(typeof checks.database.ms, 'number');
    }
  });

  it('storage that fails: /readyz 503 naming the storage check and its error code, /livez 200', async () => {
    storage.mode = 'fail';
    try {
      const r = await get(`${s.url}/readyz`);
      assert.equal(r.status, 503);
      assert.deepEqual(
        { status: r.body.status, storage: r.body.checks.storage },
        {
          status: 'unavailable',
          storage: { status: 'unavailable', ms: r.body.checks.storage.ms, reason: 'ECONNREFUSED' },
        },
      );
      assert.equal(r.body.checks.database.status, 'ok');
      assert.ok(!JSON.stringify(r.body).includes('10.1.2.3'), 'no addresses from error messages');
      assert.equal((await get(`${s.url}/livez`)).status, 200);
    } finally {
      storage.mode = 'ok';
    }
  });

  it('storage that does not answer: /readyz 503 with reason "timeout" after 2 s, not later', async () => {
    storage.mode = 'hang';
    try {
      const started = Date.now();
      const r = await get(`${s.url}/healthz`);
      const took = Date.now() - started;
      assert.equal(r.status, 503);
      assert.equal(r.body.checks.storage.reason, 'timeout');
      assert.ok(took >= 1900 && took < 4000, `answered after ${took} ms`);
    } finally {
      storage.mode = 'ok';
    }
  });

  it('a database that is gone: /readyz 503 naming the database check; /livez still 200', async () => {
    await s.meta!.close();
    const r = await get(`${s.url}/readyz`);
    assert.equal(r.status, 503);
    const checks = r.body.checks;
    assert.equal(checks.database.status, 'unavailable');
    assert.equal(checks.storage.status, 'ok');
    assert.equal((await get(`${s.url}/healthz`)).status, 503);
    assert.equal((await get(`${s.url}/livez`)).status, 200);
  });
});

describe('health endpoints and network rules', () => {
  let s: TestServer;
  before(async () => {
    // Every surface refused to this host: the probes still answer.
    s = await startServer({
      config: {
        network: {
          pull: { deny: ['0.0.0.0/0', '::/0'] },
          push: { deny: ['0.0.0.0/0', '::/0'] },
          api: { deny: ['0.0.0.0/0', '::/0'] },
          ui: { deny: ['0.0.0.0/0', '::/0'] },
        },
      },
    });
  });
  after(async () => {
    await s.close();
    removeDir(s.dir);
  });

  it('/livez, /readyz and /healthz are never refused', async () => {
    assert.equal((await get(`${s.url}/v2/a/b/manifests/x`)).status, 403, 'the rules refuse this host');
    for (const path of ['/livez', '/readyz', '/healthz']) assert.equal((await get(`${s.url}${path}`)).status, 200, path);
  });
});
