// Watching: PUT/DELETE …/watch, the in-app list of new tags (visibility checked when
// read), and personal webhooks that fire for watched repositories the owner may see.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ADMIN, type HookServer, type Receiver, addUser, call, settle, ok, pushImage, startWithTwoUsers, stopAll, type User } from './helpers.js';

describe('watching', () => {
  let s: HookServer, rx: Receiver, alice: User, bob: User, carol: User;

  before(async () => {
    ({ s, rx, alice, bob } = await startWithTwoUsers());
    carol = await addUser(s, 'carol');
    await pushImage(s, alice, 'alice/pub', 'v0', 1);
    await pushImage(s, alice, 'alice/priv', 'v0', 1);
    await ok(call(s, 'PATCH', '/repositories/alice/pub', alice, { visibility: 'public' }));
    await ok(call(s, 'PUT', '/repositories/alice/priv/collaborators/carol', alice, { permission: 'read' }));
  });
  after(() => stopAll(s, rx));

  it('watches only repositories the caller can see', async () => {
    await ok(call(s, 'PUT', '/repositories/alice/priv/watch', bob), 404);
    await ok(call(s, 'GET', '/repositories/alice/priv/watch', bob), 404);
    await ok(call(s, 'PUT', '/repositories/alice/pub/watch', null), 401);
    const w = await ok(call(s, 'PUT', '/repositories/alice/pub/watch', bob));
    assert.equal(w.watching, true);
    assert.equal((await ok(call(s, 'GET', '/repositories/alice/pub/watch', bob))).watching, true);
    await ok(call(s, 'PUT', '/repositories/alice/pub/watch', bob)); // idempotent
    await ok(call(s, 'PUT', '/repositories/alice/priv/watch', carol));
    await ok(call(s, 'PUT', '/repositories/alice/pub/watch', carol));
    // The repository routes still answer for the repository itself.
    assert.equal((await ok(call(s, 'GET', '/repositories/alice/pub', bob))).name, 'alice/pub');
    const list = await ok(call(s, 'GET', '/user/watching', carol));
    assert.deepEqual(
      list.watching.map((x: any) => x.repository),
      ['alice/priv', 'alice/pub'],
    );
  });

  it('lists new tags of watched repositories and hides those the caller may no longer see', async () => {
    await pushImage(s, alice, 'alice/pub', 'v1', 1);
    await pushImage(s, alice, 'alice/priv', 'v1', 1);
    await pushImage(s, alice, 'alice/priv', undefined, 1); // no tag: not a notification
    const bobs = await ok(call(s, 'GET', '/user/notifications', bob));
    assert.deepEqual(
      bobs.notifications.map((n: any) => `${n.repository}:${n.tag}`),
      ['alice/pub:v1'],
    );
    assert.equal(bobs.notifications[0].pusher, 'alice');
    assert.equal(bobs.unread, 1);
    const carols = await ok(call(s, 'GET', '/user/notifications', carol));
    assert.deepEqual(
      carols.notifications.map((n: any) => `${n.repository}:${n.tag}`),
      ['alice/priv:v1', 'alice/pub:v1'],
    );
    // Seen: nothing unread until the next push.
    await ok(call(s, 'POST', '/user/notifications/seen', carol), 204);
    assert.equal((await ok(call(s, 'GET', '/user/notifications', carol))).unread, 0);
    // Carol loses access: alice/priv disappears from her list at once.
    await ok(call(s, 'DELETE', '/repositories/alice/priv/collaborators/carol', alice), 204);
    const after = await ok(call(s, 'GET', '/user/notifications', carol));
    assert.deepEqual(
      after.notifications.map((n: any) => n.repository),
      ['alice/pub'],
    );
    assert.deepEqual(
      (await ok(call(s, 'GET', '/user/watching', carol))).watching.map((x: any) => x.repository),
      ['alice/pub'],
    );
    // Unwatching works even without access any more; then nothing more is listed.
    await ok(call(s, 'DELETE', '/repositories/alice/priv/watch', carol), 204);
    await ok(call(s, 'DELETE', '/repositories/alice/pub/watch', bob), 204);
    await pushImage(s, alice, 'alice/pub', 'v2', 1);
    assert.deepEqual((await ok(call(s, 'GET', '/user/notifications', bob))).notifications, []);
  });

  it('starring watches the repository; unstarring removes only that watch', async () => {
    const erin = await addUser(s, 'erin');
    await ok(call(s, 'PUT', '/repositories/alice/pub/star', erin));
    const list = await ok(call(s, 'GET', '/user/watching', erin));
    assert.deepEqual(
      list.watching.map((x: any) => [x.repository, x.source]),
      [['alice/pub', 'star']],
    );
    await pushImage(s, alice, 'alice/pub', 'starred', 1);
    const notes = await ok(call(s, 'GET', '/user/notifications', erin));
    assert.ok(
      notes.notifications.some((n: any) => n.repository === 'alice/pub' && n.tag === 'starred'),
      'a starrer hears of new tags',
    );
    await ok(call(s, 'DELETE', '/repositories/alice/pub/star', erin));
    assert.deepEqual((await ok(call(s, 'GET', '/user/watching', erin))).watching, []);
    // An explicit watch survives starring and unstarring.
    await ok(call(s, 'PUT', '/repositories/alice/pub/watch', erin));
    await ok(call(s, 'PUT', '/repositories/alice/pub/star', erin));
    await ok(call(s, 'DELETE', '/repositories/alice/pub/star', erin));
    assert.deepEqual(
      (await ok(call(s, 'GET', '/user/watching', erin))).watching.map((x: any) => x.source),
      ['watch'],
    );
  });

  it('personal webhooks fire for watched repositories the owner may see', async () => {
    const dave = await addUser(s, 'dave');
    await ok(call(s, 'PUT', '/repositories/alice/priv/collaborators/dave', alice, { permission: 'read' }));
    await ok(call(s, 'PUT', '/repositories/alice/priv/watch', dave));
    await ok(call(s, 'PUT', '/repositories/alice/pub/watch', dave));
    const hook = await ok(call(s, 'POST', '/user/webhooks', dave, { url: rx.url, format: 'cloudevents' }), 201);
    assert.deepEqual(hook.scope, { kind: 'user', name: 'dave' });
    await pushImage(s, alice, 'alice/pub', 'w1', 1);
    await pushImage(s, alice, 'alice/priv', 'w1', 1);
    await pushImage(s, alice, 'alice/other', 'w1', 1); // not watched
    await settle(s.clock, s);
    assert.deepEqual(rx.requests.map((r) => r.json.subject).sort(), ['alice/priv:w1', 'alice/pub:w1']);
    // Dave loses access to alice/priv: its next push is not sent to him (skipped at delivery).
    await ok(call(s, 'DELETE', '/repositories/alice/priv/collaborators/dave', alice), 204);
    await pushImage(s, alice, 'alice/priv', 'w2', 1);
    await pushImage(s, alice, 'alice/pub', 'w2', 1);
    await settle(s.clock, s);
    assert.deepEqual(rx.requests.map((r) => r.json.subject).sort(), ['alice/priv:w1', 'alice/pub:w1', 'alice/pub:w2']);
    const skipped = await ok(call(s, 'GET', `/webhooks/${hook.id}/deliveries?status=skipped`, dave));
    assert.equal(skipped.deliveries.length, 1);
    assert.equal(skipped.deliveries[0].repository, 'alice/priv');
    // Others cannot see dave's webhook; admins can.
    await ok(call(s, 'GET', `/webhooks/${hook.id}`, alice), 404);
    await ok(call(s, 'GET', `/webhooks/${hook.id}`, ADMIN), 200);
  });
});
