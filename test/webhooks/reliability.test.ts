// The outbox and the delivery worker: retries with backoff, the delivery log, dead
// letters and redelivery, restarts between commit and delivery, expired claims, and
// two replicas on one database delivering each event once.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';
import { openSqlite } from '../../src/metadata/database.js';
import { Receiver, addUser, call, ok, pushImage, serverOptions, sleep, start, waitDelivery } from './helpers.js';

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function server(dir?: string, webhooks: Record<string, unknown> = {}): Promise<TestServer> {
  const s = await start(dir, webhooks);
  cleanup.push(() => s.close().catch(() => {}));
  return s;
}
async function receiver(behaviour?: Parameters<typeof Receiver.start>[0]): Promise<Receiver> {
  const r = await Receiver.start(behaviour);
  cleanup.push(() => r.close().catch(() => {}));
  return r;
}
describe('webhook reliability', () => {
  it('a receiver that fails three times then recovers gets the event exactly once more', async () => {
    const dir = tempDir();
    cleanup.push(() => removeDir(dir));
    const s = await server(dir);
    const rx = await receiver((_r, n) => (n <= 3 ? 503 : 200));
    const alice = await addUser(s, 'alice');
    await pushImage(s, alice, 'alice/app', 'seed', 1);
    const hook = await ok(call(s, 'POST', '/repositories/alice/app/webhooks', alice, { url: rx.url }), 201);
    await pushImage(s, alice, 'alice/app', 'v1', 2);
    await rx.waitFor((r) => r.length >= 4, 'three failures and a success');
    await sleep(300);
    assert.equal(rx.requests.length, 4, 'no request after the success');
    assert.equal(new Set(rx.requests.map((r) => r.headers['berth-delivery'])).size, 1, 'the same delivery each time');
    // Backoff: the gaps grow (base 20 ms, doubling, with jitter between half and all of it).
    const gaps = rx.requests.slice(1).map((r, i) => r.at - rx.requests[i].at);
    assert.ok(gaps.every((g) => g >= 8), `gaps ${gaps}`);

    const d = await waitDelivery(s, alice, hook.id, (x) => x.status === 'delivered', 'delivered');
    assert.equal(d.attempts, 4);
    const detail = await ok(call(s, 'GET', `/webhooks/${hook.id}/deliveries/${d.id}`, alice));
    assert.deepEqual(detail.attempts.map((a: any) => [a.statusCode, a.ok]), [[503, false], [503, false], [503, false], [200, true]]);
    for (const a of detail.attempts) {
      assert.equal(typeof a.at, 'number');
      assert.equal(typeof a.durationMs, 'number');
    }
    assert.match(detail.attempts[0].responseBody, /^failure 1/);
    assert.equal(detail.attempts[0].error, 'HTTP 503');
    assert.equal(JSON.parse(detail.payload).push_data.tag, 'v1');
  });

  it('dead-letters after the maximum attempts; redeliver then succeeds', async () => {
    const s = await server(undefined, { attempts: 3 });
    cleanup.push(() => removeDir(s.dir));
    let up = false;
    const rx = await receiver(() => (up ? 200 : 500));
    const alice = await addUser(s, 'alice');
    await pushImage(s, alice, 'alice/dead', 'seed', 1);
    const hook = await ok(call(s, 'POST', '/repositories/alice/dead/webhooks', alice, { url: rx.url, format: 'cloudevents' }), 201);
    await pushImage(s, alice, 'alice/dead', 'v1', 1);
    const dead = await waitDelivery(s, alice, hook.id, (x) => x.status === 'dead', 'dead letter');
    assert.equal(dead.attempts, 3);
    assert.equal(dead.lastStatusCode, 500);
    await sleep(200);
    assert.equal(rx.requests.length, 3, 'no attempt after the last one');
    const deadOnly = await ok(call(s, 'GET', `/webhooks/${hook.id}/deliveries?status=dead`, alice));
    assert.equal(deadOnly.deliveries.length, 1);

    up = true;
    const r = await ok(call(s, 'POST', `/webhooks/${hook.id}/deliveries/${dead.id}/redeliver`, alice), 202);
    assert.equal(r.status, 'pending');
    await rx.waitFor((x) => x.length >= 4, 'redelivery');
    const done = await waitDelivery(s, alice, hook.id, (x) => x.id === dead.id && x.status === 'delivered', 'delivered after redeliver');
    assert.equal(done.uuid, dead.uuid, 'same Berth-Delivery id');
    const detail = await ok(call(s, 'GET', `/webhooks/${hook.id}/deliveries/${dead.id}`, alice));
    assert.deepEqual(detail.attempts.map((a: any) => a.ok), [false, false, false, true]);
    // Redelivering a delivered one sends it again too.
    await ok(call(s, 'POST', `/webhooks/${hook.id}/deliveries/${dead.id}/redeliver`, alice), 202);
    await rx.waitFor((x) => x.length >= 5, 'second redelivery');
  });

  it('a restart between commit and delivery loses nothing', async () => {
    const dir = tempDir();
    cleanup.push(() => removeDir(dir));
    // First life: the change commits, but this process never delivers (no worker here).
    let s = await startServer(serverOptions(dir, { worker: false }));
    const rx = await receiver();
    const alice = await addUser(s, 'alice');
    await pushImage(s, alice, 'alice/app', 'seed', 1);
    const hook = await ok(call(s, 'POST', '/repositories/alice/app/webhooks', alice, { url: rx.url }), 201);
    await pushImage(s, alice, 'alice/app', 'v1', 2);
    const pending = await ok(call(s, 'GET', `/webhooks/${hook.id}/deliveries`, alice));
    assert.deepEqual(pending.deliveries.map((d: any) => d.status), ['pending']);
    await s.close();
    assert.equal(rx.requests.length, 0);

    // Second life: the worker finds the committed delivery and sends it once.
    s = await server(dir);
    await rx.waitFor((r) => r.length >= 1, 'delivery after the restart');
    await sleep(300);
    assert.equal(rx.requests.length, 1);
    assert.equal(rx.requests[0].json.push_data.tag, 'v1');
  });

  it('a delivery claimed by a worker that died is taken again once the claim expires', async () => {
    const dir = tempDir();
    cleanup.push(() => removeDir(dir));
    const s1 = await startServer(serverOptions(dir, { worker: false }));
    const rx = await receiver();
    const alice = await addUser(s1, 'alice');
    await pushImage(s1, alice, 'alice/app', 'seed', 1);
    const hook = await ok(call(s1, 'POST', '/repositories/alice/app/webhooks', alice, { url: rx.url }), 201);
    await pushImage(s1, alice, 'alice/app', 'v1', 1);
    await s1.close();
    // A crashed worker's claim: held for another 600 ms.
    const meta = await openSqlite(s1.config.metadata.sqlite.path);
    const claimedUntil = Date.now() + 600;
    await meta.db.updateTable('webhook_deliveries').set({ claimed_until: claimedUntil, claim_token: 'crashed-worker' }).where('webhook_id', '=', hook.id).execute();
    await meta.close();

    await server(dir);
    await rx.waitFor((r) => r.length >= 1, 'delivery after the claim expired');
    assert.ok(rx.requests[0].at >= claimedUntil, 'not before the claim expired');
    await sleep(200);
    assert.equal(rx.requests.length, 1);
  });

  it('two replicas on one database deliver each event once', async () => {
    const dir = tempDir();
    cleanup.push(() => removeDir(dir));
    const a = await server(dir, { interval: 20 });
    const b = await server(dir, { interval: 20 });
    const rx = await receiver(() => 200);
    const alice = await addUser(a, 'alice');
    await pushImage(a, alice, 'alice/app', 'seed', 1);
    await ok(call(b, 'POST', '/namespaces/alice/webhooks', alice, { url: rx.url, events: ['push'] }), 201);
    const pushes = 12;
    await Promise.all(Array.from({ length: pushes }, (_, i) => pushImage(i % 2 ? a : b, alice, 'alice/app', `t${i}`, 1)));
    await rx.waitFor((r) => r.length >= pushes, `${pushes} deliveries`, 10_000);
    await sleep(400);
    const ids = rx.requests.map((r) => r.headers['berth-delivery']);
    assert.equal(ids.length, pushes, 'no duplicates');
    assert.equal(new Set(ids).size, pushes);
    assert.deepEqual(rx.requests.map((r) => r.json.push_data.tag).sort(), Array.from({ length: pushes }, (_, i) => `t${i}`).sort());
    // Each delivery was attempted once: no two workers held the same claim.
    const meta = await openSqlite(a.config.metadata.sqlite.path);
    try {
      const attempts = await meta.db.selectFrom('webhook_attempts').select('delivery_id').execute();
      assert.equal(attempts.length, pushes);
      assert.equal(new Set(attempts.map((x) => x.delivery_id)).size, pushes);
    } finally {
      await meta.close();
    }
  });
});
