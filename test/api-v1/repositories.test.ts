// /api/v1 repositories: visibility, the private-repository 404 rule, collaborators.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ADMIN, accountsServer, addUser, call, expect, pushAs, type Creds } from './helpers.js';

const s = accountsServer();
let alice: { user: string; password: string };
let bob: { user: string; password: string };

const names = (r: { body: { repositories: { name: string }[] } }) => r.body.repositories.map((x) => x.name);

describe('api/v1 repositories', () => {
  before(async () => {
    alice = await addUser(s, 'alice');
    bob = await addUser(s, 'bob');
    await pushAs(s, alice, 'alice/secret-app');
    await pushAs(s, alice, 'alice/tools/deep');
    await pushAs(s, bob, 'bob/public-app');
    expect(await call(s, 'PATCH', '/repositories/bob/public-app', bob, { visibility: 'public' }), 200);
  });

  it('lists only what the caller can see', async () => {
    assert.deepEqual(names(expect(await call(s, 'GET', '/repositories', null), 200)), ['bob/public-app']);
    assert.deepEqual(names(expect(await call(s, 'GET', '/repositories', bob), 200)), ['bob/public-app']);
    assert.deepEqual(names(expect(await call(s, 'GET', '/repositories', alice), 200)), ['alice/secret-app', 'alice/tools/deep', 'bob/public-app']);
    assert.deepEqual(names(expect(await call(s, 'GET', '/repositories', ADMIN), 200)), ['alice/secret-app', 'alice/tools/deep', 'bob/public-app']);
    assert.deepEqual(names(expect(await call(s, 'GET', '/repositories?namespace=alice', alice), 200)), ['alice/secret-app', 'alice/tools/deep']);
    assert.deepEqual(names(expect(await call(s, 'GET', '/repositories?namespace=alice', bob), 200)), []);
    const page = expect(await call(s, 'GET', '/repositories?n=1', alice), 200);
    assert.deepEqual(names(page), ['alice/secret-app']);
    assert.deepEqual(names(expect(await call(s, 'GET', `/repositories?n=5&last=${page.body.next}`, alice), 200)), ['alice/tools/deep', 'bob/public-app']);
  });

  it('answers 404 for a private repository exactly as for a missing one', async () => {
    const outsiders: Creds[] = [null, bob];
    for (const who of outsiders) {
      const hidden = expect(await call(s, 'GET', '/repositories/alice/secret-app', who), 404, 'NOT_FOUND');
      const missing = expect(await call(s, 'GET', '/repositories/alice/no-such-app', who), 404, 'NOT_FOUND');
      assert.deepEqual(hidden.body, missing.body);
      assert.equal(hidden.text.includes('secret-app'), false);
      if (who) {
        const patchHidden = expect(await call(s, 'PATCH', '/repositories/alice/secret-app', who, { visibility: 'public' }), 404);
        const patchMissing = expect(await call(s, 'PATCH', '/repositories/alice/no-such-app', who, { visibility: 'public' }), 404);
        assert.deepEqual(patchHidden.body, patchMissing.body);
        const colHidden = expect(await call(s, 'GET', '/repositories/alice/secret-app/collaborators', who), 404);
        const colMissing = expect(await call(s, 'GET', '/repositories/alice/no-such-app/collaborators', who), 404);
        assert.deepEqual(colHidden.body, colMissing.body);
        expect(await call(s, 'PUT', '/repositories/alice/secret-app/collaborators/bob', who, { permission: 'admin' }), 404);
        expect(await call(s, 'DELETE', '/repositories/alice/secret-app/collaborators/alice', who), 404);
      }
    }
    expect(await call(s, 'PATCH', '/repositories/alice/secret-app', null, { visibility: 'public' }), 401);
  });

  it('shows a repository to those who may pull it, with their actions', async () => {
    const r = expect(await call(s, 'GET', '/repositories/alice/secret-app', alice), 200);
    assert.deepEqual(r.body, { name: 'alice/secret-app', namespace: 'alice', visibility: 'private', actions: ['pull', 'push', 'delete'] });
    const deep = expect(await call(s, 'GET', '/repositories/alice/tools/deep', alice), 200);
    assert.equal(deep.body.name, 'alice/tools/deep');
    const pub = expect(await call(s, 'GET', '/repositories/bob/public-app', null), 200);
    assert.deepEqual(pub.body.actions, ['pull']);
    expect(await call(s, 'GET', '/repositories/Bad..Name', alice), 400, 'INVALID');
  });

  it('collaborators see private repositories; only repository admins manage them', async () => {
    expect(await call(s, 'PUT', '/repositories/alice/secret-app/collaborators/bob', alice, { permission: 'read' }), 200);
    const seen = expect(await call(s, 'GET', '/repositories/alice/secret-app', bob), 200);
    assert.deepEqual(seen.body.actions, ['pull']);
    assert.ok(names(expect(await call(s, 'GET', '/repositories', bob), 200)).includes('alice/secret-app'));
    // A read collaborator can see it, so the refusals are 403 now, not 404.
    expect(await call(s, 'PATCH', '/repositories/alice/secret-app', bob, { visibility: 'public' }), 403);
    expect(await call(s, 'GET', '/repositories/alice/secret-app/collaborators', bob), 403);
    expect(await call(s, 'PUT', '/repositories/alice/secret-app/collaborators/bob', bob, { permission: 'admin' }), 403);

    const list = expect(await call(s, 'GET', '/repositories/alice/secret-app/collaborators', alice), 200);
    assert.deepEqual(list.body.collaborators, [{ name: 'bob', permission: 'read' }]);
    expect(await call(s, 'GET', '/repositories/alice/secret-app/collaborators/bob', alice), 200);
    expect(await call(s, 'PUT', '/repositories/alice/secret-app/collaborators/nobody-here', alice, { permission: 'read' }), 404);
    expect(await call(s, 'PUT', '/repositories/alice/secret-app/collaborators/bob', alice, { permission: 'owner' }), 400);

    // An admin collaborator administers the repository.
    expect(await call(s, 'PUT', '/repositories/alice/secret-app/collaborators/bob', alice, { permission: 'admin' }), 200);
    expect(await call(s, 'GET', '/repositories/alice/secret-app/collaborators', bob), 200);
    expect(await call(s, 'DELETE', '/repositories/alice/secret-app/collaborators/bob', bob), 204);
    expect(await call(s, 'GET', '/repositories/alice/secret-app', bob), 404);
    expect(await call(s, 'DELETE', '/repositories/alice/secret-app/collaborators/bob', alice), 404);
  });

  it('namespace admins change visibility; public repositories are seen by everyone', async () => {
    const r = expect(await call(s, 'PATCH', '/repositories/alice/tools/deep', alice, { visibility: 'public' }), 200);
    assert.equal(r.body.visibility, 'public');
    expect(await call(s, 'GET', '/repositories/alice/tools/deep', null), 200);
    expect(await call(s, 'PATCH', '/repositories/alice/tools/deep', alice, { visibility: 'secret' }), 400);
    expect(await call(s, 'PATCH', '/repositories/alice/tools/deep', bob, { visibility: 'private' }), 403);
    expect(await call(s, 'PATCH', '/repositories/alice/tools/deep', ADMIN, { visibility: 'private' }), 200);
    expect(await call(s, 'GET', '/repositories/alice/tools/deep', null), 404);
  });

  it("keeps a deleted owner's name reserved while its repositories remain", async () => {
    const carl = await addUser(s, 'carl');
    await pushAs(s, carl, 'carl/left-behind');
    expect(await call(s, 'DELETE', '/users/carl', ADMIN), 204);
    expect(await call(s, 'POST', '/users', ADMIN, { username: 'carl', password: 'carl-again-1' }), 409);
    expect(await call(s, 'POST', '/orgs', bob, { name: 'carl' }), 409);
  });

  it("organisation teams give their permission on the organisation's repositories", async () => {
    const olive = await addUser(s, 'olive');
    const tom = await addUser(s, 'tom');
    expect(await call(s, 'POST', '/orgs', olive, { name: 'widgets' }), 201);
    await pushAs(s, olive, 'widgets/api');
    expect(await call(s, 'GET', '/repositories/widgets/api', tom), 404);
    expect(await call(s, 'PUT', '/orgs/widgets/members/tom', olive, { role: 'member' }), 200);
    const asMember = expect(await call(s, 'GET', '/repositories/widgets/api', tom), 200);
    assert.deepEqual(asMember.body.actions, ['pull']);
    expect(await call(s, 'PATCH', '/repositories/widgets/api', tom, { visibility: 'public' }), 403);
    expect(await call(s, 'POST', '/orgs/widgets/teams', olive, { name: 'ops', permission: 'admin' }), 201);
    expect(await call(s, 'PUT', '/orgs/widgets/teams/ops/members/tom', olive), 204);
    const asAdmin = expect(await call(s, 'GET', '/repositories/widgets/api', tom), 200);
    assert.deepEqual(asAdmin.body.actions, ['pull', 'push', 'delete']);
    expect(await call(s, 'PATCH', '/repositories/widgets/api', tom, { visibility: 'public' }), 200);
  });
});
