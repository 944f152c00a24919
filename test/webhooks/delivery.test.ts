// Webhook delivery to a real HTTP receiver: signatures, one event per push, deletes,
// filters, the three payload formats, and who may manage (and receive) what.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { verifySignature } from '../../src/webhooks/signing.js';
import { ADMIN, type HookServer, type Receiver, call, deleteRef, settle, ok, pushImage, startWithTwoUsers, stopAll, type User } from './helpers.js';

describe('webhook delivery', () => {
  let s: HookServer, rx: Receiver, alice: User, bob: User;
  before(async () => ({ s, rx, alice, bob } = await startWithTwoUsers()));
  after(() => stopAll(s, rx));

  it('signs each delivery and sends one push event per pushed tag (plus repository.create)', async () => {
    const hook = await ok(call(s, 'POST', '/namespaces/alice/webhooks', alice, { url: rx.url, events: ['push', 'repository.create'] }), 201, 'create');
    assert.match(hook.secret, /^whsec_/);
    assert.equal(hook.format, 'dockerhub');
    // The secret is shown once.
    const again = await ok(call(s, 'GET', `/webhooks/${hook.id}`, alice));
    assert.equal(again.secret, undefined);

    const { digest } = await pushImage(s, alice, 'alice/app', 'v1', 3);
    await settle(s.clock, s);
    const reqs = rx.requests;
    assert.equal(reqs.length, 2, 'exactly two deliveries: blobs are not events');
    const push = rx.ofEvent('push');
    assert.equal(push.length, 1, 'one push event');
    assert.equal(rx.ofEvent('repository.create').length, 1);
    for (const r of reqs) {
      assert.ok(verifySignature(hook.secret, r.headers['berth-signature'] as string, r.body), 'signature verifies');
      assert.ok(!verifySignature('whsec_wrong', r.headers['berth-signature'] as string, r.body), 'a wrong secret does not verify');
      assert.ok(!verifySignature(hook.secret, r.headers['berth-signature'] as string, `${r.body} `), 'a changed body does not verify');
      assert.match(String(r.headers['berth-delivery']), /^[0-9a-f-]{36}$/);
      assert.equal(r.headers['content-type'], 'application/json');
      assert.match(String(r.headers['user-agent']), /^Berth-Webhooks\//);
    }
    const p = push[0].json;
    assert.equal(p.push_data.tag, 'v1');
    assert.equal(p.push_data.pusher, 'alice');
    assert.deepEqual(p.push_data.images, [digest]);
    assert.equal(p.repository.repo_name, 'alice/app');
    assert.equal(p.repository.namespace, 'alice');
    assert.equal(p.repository.name, 'app');
    assert.equal(p.repository.is_private, true);
    // A second push of another tag to the same repository: one more push, no repository.create.
    await pushImage(s, alice, 'alice/app', 'v2', 2);
    await settle(s.clock, s);
    assert.equal(rx.requests.length, 3);
    assert.equal(rx.ofEvent('push').length, 2);
    assert.equal(rx.ofEvent('repository.create').length, 1);
    await ok(call(s, 'DELETE', `/webhooks/${hook.id}`, alice), 204);
  });

  it('sends tag.delete and manifest.delete events in the distribution envelope', async () => {
    rx.requests.length = 0;
    const hook = await ok(
      call(s, 'POST', '/repositories/alice/del/webhooks', ADMIN, { url: rx.url, events: ['tag.delete', 'manifest.delete'], format: 'distribution' }),
      404,
      'repository missing',
    );
    void hook;
    const { digest } = await pushImage(s, alice, 'alice/del', 'one', 1);
    const h = await ok(
      call(s, 'POST', '/repositories/alice/del/webhooks', alice, { url: rx.url, events: ['tag.delete', 'manifest.delete'], format: 'distribution' }),
      201,
    );
    await pushImage(s, alice, 'alice/del', 'two', 1);
    await deleteRef(s, alice, 'alice/del', 'two');
    await deleteRef(s, alice, 'alice/del', digest);
    await settle(s.clock, s);
    const reqs = rx.requests;
    assert.equal(reqs.length, 2, 'the push was filtered out');
    for (const r of reqs) {
      assert.equal(r.headers['content-type'], 'application/vnd.docker.distribution.events.v2+json');
      assert.ok(verifySignature(h.secret, r.headers['berth-signature'] as string, r.body));
      const [e] = r.json.events;
      assert.equal(r.json.events.length, 1);
      assert.equal(e.action, 'delete');
      assert.equal(e.target.repository, 'alice/del');
      assert.equal(e.actor.name, 'alice');
      assert.ok(e.id && e.timestamp && e.request && e.source && typeof e.source.instanceID === 'string');
    }
    const tagDel = rx.ofEvent('tag.delete')[0].json.events[0];
    assert.equal(tagDel.target.tag, 'two');
    const manDel = rx.ofEvent('manifest.delete')[0].json.events[0];
    assert.equal(manDel.target.digest, digest);
  });

  it('filters by tag pattern and event type', async () => {
    rx.requests.length = 0;
    await pushImage(s, alice, 'alice/filt', 'seed', 1);
    await ok(call(s, 'POST', '/repositories/alice/filt/webhooks', alice, { url: rx.url, events: ['push'], tagPattern: 'release-*' }), 201);
    await ok(call(s, 'POST', '/repositories/alice/filt/webhooks', alice, { url: `${rx.url}?v`, events: ['push'], tagPattern: 'v?' }), 201);
    await ok(call(s, 'POST', '/repositories/alice/filt/webhooks', alice, { url: rx.url, tagPattern: '[bad' }), 400, 'invalid pattern');
    for (const tag of ['latest', 'release-1.0', 'v1', 'v10', 'release']) await pushImage(s, alice, 'alice/filt', tag, 1);
    await pushImage(s, alice, 'alice/filt', undefined, 1); // by digest: no tag, matches no pattern
    await settle(s.clock, s);
    const tags = rx.requests.map((r) => r.json.push_data.tag).sort();
    assert.deepEqual(tags, ['release-1.0', 'v1']);
  });

  it('renders each payload format with its required fields', async () => {
    rx.requests.length = 0;
    await pushImage(s, alice, 'alice/fmt', 'seed', 1);
    for (const format of ['dockerhub', 'distribution', 'cloudevents']) {
      await ok(call(s, 'POST', '/repositories/alice/fmt/webhooks', alice, { url: `${rx.url}?${format}`, format, tagPattern: 'x*' }), 201);
    }
    const { digest, size } = await pushImage(s, alice, 'alice/fmt', 'x1', 2);
    await settle(s.clock, s);
    assert.equal(rx.requests.length, 3, 'one per format');
    const byType = (ct: string) => rx.requests.find((r) => String(r.headers['content-type']).startsWith(ct))!;

    const hub = byType('application/json').json;
    assert.equal(typeof hub.push_data.pushed_at, 'number');
    assert.ok(Math.abs(hub.push_data.pushed_at - Date.now() / 1000) < 60);
    for (const k of ['repo_name', 'namespace', 'name', 'repo_url', 'is_private', 'owner', 'status'])
      assert.ok(k in hub.repository, `dockerhub repository.${k}`);

    const dist = byType('application/vnd.docker.distribution.events.v2+json').json;
    const e = dist.events[0];
    assert.equal(e.action, 'push');
    assert.deepEqual(
      { mediaType: e.target.mediaType, size: e.target.size, digest: e.target.digest, repository: e.target.repository, tag: e.target.tag },
      { mediaType: 'application/vnd.oci.image.manifest.v1+json', size, digest, repository: 'alice/fmt', tag: 'x1' },
    );
    assert.match(e.target.url, new RegExp(`/v2/alice/fmt/manifests/${digest}$`));
    assert.ok(!Number.isNaN(Date.parse(e.timestamp)));
    for (const k of ['addr', 'host', 'method', 'useragent']) assert.ok(k in e.request, `request.${k}`);
    assert.equal(e.request.method, 'PUT');
    assert.equal(e.actor.name, 'alice');
    assert.ok(e.source.addr && e.source.instanceID);

    const ce = byType('application/cloudevents+json').json;
    assert.equal(ce.specversion, '1.0');
    assert.equal(ce.type, 'io.berth.push');
    assert.ok(typeof ce.id === 'string' && ce.id.length > 0);
    assert.ok(typeof ce.source === 'string' && ce.source.length > 0);
    assert.ok(!Number.isNaN(Date.parse(ce.time)));
    assert.equal(ce.subject, 'alice/fmt:x1');
    assert.equal(ce.datacontenttype, 'application/json');
    assert.equal(ce.data.digest, digest);
    assert.equal(ce.data.tag, 'x1');
    // The same event id in both formats that carry one.
    assert.equal(ce.id, e.id);
  });

  it('keeps namespaces apart and hides private repositories from other callers', async () => {
    rx.requests.length = 0;
    await ok(call(s, 'POST', '/namespaces/bob/webhooks', bob, { url: rx.url, events: ['push', 'repository.create'] }), 201);
    // Bob cannot manage alice's webhooks: 403 for the namespace, 404 for her private repository.
    await ok(call(s, 'POST', '/namespaces/alice/webhooks', bob, { url: rx.url }), 403);
    await ok(call(s, 'GET', '/repositories/alice/app/webhooks', bob), 404);
    await ok(call(s, 'POST', '/repositories/alice/app/webhooks', bob, { url: rx.url }), 404);
    await ok(call(s, 'GET', '/repositories/alice/app/webhooks', null), 401);
    await ok(call(s, 'GET', '/namespaces/nobody/webhooks', bob), 404);
    // A webhook id of someone else's answers like a missing one.
    const mine = await ok(call(s, 'GET', '/repositories/alice/app/webhooks', alice));
    const aliceHooks = await ok(call(s, 'POST', '/repositories/alice/app/webhooks', alice, { url: rx.url, events: ['tag.delete'] }), 201);
    assert.ok(Array.isArray(mine.webhooks));
    await ok(call(s, 'GET', `/webhooks/${aliceHooks.id}`, bob), 404);
    await ok(call(s, 'DELETE', `/webhooks/${aliceHooks.id}`, bob), 404);
    await ok(call(s, 'GET', `/webhooks/${aliceHooks.id}/deliveries`, bob), 404);
    await ok(call(s, 'GET', `/webhooks/${aliceHooks.id}`, ADMIN), 200);
    // Alice's pushes never reach bob's namespace webhook.
    await pushImage(s, alice, 'alice/secret', 'v1', 1);
    await pushImage(s, bob, 'bob/app', 'v1', 1);
    await settle(s.clock, s);
    assert.equal(rx.requests.length, 2, "bob's repository.create and push");
    assert.ok(
      rx.requests.every((r) => r.json.repository.namespace === 'bob'),
      'only bob/* events',
    );
    // The update API: deactivate, rotate the secret.
    const updated = await ok(call(s, 'PATCH', `/webhooks/${aliceHooks.id}`, alice, { active: false, rotateSecret: true, tagPattern: 'v*' }));
    assert.equal(updated.active, false);
    assert.equal(updated.tagPattern, 'v*');
    assert.match(updated.secret, /^whsec_/);
  });
});
