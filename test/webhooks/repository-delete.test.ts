// Deleting a whole repository: namespace administrators only, everything under it goes
// (tags, manifests, blob links), its blobs are queued for garbage collection, and a
// repository.delete webhook event is delivered.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openMetadata } from '../../src/app.js';
import { TokenClient } from '../helpers/token-client.js';
import { ADMIN, type HookServer, type Receiver, call, settle, ok, pushImage, startWithTwoUsers, stopAll, type User } from './helpers.js';

describe('repository delete', () => {
  let s: HookServer, rx: Receiver, alice: User, bob: User;
  before(async () => ({ s, rx, alice, bob } = await startWithTwoUsers()));
  after(() => stopAll(s, rx));

  it('only namespace administrators delete; outsiders get the 404 of a missing repository', async () => {
    await pushImage(s, alice, 'alice/doomed', 'v1', 2);
    await ok(call(s, 'PUT', '/repositories/alice/doomed/collaborators/bob', alice, { permission: 'admin' }));
    await ok(call(s, 'DELETE', '/repositories/alice/doomed', bob), 403, 'an admin collaborator is not a namespace administrator');
    await ok(call(s, 'DELETE', '/repositories/alice/doomed/collaborators/bob', alice), 204);
    const missing = await call(s, 'DELETE', '/repositories/alice/nothing', bob);
    const hidden = await call(s, 'DELETE', '/repositories/alice/doomed', bob);
    assert.equal(hidden.status, 404);
    assert.deepEqual(hidden.body, missing.body);
    await ok(call(s, 'DELETE', '/repositories/alice/doomed', null), 401);
  });

  it('removes tags, manifests and blob links, queues the blobs for review and sends repository.delete', async () => {
    await ok(call(s, 'POST', '/namespaces/alice/webhooks', alice, { url: rx.url, events: ['repository.delete'] }), 201);
    const pushed = await pushImage(s, alice, 'alice/gone', 'v1', 2);
    await ok(call(s, 'DELETE', '/repositories/alice/gone', alice), 204);
    await ok(call(s, 'GET', '/repositories/alice/gone', alice), 404);
    const c = new TokenClient(s.url, alice);
    const tags = await c.fetch('/v2/alice/gone/tags/list');
    assert.equal(tags.status, 404);
    assert.equal(((await tags.json()) as any).errors[0].code, 'NAME_UNKNOWN');
    assert.equal((await c.fetch(`/v2/alice/gone/manifests/${pushed.digest}`)).status, 404);
    await settle(s.clock, s);
    const reqs = rx.requests;
    assert.equal(reqs.length, 1);
    assert.equal(rx.ofEvent('repository.delete').length, 1);
    assert.match(reqs[0].body.toString(), /alice\/gone/);
    const meta = await openMetadata(s.config);
    try {
      const review = await meta.db.selectFrom('gc_blob_review').select('digest').execute();
      assert.ok(
        review.some((r) => r.digest === pushed.digest),
        'the manifest bytes are queued for garbage collection',
      );
    } finally {
      await meta.close();
    }
    const log = await ok(call(s, 'GET', '/audit?n=50', ADMIN));
    assert.ok(JSON.stringify(log).includes('repository.delete'));
    // The name is free for a new push.
    await pushImage(s, alice, 'alice/gone', 'v2', 1);
    await ok(call(s, 'GET', '/repositories/alice/gone', alice));
  });
});
