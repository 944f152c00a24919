// The scan queue: a push queues its scan in its own transaction (the row is there before any scan
// job ran, and the image reads `pending`), artifacts queue nothing, and replicas claim due requests
// with a lease: one claims a row, the other gets nothing until the lease ends or the row is retried.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backgroundOf } from '../../src/app.js';
import { call, expect } from '../api-v1/helpers.js';
import { removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';
import { ADMIN, OSV, VULNERABLE, pushApkImage, reportWhen, scanningConfig, scanningOf, writeAdvisories } from './helpers.js';

describe('the scan queue', () => {
  let s: TestServer;
  let advisories: string;
  before(async () => {
    advisories = tempDir('berth-osv-');
    writeAdvisories(advisories, [OSV.critical, OSV.high, OSV.medium]);
    s = await startServer({ config: scanningConfig(advisories, { scanning: { onpush: true } }) });
    // No background runs: the test runs the jobs itself.
    await backgroundOf(s.app).jobs.stop();
  });
  after(async () => {
    await s?.close();
    if (s) removeDir(s.dir);
    removeDir(advisories);
  });

  test("a push queues its scan in the push's transaction; the image is pending until the scan job runs", async () => {
    const img = await pushApkImage(s, 'admin/queued', 'v1', VULNERABLE);
    const { store } = scanningOf(s);
    const queued = (await store.requests()).filter((r) => r.digest === img.digest);
    assert.deepEqual(
      queued.map((r) => [r.repository, r.reason, r.requestedBy, r.attempts]),
      [['admin/queued', 'push', 'admin', 0]],
    );
    const pending = expect(await call(s, 'GET', `/repositories/admin/queued/manifests/${img.digest}/vulnerabilities`, ADMIN), 200).body;
    assert.equal(pending.status, 'pending');
    assert.equal(pending.queued, true);

    await backgroundOf(s.app).jobs.runNow('scan');
    const r = await reportWhen(s, 'admin/queued', img.digest);
    assert.equal(r.status, 'scanned');
    assert.equal(r.queued, false);
    // The SBOM the scan pushed is an artifact: it queued nothing.
    assert.deepEqual(await store.requests(), []);
  });

  test('two replicas: one claims a due request, the other gets nothing while the lease holds; a retry releases it', async () => {
    const img = await pushApkImage(s, 'admin/leased', 'v1', VULNERABLE);
    const { store } = scanningOf(s);
    const now = Date.now();
    const a = await store.claim(now, 'replica-a', 60_000, 10);
    assert.deepEqual(
      a.map((r) => r.digest),
      [img.digest],
    );
    assert.deepEqual(await store.claim(now, 'replica-b', 60_000, 10), []);
    // Replica a dies: after its lease, b takes the request over.
    const b = await store.claim(now + 60_001, 'replica-b', 60_000, 10);
    assert.deepEqual(
      b.map((r) => r.digest),
      [img.digest],
    );
    // a can no longer finish or retry it.
    assert.equal(await store.meta.transaction((tx) => store.finish(tx, a[0].id, 'replica-a')), false);
    await store.retry(b[0].id, 'replica-b', now, 'boom');
    const [retried] = await store.requests();
    assert.equal(retried.attempts, 1);
    assert.equal(retried.lastError, 'boom');
    assert.equal((await store.claim(now, 'replica-a', 60_000, 10)).length, 1, 'released by the retry');
    await store.meta.transaction((tx) => store.finish(tx, retried.id, 'replica-a'));
  });
});
