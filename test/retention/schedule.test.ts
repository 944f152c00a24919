// Retention beyond one request: its deletions reach webhooks marked as retention's (all three
// payload formats), the `retention` job of the job runner runs each enabled policy once it is
// due on the app's clock, and two replicas on one database never run one policy at once (a
// lease in the database; one held by a replica that died expires).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { backgroundOf, openMetadata } from '../../src/app.js';
import { RetentionStore } from '../../src/metadata/retention-store.js';
import { RETENTION_LEASE_MS } from '../../src/retention/runner.js';
import { removeDir, startServer, type TestServer } from '../helpers/api-server.js';
import { TokenClient } from '../helpers/token-client.js';
import { addUser, call, expect } from '../api-v1/helpers.js';
import { type HookServer, Receiver, deleteRef, settle, start } from '../webhooks/helpers.js';
import { DAY, TestClock, createPolicy, policies, pushImage, retentionServer, run, tagsOf } from './helpers.js';

describe('retention deletions in webhook deliveries', () => {
  let s: HookServer;
  const rx: Record<string, Receiver> = {};
  before(async () => {
    s = await start();
    for (const f of ['dockerhub', 'distribution', 'cloudevents']) rx[f] = await Receiver.start();
  });
  after(async () => {
    await s.close();
    for (const r of Object.values(rx)) await r.close();
    removeDir(s.dir);
  });

  it('tag.delete and manifest.delete made by a policy say retention made them, in every format', async () => {
    const alice = await addUser(s, 'alice');
    for (const [format, r] of Object.entries(rx)) {
      expect(await call(s, 'POST', '/namespaces/alice/webhooks', alice, { url: r.url, events: ['tag.delete', 'manifest.delete'], format }), 201);
    }
    const c = new TokenClient(s.url, alice);
    const loose = await pushImage(c, 'alice/app');
    await pushImage(c, 'alice/app', 'old');
    s.clock.advance(DAY);
    await pushImage(c, 'alice/app', 'new');
    await pushImage(c, 'alice/app', 'manual');
    s.clock.advance(10 * DAY);
    await createPolicy(s, 'alice', alice, { name: 'tidy', rules: [{ tags: '{old,new}', keep: { latestPushed: 1 }, untagged: '7d' }] });
    const r = await run(s, 'alice', 'tidy', alice, false);
    assert.deepEqual([r.tags.map((t: { tag: string }) => t.tag), r.manifests.map((m: { digest: string }) => m.digest)], [['old'], [loose.digest]]);
    await deleteRef(s, alice, 'alice/app', 'manual'); // by a person: no retention marker
    await settle(s.clock, s);

    const retention = { namespace: 'alice', policy: 'tidy' };
    const events = (f: string, type: string) => rx[f].ofEvent(type).map((x) => x.json);
    // Distribution envelope: "retention" in the event, actor.name "retention".
    const dist = events('distribution', 'tag.delete').map((j) => j.events[0]);
    const byRetention = dist.find((e) => e.target.tag === 'old');
    assert.deepEqual([byRetention.retention, byRetention.actor.name, byRetention.action], [retention, 'retention', 'delete']);
    const manual = dist.find((e) => e.target.tag === 'manual');
    assert.equal(manual.retention, undefined);
    assert.equal(manual.actor.name, 'alice');
    const distManifest = events('distribution', 'manifest.delete').map((j) => j.events[0]);
    assert.deepEqual(
      distManifest.map((e) => [e.target.digest, e.retention]),
      [[loose.digest, retention]],
    );
    // CloudEvents: in data.
    const ce = events('cloudevents', 'manifest.delete');
    assert.deepEqual([ce[0].type, ce[0].data.retention, ce[0].data.actor], ['io.berth.manifest.delete', retention, 'retention']);
    assert.deepEqual(events('cloudevents', 'tag.delete').find((e) => e.data.tag === 'old').data.retention, retention);
    // Docker Hub's shape carries it too.
    const hub = events('dockerhub', 'tag.delete').find((e) => e.push_data.tag === 'old');
    assert.deepEqual([hub.retention, hub.push_data.pusher], [retention, 'retention']);
  });
});

describe('the retention job', () => {
  const clock = new TestClock();
  const s = retentionServer(clock, { config: { retention: { enabled: true, interval: 3_600_000 } } });

  it('runs each enabled policy once it is due (retention.interval after its creation or last run), not before', async () => {
    const alice = await addUser(s, 'alice');
    const c = new TokenClient(s.url, alice);
    await pushImage(c, 'alice/app', 'a');
    clock.advance(DAY);
    await pushImage(c, 'alice/app', 'b');
    await createPolicy(s, 'alice', alice, { name: 'job', repository: 'alice/app', rules: [{ tags: '*', keep: { latestPushed: 1 } }] });
    await createPolicy(s, 'alice', alice, { name: 'off', enabled: false, rules: [{ tags: '*', keep: { latestPushed: 1 } }] });
    const { jobs } = backgroundOf(s.app);
    assert.ok(jobs.names().includes('retention'));
    const lastRun = async (name: string) => expect(await call(s, 'GET', `${policies('alice')}/${name}`, alice), 200).body.lastRun;

    const runs = jobs.runs('retention');
    await jobs.runNow('retention');
    assert.ok(jobs.runs('retention') > runs);
    assert.equal(await lastRun('job'), null, 'not due yet: created less than an interval ago');
    assert.deepEqual(await tagsOf(c, 'alice/app'), ['a', 'b']);

    clock.advance(3_600_000);
    await jobs.runNow('retention');
    const last = await lastRun('job');
    assert.deepEqual({ ...last, at: 0 }, { at: 0, dryRun: false, tagsDeleted: 1, manifestsDeleted: 0, bytes: 0, protected: 0 });
    assert.deepEqual(await tagsOf(c, 'alice/app'), ['b']);
    assert.equal(await lastRun('off'), null, 'a disabled policy is not scheduled');

    // Not again until another interval has passed.
    clock.advance(60_000);
    await jobs.runNow('retention');
    assert.deepEqual(await lastRun('job'), last);
    clock.advance(3_600_000);
    await jobs.runNow('retention');
    assert.ok(Date.parse((await lastRun('job')).at) > Date.parse(last.at));
  });
});

describe('retention on two replicas', () => {
  const clock = new TestClock();
  const a = retentionServer(clock);
  let b: TestServer;
  before(async () => {
    // A second replica on the same database (the same SQLite file, or the same PostgreSQL schema).
    b = await startServer({ dir: a.dir, config: { auth: a.config.auth } as never, parts: { now: clock.now } });
  });
  after(() => b?.close());

  it('a due policy runs on one replica only, and a replica holding it keeps the others out until its lease ends', async () => {
    const alice = await addUser(a, 'alice');
    const c = new TokenClient(a.url, alice);
    for (const t of ['x1', 'x2', 'x3']) {
      await pushImage(c, 'alice/app', t);
      clock.advance(DAY);
    }
    await createPolicy(a, 'alice', alice, { name: 'shared', rules: [{ tags: '*', keep: { latestPushed: 2 } }] });
    clock.advance(3_600_000);
    // At once on PostgreSQL; one after the other on SQLite, whose in-process connections would block each other's thread.
    const [ra, rb] =
      process.env.BERTH_TEST_METADATA === 'postgres'
        ? await Promise.all([backgroundOf(a.app).retention.runDue(), backgroundOf(b.app).retention.runDue()])
        : [await backgroundOf(a.app).retention.runDue(), await backgroundOf(b.app).retention.runDue()];
    assert.deepEqual(
      [...ra, ...rb].map((r) => [r.policy, r.tags.map((t) => t.tag)]),
      [['shared', ['x1']]],
      'one run in all',
    );

    // A replica that claimed the policy and died: the others leave it alone until the lease ends.
    await pushImage(c, 'alice/app', 'x4');
    clock.advance(3_600_000);
    const meta = await openMetadata(a.config);
    try {
      const store = new RetentionStore(meta);
      const policy = (await store.get('alice', 'shared'))!;
      assert.ok(await store.claim(policy.id, 'a-replica-that-died', clock.now(), RETENTION_LEASE_MS));
      assert.deepEqual(await backgroundOf(b.app).retention.runDue(), []);
      expect(await call(a, 'POST', `${policies('alice')}/shared/run`, alice, { dryRun: false }), 409, 'CONFLICT');
      assert.equal((await run(a, 'alice', 'shared', alice, true)).tags.length, 1, 'a dry run needs no claim');
      clock.advance(RETENTION_LEASE_MS + 1);
      const later = await backgroundOf(b.app).retention.runDue();
      assert.deepEqual(
        later.map((r) => r.tags.map((t) => t.tag)),
        [['x2']],
      );
    } finally {
      await meta.close();
    }
    assert.deepEqual(await tagsOf(c, 'alice/app'), ['x3', 'x4']);
  });
});
