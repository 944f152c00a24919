// The replication store on the test metadata backend (SQLite, or PostgreSQL with
// BERTH_TEST_METADATA=postgres): policies with defaults and validation, credentials sealed at rest
// under a key of their own and never returned, leases that one claimer at a time gets, run
// history, and the task queue.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ReplicationPolicyError, ReplicationStore, REPLICATION_CREDENTIALS } from '../../src/metadata/replication-store.js';
import type { MetadataDb } from '../../src/metadata/database.js';
import { OutboundPolicy } from '../../src/net/outbound.js';
import { KeySealer, KeySealError } from '../../src/token/key-sealer.js';
import { openTestMetadata } from './helpers.js';

const SECRET = 'a-test-signing-key-secret-of-32-chars';
const PASSWORD = 'hunter2-remote-password';

async function rejectsWith(p: Promise<unknown>, kind: ReplicationPolicyError['kind'], pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ReplicationPolicyError, String(err));
    assert.equal(err.kind, kind);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('replication store', () => {
  let meta: MetadataDb;
  let close: () => Promise<void>;
  // A clock that moves only when the test moves it.
  let t = 1_800_000_000_000;
  const clock = {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
  let store: ReplicationStore;
  let plain: ReplicationStore;
  before(async () => {
    ({ meta, close } = await openTestMetadata());
    const policy = new OutboundPolicy(['127.0.0.1:5999']);
    store = new ReplicationStore(meta, {
      sealer: new KeySealer(SECRET, REPLICATION_CREDENTIALS),
      now: clock.now,
      urlRefusal: (u) => policy.urlRefusal(u),
    });
    plain = new ReplicationStore(meta, { sealer: null, now: clock.now });
  });
  after(() => close());

  const create = (input: Parameters<ReplicationStore['create']>[1]) => meta.transaction((tx) => store.create(tx, input, 'root'));
  const update = (id: number, patch: Parameters<ReplicationStore['update']>[2]) => meta.transaction((tx) => store.update(tx, id, patch));

  it('creates a policy with defaults; a push policy runs on events, a pull policy hourly from now', async () => {
    const push = await create({ name: 'to-dr', direction: 'push', remoteUrl: 'https://dr.example.com/' });
    assert.deepEqual(
      { ...push, id: 0, createdAt: 0, updatedAt: 0 },
      {
        id: 0,
        name: 'to-dr',
        direction: 'push',
        remoteUrl: 'https://dr.example.com',
        remoteUsername: null,
        repositories: ['**'],
        tags: ['*'],
        excludeRepositories: [],
        excludeTags: [],
        remotePrefix: '',
        trigger: 'event',
        intervalMs: null,
        replicateDeletes: false,
        enabled: true,
        hasPassword: false,
        createdBy: 'root',
        createdAt: 0,
        updatedAt: 0,
        nextRunAt: null,
        running: false,
        lastRun: null,
      },
    );
    const pull = await create({ name: 'from-hub', direction: 'pull', remoteUrl: 'https://hub.example.com:8443', repositories: ['library/*'] });
    assert.deepEqual([pull.trigger, pull.intervalMs, pull.nextRunAt, pull.remoteUrl], ['schedule', 3_600_000, pull.createdAt, 'https://hub.example.com:8443']);
    assert.deepEqual(
      (await store.list()).map((p) => p.name),
      ['from-hub', 'to-dr'],
    );
    assert.equal((await store.get(push.id))?.name, 'to-dr');
    assert.equal(await store.get(999_999), null);
  });

  it('refuses what cannot make a policy, with a clear message, and stores nothing', async () => {
    const before = (await store.list()).length;
    const base = { name: 'bad', direction: 'push' as const, remoteUrl: 'https://r.example.com' };
    await rejectsWith(create({ ...base, direction: 'pull', trigger: 'event' }), 'invalid', /pull policy runs on a schedule or manually/);
    await rejectsWith(create({ ...base, remoteUrl: 'https://r.example.com/v2/' }), 'invalid', /without a path/);
    await rejectsWith(create({ ...base, remoteUrl: 'https://u:p@r.example.com' }), 'invalid', /must not hold credentials/);
    await rejectsWith(create({ ...base, remoteUrl: 'ftp://r.example.com' }), 'invalid', /http or https/);
    await rejectsWith(create({ ...base, repositories: [] }), 'invalid', /repositories is a list of 1 to 20/);
    await rejectsWith(create({ ...base, tags: ['!v1'] }), 'invalid', /cannot be negated/);
    await rejectsWith(create({ ...base, trigger: 'schedule', intervalMs: 1000 }), 'invalid', /intervalMs of a scheduled policy/);
    await rejectsWith(create({ ...base, name: 'Has Spaces' }), 'invalid', /name has 1 to 64/);
    await rejectsWith(create({ ...base, remotePrefix: '/mirror/' }), 'invalid', /remotePrefix/);
    await rejectsWith(create({ ...base, remotePassword: PASSWORD }), 'invalid', /needs a remoteUsername/);
    await rejectsWith(create({ ...base, name: 'to-dr' }), 'taken', /"to-dr" exists/);
    // Internal addresses only when replication.allow names them.
    await rejectsWith(create({ ...base, remoteUrl: 'http://127.0.0.1:5000' }), 'invalid', /loopback address.*replication\.allow/);
    await rejectsWith(create({ ...base, remoteUrl: 'http://169.254.169.254' }), 'invalid', /cloud metadata/);
    assert.equal((await store.list()).length, before);
    const allowed = await create({ ...base, name: 'local', remoteUrl: 'http://127.0.0.1:5999' });
    assert.equal(allowed.remoteUrl, 'http://127.0.0.1:5999');
  });

  it("seals the password at rest under its own key (not the signing keys'), bound to the policy, and never returns it", async () => {
    const p = await create({ name: 'sealed', direction: 'push', remoteUrl: 'https://r.example.com', remoteUsername: 'robot', remotePassword: PASSWORD });
    assert.equal(p.hasPassword, true);
    assert.ok(!JSON.stringify(p).includes(PASSWORD));
    assert.ok(!('remotePassword' in p));
    assert.ok(!JSON.stringify(await store.list()).includes('berth-sealed'));
    const raw = await meta.db.selectFrom('replication_policies').select('remote_password_sealed').where('id', '=', p.id).executeTakeFirstOrThrow();
    const sealed = raw.remote_password_sealed as string;
    assert.match(sealed, /^berth-sealed:v1:/);
    assert.ok(!sealed.includes(PASSWORD) && !sealed.includes(Buffer.from(PASSWORD).toString('base64')));
    assert.deepEqual(await store.credentials(p.id), { username: 'robot', password: PASSWORD });
    // The signing keys' sealer (same secret, other HKDF info) cannot open it, nor can another policy's id.
    assert.throws(() => new KeySealer(SECRET).open(String(p.id), sealed), KeySealError);
    assert.throws(() => new KeySealer(SECRET, REPLICATION_CREDENTIALS).open(String(p.id + 1), sealed), KeySealError);
    // A different secret: a clear error, not garbage.
    assert.throws(() => new KeySealer('another-secret-of-enough-length', REPLICATION_CREDENTIALS).open(String(p.id), sealed), /signingkeysecret differs/);
  });

  it('without auth.token.signingkeysecret a password is refused (no-secret); a policy without one is fine', async () => {
    await rejectsWith(
      meta.transaction((tx) =>
        plain.create(tx, { name: 'nosecret', direction: 'push', remoteUrl: 'https://r.example.com', remoteUsername: 'u', remotePassword: 'x' }, null),
      ),
      'no-secret',
      /set auth\.token\.signingkeysecret/,
    );
    assert.equal(await store.getByName('nosecret'), null);
    const p = await meta.transaction((tx) =>
      plain.create(tx, { name: 'nosecret', direction: 'push', remoteUrl: 'https://r.example.com', remoteUsername: 'u' }, null),
    );
    assert.equal(p.hasPassword, false);
    assert.equal(await plain.credentials(p.id), null);
  });

  it('updates the fields a patch names: the password kept, replaced or removed; a name in use refused; a missing policy null', async () => {
    const p = (await store.getByName('sealed'))!;
    clock.advance(1000);
    const renamed = await update(p.id, { name: 'sealed2', tags: ['v*'], remoteUrl: 'https://other.example.com' });
    assert.deepEqual([renamed?.name, renamed?.tags, renamed?.hasPassword, renamed?.remoteUrl], ['sealed2', ['v*'], true, 'https://other.example.com']);
    assert.ok(renamed!.updatedAt > p.updatedAt);
    assert.deepEqual(await store.credentials(p.id), { username: 'robot', password: PASSWORD });
    await update(p.id, { remotePassword: 'new-password' });
    assert.deepEqual(await store.credentials(p.id), { username: 'robot', password: 'new-password' });
    assert.equal((await update(p.id, { remotePassword: null }))?.hasPassword, false);
    assert.equal(await store.credentials(p.id), null);
    await rejectsWith(update(p.id, { name: 'to-dr' }), 'taken', /exists/);
    await rejectsWith(update(p.id, { direction: 'pull' }), 'invalid', /pull policy/);
    assert.equal((await store.get(p.id))?.direction, 'push');
    assert.equal(await update(999_999, { enabled: false }), null);
    // Turning a schedule on makes it due now; off, not due at all.
    const sched = await update(p.id, { trigger: 'schedule' });
    assert.deepEqual([sched?.intervalMs, sched?.nextRunAt], [3_600_000, clock.now()]);
    const manual = await update(p.id, { trigger: 'manual' });
    assert.deepEqual([manual?.intervalMs, manual?.nextRunAt], [null, null]);
  });

  it('leases: one claimer at a time gets a due policy; an expired lease can be taken; release moves the schedule on', async () => {
    const p = await create({ name: 'leased', direction: 'pull', remoteUrl: 'https://r.example.com', intervalMs: 60_000 });
    const now = clock.now();
    const a = await store.claimDue(now, 'replica-a', 10_000);
    const b = await store.claimDue(now, 'replica-b', 10_000);
    assert.ok(a.some((x) => x.id === p.id));
    assert.ok(!b.some((x) => x.id === p.id));
    assert.equal((await store.get(p.id))?.running, true);
    assert.equal(await store.claim(p.id, 'replica-b', now, 10_000), false);
    assert.equal(await store.renew(p.id, 'replica-b', now, 10_000), false);
    assert.equal(await store.renew(p.id, 'replica-a', now, 10_000), true);
    // replica-a dies: after its lease, replica-b may take the policy.
    clock.advance(10_001);
    assert.equal(await store.claim(p.id, 'replica-b', clock.now(), 10_000), true);
    await store.release(p.id, 'replica-a', 0); // not the holder: nothing changes
    assert.equal((await store.get(p.id))?.running, true);
    await store.release(p.id, 'replica-b', clock.now() + 60_000);
    const released = (await store.get(p.id))!;
    assert.deepEqual([released.running, released.nextRunAt], [false, clock.now() + 60_000]);
    assert.ok(!(await store.claimDue(clock.now(), 'replica-a', 10_000)).some((x) => x.id === p.id), 'not due before its next run');
    // Disabled policies are never claimed by the schedule.
    await update(p.id, { enabled: false });
    clock.advance(120_000);
    assert.ok(!(await store.claimDue(clock.now(), 'replica-a', 10_000)).some((x) => x.id === p.id));
  });

  it('runs: started, saved, listed newest first; the last run comes with the policy', async () => {
    const p = (await store.getByName('to-dr'))!;
    const r1 = await store.startRun(p.id, 'manual');
    assert.deepEqual([r1.status, r1.trigger, r1.finishedAt, r1.copied], ['running', 'manual', null, 0]);
    await store.saveRun({ ...r1, status: 'succeeded', finishedAt: clock.now(), copied: 3, skipped: 1, bytes: 12345 });
    const r2 = await store.startRun(p.id, 'event');
    await store.saveRun({ ...r2, status: 'failed', finishedAt: clock.now(), failed: 1, error: 'x'.repeat(5000) });
    const runs = await store.runs(p.id, 10);
    assert.deepEqual(
      runs.map((r) => [r.id, r.status, r.copied, r.bytes]),
      [
        [r2.id, 'failed', 0, 0],
        [r1.id, 'succeeded', 3, 12345],
      ],
    );
    assert.equal(runs[0].error?.length, 2000);
    assert.deepEqual((await store.runs(p.id, 1)).length, 1);
    assert.equal((await store.get(p.id))?.lastRun?.id, r2.id);
    assert.equal((await store.list()).find((x) => x.id === p.id)?.lastRun?.id, r2.id);
  });

  it('tasks: queued in a transaction, due ones claimable, retried later, removed (a full run covers the copies, not the deletes); an event-triggered policy with due tasks is claimed', async () => {
    const p = (await store.getByName('to-dr'))!;
    assert.deepEqual(
      (await meta.transaction((tx) => store.eventPolicies(tx))).map((x) => x.name),
      ['local', 'nosecret', 'to-dr'],
    );
    const now = clock.now();
    await meta.transaction((tx) =>
      store.queueTasks(
        tx,
        [
          { policyId: p.id, repository: 'alice/app', reference: 'v1', digest: null, kind: 'copy' },
          { policyId: p.id, repository: 'alice/app', reference: 'old', digest: 'sha256:aa', kind: 'delete' },
        ],
        now,
      ),
    );
    const due = await store.dueTasks(p.id, now, 10);
    assert.deepEqual(
      due.map((t) => [t.reference, t.kind, t.digest, t.attempts]),
      [
        ['v1', 'copy', null, 0],
        ['old', 'delete', 'sha256:aa', 0],
      ],
    );
    const claimed = await store.claimDue(now, 'replica-a', 10_000);
    assert.ok(claimed.some((x) => x.id === p.id));
    await store.retryTask(due[0].id, now + 5000, 'remote down');
    assert.deepEqual(
      (await store.dueTasks(p.id, now, 10)).map((t) => t.reference),
      ['old'],
    );
    assert.deepEqual(
      (await store.dueTasks(p.id, now + 5000, 10)).map((t) => [t.reference, t.attempts]),
      [
        ['v1', 1],
        ['old', 0],
      ],
    );
    // A full run covers the copies queued before it, not the deletes.
    const last = await store.lastTaskId(p.id);
    await store.removeCopiesThrough(p.id, last);
    assert.deepEqual(
      (await store.dueTasks(p.id, now + 5000, 10)).map((t) => t.kind),
      ['delete'],
    );
    await store.removeTasks([due[1].id]);
    assert.equal(await store.pendingTasks(p.id), 0);
    await store.release(p.id, 'replica-a');
  });

  it("a run left 'running' by a replica that died (no lease holds its policy) is marked failed; one whose policy is held is not", async () => {
    const p = (await store.getByName('to-dr'))!;
    const other = (await store.getByName('leased'))!;
    const dead = await store.startRun(p.id, 'schedule');
    const live = await store.startRun(other.id, 'schedule');
    assert.equal(await store.claim(other.id, 'replica-a', clock.now(), 60_000), true);
    await store.failAbandonedRuns(clock.now());
    const gone = await store.run(dead.id);
    assert.deepEqual([gone?.status, gone?.error, gone?.finishedAt], ['failed', 'the replica running it stopped', clock.now()]);
    assert.equal((await store.run(live.id))?.status, 'running');
    await store.release(other.id, 'replica-a');
  });

  it('deleting a policy takes its runs and tasks along', async () => {
    const p = (await store.getByName('to-dr'))!;
    await meta.transaction((tx) => store.queueTasks(tx, [{ policyId: p.id, repository: 'a/b', reference: 'x', digest: null, kind: 'copy' }], clock.now()));
    assert.equal(await meta.transaction((tx) => store.delete(tx, p.id)), true);
    assert.equal(await meta.transaction((tx) => store.delete(tx, p.id)), false);
    assert.equal(await store.get(p.id), null);
    assert.deepEqual(await store.runs(p.id), []);
    assert.equal(await store.pendingTasks(p.id), 0);
  });
});
