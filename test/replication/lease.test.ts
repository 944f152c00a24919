// Two replicas (two apps on one PostgreSQL schema and one storage directory, both running the
// replication job) never run one policy at once: on demand only one of two simultaneous requests
// starts a run, and each due scheduled run happens once, its runs never overlapping in time.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ReplicationBusyError } from '../../src/replication/runner.js';
import { removeDir, tempDir, type TestServer } from '../helpers/api-server.js';
import { TestClock } from '../helpers/clock.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';
import { fillUpstream, startUpstream, type Upstream } from '../helpers/upstream.js';
import { startTap, type Tap } from '../helpers/upstream-tap.js';
import { createPolicy, eventually, replicationOf, startReplicating } from './helpers.js';

const INTERVAL = 60_000;

describe('replication on two replicas sharing PostgreSQL', () => {
  const clock = new TestClock();
  let schema: PgSchema;
  let dir: string;
  let up: Upstream;
  let tap: Tap;
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    [schema, up] = await Promise.all([freshSchema('repl2'), startUpstream({ name: 'repl-lease' })]);
    await fillUpstream(up, { only: ['tiny', 'multi'] });
    tap = await startTap(up.url);
    // Slow bodies: a run lasts long enough for the other replica to try its luck meanwhile.
    tap.throttle(64 * 1024);
    dir = tempDir('berth-repl-lease-');
    const opts = { dir, parts: { now: clock.now }, config: { metadata: { postgres: { url: schema.url, poolsize: 4 } } } };
    a = await startReplicating(opts);
    b = await startReplicating(opts);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all([tap?.close(), up?.dispose(), schema?.drop()]);
    if (dir) removeDir(dir);
  });

  it('of two simultaneous runs on demand one starts and the other is refused as busy', async () => {
    const p = await createPolicy(a, { name: 'on-demand', direction: 'pull', remoteUrl: tap.url, repositories: ['library/*'], trigger: 'manual' });
    const results = await Promise.allSettled([replicationOf(a).runner.runNow(p.id), replicationOf(b).runner.runNow(p.id)]);
    const started = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(started.length, 1, JSON.stringify(results));
    assert.ok(refused[0].reason instanceof ReplicationBusyError, String(refused[0].reason));
    const run = (started[0] as PromiseFulfilledResult<{ id: number }>).value;
    const done = (await replicationOf(a).runner.finished(run.id)) ?? (await replicationOf(b).runner.finished(run.id));
    assert.equal(done?.status, 'succeeded', JSON.stringify(done));
  });

  it('each due scheduled run happens once, on one replica or the other, and runs never overlap', async () => {
    const { store } = replicationOf(a);
    const p = await createPolicy(a, {
      name: 'scheduled',
      direction: 'pull',
      remoteUrl: tap.url,
      repositories: ['library/*'],
      trigger: 'schedule',
      intervalMs: INTERVAL,
    });
    const cycles = 4;
    for (let i = 1; i <= cycles; i++) {
      // Due now (created due; later, an interval after the last run ended): both jobs see it.
      await eventually(`run ${i} finished and released`, async () => {
        const policy = await store.get(p.id);
        const runs = await store.runs(p.id, 50);
        return runs.length === i && runs[0].status !== 'running' && !policy?.running ? true : undefined;
      });
      if (i < cycles) clock.advance(INTERVAL);
    }
    const runs = (await store.runs(p.id, 50)).reverse();
    assert.equal(runs.length, cycles);
    for (const r of runs) assert.deepEqual([r.trigger, r.status], ['schedule', 'succeeded'], JSON.stringify(r));
    for (let i = 1; i < runs.length; i++)
      assert.ok(runs[i].startedAt >= runs[i - 1].finishedAt!, `run ${runs[i].id} started before run ${runs[i - 1].id} ended`);
    // The run on demand above copied everything: each of these finds it all there.
    for (const r of runs) assert.deepEqual([r.copied > 0, r.skipped > 0], [false, true], JSON.stringify(r));
  });
});
