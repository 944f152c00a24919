// The webhook outbox on PostgreSQL: migrations, one event per push, retries, and two
// replicas claiming from one database (row locks instead of SQLite's single writer).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { removeDir, tempDir, type TestServer } from '../helpers/api-server.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';
import { Receiver, TestClock, addUser, call, ok, pushImage, serverOptions, settle, startHooks } from './helpers.js';

describe('webhooks on PostgreSQL', () => {
  let schema: PgSchema;
  const servers: TestServer[] = [];
  let rx: Receiver;
  const dir = tempDir();
  // One clock for both replicas: the retry falls due when the test advances it.
  const clock = new TestClock();

  const server = async (webhooks: Record<string, unknown> = {}) => {
    const opts = serverOptions(dir, webhooks, { metadata: { postgres: { url: schema.url } } });
    const s = await startHooks(opts, clock);
    servers.push(s);
    return s;
  };

  before(async () => {
    schema = await freshSchema('webhooks');
    rx = await Receiver.start((_r, n) => (n === 1 ? 500 : 200));
  });
  after(async () => {
    for (const s of servers) await s.close();
    await rx.close();
    await schema.drop();
    removeDir(dir);
  });

  it('delivers each event once from two replicas, after a retry', async () => {
    const a = await server({ interval: 20 });
    const b = await server({ interval: 20 });
    const alice = await addUser(a, 'alice');
    await pushImage(a, alice, 'alice/app', 'seed', 1);
    const hook = await ok(call(b, 'POST', '/namespaces/alice/webhooks', alice, { url: rx.url, events: ['push', 'tag.delete'], format: 'distribution' }), 201);
    const pushes = 8;
    await Promise.all(Array.from({ length: pushes }, (_, i) => pushImage(i % 2 ? a : b, alice, 'alice/app', `t${i}`, 2)));
    await settle(clock, a, b);
    assert.equal(rx.requests.length, pushes + 1, 'one failure, then each delivery once');
    const delivered = rx.requests.slice(1).map((r) => r.headers['berth-delivery']);
    assert.equal(new Set(delivered).size, pushes);
    const log = await ok(call(a, 'GET', `/webhooks/${hook.id}/deliveries?n=100`, alice));
    assert.equal(log.deliveries.length, pushes);
    assert.ok(log.deliveries.every((d: any) => d.status === 'delivered'));
    assert.equal(
      log.deliveries.reduce((n: number, d: any) => n + d.attempts, 0),
      pushes + 1,
    );
  });
});
