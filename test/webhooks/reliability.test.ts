// The outbox and the delivery worker: retries with backoff, the delivery log, dead
// letters and redelivery, restarts between commit and delivery, expired claims, and
// two replicas on one database delivering each event once. Retries and claims run on
// the worker's clock, which the tests advance (settle) instead of waiting.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { removeDir, tempDir } from '../helpers/api-server.js';
import { openSqlite } from '../../src/metadata/database.js';
import { FAST, type HookServer, Receiver, TestClock, addUser, call, drain, findDelivery, ok, pushImage, settle, start } from './helpers.js';

const cleanup: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function server(dir?: string, webhooks: Record<string, unknown> = {}, clock?: TestClock): Promise<HookServer> {
  const s = await start(dir, webhooks, {}, clock);
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
    // The first attempt, then nothing until the retry falls due on the worker's clock.
    await drain(s);
    assert.equal(rx.requests.length, 1);
    const waiting = await findDelivery(s, alice, hook.id, (x) => x.status === 'pending', 'waiting to be retried');
    assert.ok(waiting.nextAttemptAt >= s.clock.now() + FAST.backoff / 2 - 1000, 'the retry waits at least half the backoff');
    assert.equal(await settle(s.clock, s), 3, 'two more failures and a success');
    assert.equal(rx.requests.length, 4, 'no request after the success');
    assert.equal(new Set(rx.requests.map((r) => r.headers['berth-delivery'])).size, 1, 'the same delivery each time');

    const d = await findDelivery(s, alice, hook.id, (x) => x.status === 'delivered', 'delivered');
    assert.equal(d.attempts, 4);
    const detail = await ok(call(s, 'GET', `/webhooks/${hook.id}/deliveries/${d.id}`, alice));
    assert.deepEqual(
      detail.attempts.map((a: any) => [a.statusCode, a.ok]),
      [
        [503, false],
        [503, false],
        [503, false],
        [200, true],
      ],
    );
    // Backoff on the worker's clock: attempt n waits between half and all of backoff·2^(n-1).
    const gaps = detail.attempts.slice(1).map((a: any, i: number) => a.at - detail.attempts[i].at);
    gaps.forEach((g: number, i: number) => {
      const full = Math.min(FAST.maxbackoff, FAST.backoff * 2 ** i);
      assert.ok(g >= full / 2 && g <= full + 5000, `gap ${i + 1} is ${g} ms, backoff ${full} ms`);
    });
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
    await settle(s.clock, s);
    const dead = await findDelivery(s, alice, hook.id, (x) => x.status === 'dead', 'dead');
    assert.equal(dead.attempts, 3);
    assert.equal(dead.lastStatusCode, 500);
    assert.equal(dead.nextAttemptAt, null);
    assert.equal(rx.requests.length, 3, 'no attempt after the last one');
    // A day later still nothing: a dead delivery is not retried.
    s.clock.advance(24 * 3600_000);
    assert.equal(await drain(s), 0);
    const deadOnly = await ok(call(s, 'GET', `/webhooks/${hook.id}/deliveries?status=dead`, alice));
    assert.equal(deadOnly.deliveries.length, 1);

    up = true;
    const r = await ok(call(s, 'POST', `/webhooks/${hook.id}/deliveries/${dead.id}/redeliver`, alice), 202);
    assert.equal(r.status, 'pending');
    await settle(s.clock, s);
    assert.equal(rx.requests.length, 4);
    const done = await findDelivery(s, alice, hook.id, (x) => x.id === dead.id && x.status === 'delivered', 'delivered after redeliver');
    assert.equal(done.uuid, dead.uuid, 'same Berth-Delivery id');
    const detail = await ok(call(s, 'GET', `/webhooks/${hook.id}/deliveries/${dead.id}`, alice));
    assert.deepEqual(
      detail.attempts.map((a: any) => a.ok),
      [false, false, false, true],
    );
    // Redelivering a delivered one sends it again too.
    await ok(call(s, 'POST', `/webhooks/${hook.id}/deliveries/${dead.id}/redeliver`, alice), 202);
    await settle(s.clock, s);
    assert.equal(rx.requests.length, 5);
  });

  it('a restart between commit and delivery loses nothing', async () => {
    const dir = tempDir();
    cleanup.push(() => removeDir(dir));
    // First life: the change commits, but this process never delivers (no worker here).
    let s = await server(dir, { worker: false });
    const rx = await receiver();
    const alice = await addUser(s, 'alice');
    await pushImage(s, alice, 'alice/app', 'seed', 1);
    const hook = await ok(call(s, 'POST', '/repositories/alice/app/webhooks', alice, { url: rx.url }), 201);
    await pushImage(s, alice, 'alice/app', 'v1', 2);
    const pending = await ok(call(s, 'GET', `/webhooks/${hook.id}/deliveries`, alice));
    assert.deepEqual(
      pending.deliveries.map((d: any) => d.status),
      ['pending'],
    );
    await s.close();
    assert.equal(rx.requests.length, 0);

    // Second life: the worker finds the committed delivery and sends it once.
    s = await server(dir);
    await settle(s.clock, s);
    assert.equal(rx.requests.length, 1);
    assert.equal(rx.requests[0].json.push_data.tag, 'v1');
  });

  it('a delivery claimed by a worker that died is taken again once the claim expires', async () => {
    const dir = tempDir();
    cleanup.push(() => removeDir(dir));
    const s1 = await server(dir, { worker: false });
    const rx = await receiver();
    const alice = await addUser(s1, 'alice');
    await pushImage(s1, alice, 'alice/app', 'seed', 1);
    const hook = await ok(call(s1, 'POST', '/repositories/alice/app/webhooks', alice, { url: rx.url }), 201);
    await pushImage(s1, alice, 'alice/app', 'v1', 1);
    await s1.close();
    // A crashed worker's claim, held for another ten minutes.
    const clock = new TestClock();
    const claimedUntil = clock.now() + 600_000;
    const meta = await openSqlite(s1.config.metadata.sqlite.path);
    await meta.db
      .updateTable('webhook_deliveries')
      .set({ claimed_until: claimedUntil, claim_token: 'crashed-worker' })
      .where('webhook_id', '=', hook.id)
      .execute();
    await meta.close();

    const s = await server(dir, {}, clock);
    assert.equal(await drain(s), 0, 'not while the claim holds');
    assert.equal(rx.requests.length, 0);
    assert.ok(clock.now() < claimedUntil);
    assert.equal(await settle(clock, s), 1, 'taken again once the claim expired');
    assert.ok(clock.now() > claimedUntil);
    assert.equal(rx.requests.length, 1);
    const d = await findDelivery(s, alice, hook.id, (x) => x.status === 'delivered', 'delivered');
    assert.equal(d.attempts, 1);
  });

  it('two replicas on one database deliver each event once', async () => {
    const dir = tempDir();
    cleanup.push(() => removeDir(dir));
    const clock = new TestClock();
    const a = await server(dir, { interval: 20 }, clock);
    const b = await server(dir, { interval: 20 }, clock);
    const rx = await receiver(() => 200);
    const alice = await addUser(a, 'alice');
    await pushImage(a, alice, 'alice/app', 'seed', 1);
    await ok(call(b, 'POST', '/namespaces/alice/webhooks', alice, { url: rx.url, events: ['push'] }), 201);
    const pushes = 12;
    await Promise.all(Array.from({ length: pushes }, (_, i) => pushImage(i % 2 ? a : b, alice, 'alice/app', `t${i}`, 1)));
    await settle(clock, a, b);
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
