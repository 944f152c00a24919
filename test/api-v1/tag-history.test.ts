// Tag history and restore (/api/v1/repositories/{name}/tag-history, …/tags/{tag}/restore): every
// push that creates or moves a tag, every delete and every restore is recorded with the digests
// before and after, who made it and when (by the app's clock); a restore moves the tag back while
// the manifest exists, is recorded, and sends the same webhook event a push of the tag would. Who
// may read and restore is policy.ts's; a private repository's history answers like a missing one.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { backgroundOf } from '../../src/app.js';
import { TestClock } from '../helpers/clock.js';
import { ALLOW_RECEIVERS, FAST, Receiver, settle } from '../webhooks/helpers.js';
import { ADMIN, type Creds, accountsServer, addUser, call, expect, pushAs, registryToken } from './helpers.js';

const clock = new TestClock();
const s = accountsServer({}, { config: { notifications: { webhooks: { ...FAST, ...ALLOW_RECEIVERS } } } as never, parts: { now: clock.now } });

type User = { user: string; password: string };
let alice: User, bob: User, carol: User, rx: Receiver;

/** DELETE /v2/<repo>/manifests/<ref> with a registry token for `who`. */
async function v2Delete(who: User, repo: string, ref: string, server = s): Promise<Response> {
  const token = await registryToken(server, who, [`repository:${repo}:delete`]);
  return fetch(`${server.url}/v2/${repo}/manifests/${ref}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
}

async function tagDigest(who: User, repo: string, tag: string): Promise<string | null> {
  const token = await registryToken(s, who, [`repository:${repo}:pull`]);
  const res = await fetch(`${s.url}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { authorization: `Bearer ${token}`, accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  return res.status === 200 ? res.headers.get('docker-content-digest') : null;
}

const history = async (who: Creds, repo: string, q = '') => expect(await call(s, 'GET', `/repositories/${repo}/tag-history${q}`, who), 200).body.entries;
const restore = (who: Creds, repo: string, tag: string, digest: string) => call(s, 'POST', `/repositories/${repo}/tags/${tag}/restore`, who, { digest });

describe('tag history', () => {
  let first: string, second: string, times: number[];

  before(async () => {
    rx = await Receiver.start();
    alice = await addUser(s, 'alice');
    bob = await addUser(s, 'bob');
    carol = await addUser(s, 'carol');
    // Each change an hour apart on the app's clock: the recorded times are the app's, not the wall clock's.
    times = [];
    first = await pushAs(s, alice, 'alice/app', 'v1');
    times.push(clock.now());
    clock.advance(3_600_000);
    second = await pushAs(s, alice, 'alice/app', 'v1');
    times.push(clock.now());
    clock.advance(3_600_000);
    const del = await v2Delete(alice, 'alice/app', 'v1');
    assert.equal(del.status, 202, await del.text());
    times.push(clock.now());
    expect(await call(s, 'PUT', '/repositories/alice/app/collaborators/bob', alice, { permission: 'read' }), 200);
  });
  after(() => rx?.close());

  it('records the push, the move and the delete, newest first, with actor, digests and the app clock’s time', async () => {
    const entries = await history(alice, 'alice/app');
    const shape = entries.map((e: any) => ({ tag: e.tag, action: e.action, previousDigest: e.previousDigest, digest: e.digest, actor: e.actor }));
    assert.deepEqual(shape, [
      { tag: 'v1', action: 'delete', previousDigest: second, digest: null, actor: 'alice' },
      { tag: 'v1', action: 'push', previousDigest: first, digest: second, actor: 'alice' },
      { tag: 'v1', action: 'push', previousDigest: null, digest: first, actor: 'alice' },
    ]);
    const at = entries.map((e: any) => e.at).reverse();
    for (let i = 0; i < 3; i++) assert.ok(at[i] >= times[i] - 60_000 && at[i] <= times[i], `entry ${i} at ${at[i]}, clock ${times[i]}`);
    assert.ok(at[2] - at[0] >= 2 * 3_600_000, 'the times follow the app clock');
    // Both earlier manifests still exist and the tag is gone: each can be restored.
    assert.deepEqual(
      entries.map((e: any) => e.restorable),
      [true, true, true],
    );
  });

  it('pages with n and before, and filters by tag', async () => {
    await pushAs(s, alice, 'alice/app', 'other');
    const page = expect(await call(s, 'GET', '/repositories/alice/app/tag-history?n=2', alice), 200).body;
    assert.equal(page.entries.length, 2);
    assert.equal(page.entries[0].tag, 'other');
    const rest = expect(await call(s, 'GET', `/repositories/alice/app/tag-history?n=10&before=${page.next}`, alice), 200).body;
    assert.deepEqual(
      rest.entries.map((e: any) => e.action),
      ['push', 'push'],
    );
    assert.deepEqual(
      (await history(alice, 'alice/app', '?tag=v1')).map((e: any) => e.tag),
      ['v1', 'v1', 'v1'],
    );
    expect(await call(s, 'GET', '/repositories/alice/app/tag-history?n=0', alice), 400, 'INVALID');
  });

  it('restores a deleted tag to its last digest: recorded, and the same webhook event as a push', async () => {
    const hook = expect(await call(s, 'POST', '/repositories/alice/app/webhooks', alice, { url: rx.url, events: ['push'] }), 201).body;
    clock.advance(60_000);
    const r = expect(await restore(alice, 'alice/app', 'v1', second), 200).body;
    assert.deepEqual(r, { tag: 'v1', digest: second, previousDigest: null, restored: true });
    assert.equal(await tagDigest(alice, 'alice/app', 'v1'), second);
    const [top] = await history(alice, 'alice/app', '?tag=v1');
    assert.deepEqual(
      { action: top.action, previousDigest: top.previousDigest, digest: top.digest, actor: top.actor, restorable: top.restorable },
      { action: 'restore', previousDigest: null, digest: second, actor: 'alice', restorable: false },
    );
    await settle(clock, s);
    const pushes = rx.ofEvent('push');
    assert.equal(pushes.length, 1, 'one push event for the restore');
    assert.equal(pushes[0].json.push_data.tag, 'v1');
    assert.equal(pushes[0].json.push_data.pusher, 'alice');
    assert.deepEqual(pushes[0].json.push_data.images, [second]);
    expect(await call(s, 'DELETE', `/webhooks/${hook.id}`, alice), 204);
    // Again: nothing changes, nothing is recorded.
    assert.deepEqual(expect(await restore(alice, 'alice/app', 'v1', second), 200).body.restored, false);
    assert.equal((await history(alice, 'alice/app', '?tag=v1')).length, 4);
  });

  it('moves a tag back to an earlier digest', async () => {
    const r = expect(await restore(alice, 'alice/app', 'v1', first), 200).body;
    assert.deepEqual(r, { tag: 'v1', digest: first, previousDigest: second, restored: true });
    assert.equal(await tagDigest(alice, 'alice/app', 'v1'), first);
  });

  it('refuses a manifest that no longer exists, and a digest the tag never had', async () => {
    const gone = await pushAs(s, alice, 'alice/app', 'gone');
    await pushAs(s, alice, 'alice/app', 'gone');
    const del = await v2Delete(alice, 'alice/app', gone);
    assert.equal(del.status, 202, await del.text());
    const r = expect(await restore(alice, 'alice/app', 'gone', gone), 409, 'CONFLICT');
    assert.match(r.body.errors[0].message, /no longer exists/);
    const entry = (await history(alice, 'alice/app', '?tag=gone')).find((e: any) => e.digest === gone);
    assert.equal(entry.restorable, false, 'not offered for restore');
    expect(await restore(alice, 'alice/app', 'v1', gone), 404, 'NOT_FOUND');
    expect(await restore(alice, 'alice/app', 'v1', 'sha256:nothex'), 400, 'INVALID');
    expect(await restore(alice, 'alice/app', 'Bad$Tag', first), 400, 'INVALID');
  });

  it('needs push: a reader may read the history but not restore', async () => {
    assert.ok((await history(bob, 'alice/app')).length > 0);
    const r = expect(await restore(bob, 'alice/app', 'v1', second), 403, 'DENIED');
    assert.match(r.body.errors[0].message, /push/);
    expect(await restore(null, 'alice/app', 'v1', second), 404, 'NOT_FOUND');
    assert.equal(await tagDigest(alice, 'alice/app', 'v1'), first, 'unchanged');
    // A pull-only access token of the owner cannot restore either; a push token can.
    const pull = expect(await call(s, 'POST', '/user/tokens', alice, { name: 'pull-only', scopes: ['pull'] }), 201).body.secret;
    expect(await restore({ bearer: pull }, 'alice/app', 'v1', second), 403, 'DENIED');
    const push = expect(await call(s, 'POST', '/user/tokens', alice, { name: 'push', scopes: ['pull', 'push'] }), 201).body.secret;
    expect(await restore({ bearer: push }, 'alice/app', 'v1', second), 200);
  });

  it('a private repository’s history answers exactly like a missing repository', async () => {
    const missing = await call(s, 'GET', '/repositories/alice/nothing-here/tag-history', carol);
    expect(missing, 404, 'NOT_FOUND');
    for (const who of [carol, null] as Creds[]) {
      const r = await call(s, 'GET', '/repositories/alice/app/tag-history', who);
      expect(r, 404, 'NOT_FOUND');
      assert.deepEqual(r.body, missing.body);
      const x = await restore(who, 'alice/app', 'v1', first);
      assert.deepEqual([x.status, x.body], [404, missing.body]);
      for (const digest of [first, second]) assert.ok(!r.text.includes(digest) && !x.text.includes(digest));
    }
    // Public: anyone reads it.
    expect(await call(s, 'PATCH', '/repositories/alice/app', alice, { visibility: 'public' }), 200);
    assert.ok((await history(null, 'alice/app')).length > 0);
    expect(await restore(carol, 'alice/app', 'v1', first), 403, 'DENIED');
    expect(await call(s, 'PATCH', '/repositories/alice/app', alice, { visibility: 'private' }), 200);
  });

  it('administrators read every history', async () => {
    assert.ok((await history(ADMIN, 'alice/app')).length > 0);
  });
});

describe('restore and garbage collection (storage.gc.untagged on, restore window 1 h)', () => {
  const HOUR = 3_600_000;
  const gcClock = new TestClock();
  const g = accountsServer({}, { config: { storage: { gc: { delay: HOUR, untagged: true, restorewindow: HOUR } } } as never, parts: { now: gcClock.now } });

  it('a deleted tag stays restorable through the window; once collection took its manifest, restore answers 409', async () => {
    const dora = await addUser(g, 'dora');
    const image = await pushAs(g, dora, 'dora/app', 'v1');
    const collector = backgroundOf(g.app).collector;
    const del = async () => assert.equal((await v2Delete(dora, 'dora/app', 'v1', g)).status, 202);
    await del();
    gcClock.advance(HOUR / 2);
    assert.equal((await collector.collect()).manifests, 0, 'within the window nothing goes');
    expect(await call(g, 'POST', '/repositories/dora/app/tags/v1/restore', dora, { digest: image }), 200);
    await del();
    gcClock.advance(HOUR + 1000);
    assert.equal((await collector.collect()).manifests, 1, 'after the window the untagged manifest goes');
    const [top] = expect(await call(g, 'GET', '/repositories/dora/app/tag-history', dora), 200).body.entries;
    assert.deepEqual([top.action, top.previousDigest, top.restorable], ['delete', image, false]);
    const r = expect(await call(g, 'POST', '/repositories/dora/app/tags/v1/restore', dora, { digest: image }), 409, 'CONFLICT');
    assert.match(r.body.errors[0].message, /no longer exists/);
  });
});
