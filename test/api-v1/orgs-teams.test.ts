// /api/v1 organisations, members, teams and robots.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ADMIN, accountsServer, addUser, call, expect, registryToken } from './helpers.js';

const s = accountsServer();
let owner: { user: string; password: string };
let member: { user: string; password: string };
let outsider: { user: string; password: string };

describe('api/v1 organisations, teams and robots', () => {
  before(async () => {
    owner = await addUser(s, 'olga');
    member = await addUser(s, 'mark');
    outsider = await addUser(s, 'otto');
    expect(await call(s, 'POST', '/orgs', owner, { name: 'acme' }), 201);
    expect(await call(s, 'PUT', '/orgs/acme/members/mark', owner, { role: 'member' }), 200);
  });

  describe('api/v1 organisations', () => {
    it('any signed-in user creates one and owns it; names are shared with users', async () => {
      const r = expect(await call(s, 'POST', '/orgs', outsider, { name: 'otto-corp' }), 201);
      assert.deepEqual({ name: r.body.name, role: r.body.role }, { name: 'otto-corp', role: 'owner' });
      expect(await call(s, 'POST', '/orgs', outsider, { name: 'otto-corp' }), 409);
      expect(await call(s, 'POST', '/orgs', outsider, { name: 'mark' }), 409, undefined, 'a user name');
      expect(await call(s, 'POST', '/users', ADMIN, { username: 'otto-corp', password: 'password-123' }), 409, undefined, 'an org name');
      expect(await call(s, 'POST', '/orgs', outsider, { name: 'Bad Name' }), 400, 'INVALID');
      expect(await call(s, 'POST', '/orgs', null, { name: 'anon-org' }), 401);
    });

    it('lists mine; admins see all', async () => {
      const mine = expect(await call(s, 'GET', '/orgs', member), 200);
      assert.deepEqual(mine.body.orgs, [{ name: 'acme', role: 'member' }]);
      const all = expect(await call(s, 'GET', '/orgs', ADMIN), 200);
      assert.ok(all.body.orgs.some((o: { name: string }) => o.name === 'otto-corp'));
      const me = expect(await call(s, 'GET', '/user', owner), 200);
      assert.deepEqual(me.body.orgs, [{ name: 'acme', role: 'owner' }]);
    });

    it('members read it; outsiders get 404 as for a missing one', async () => {
      expect(await call(s, 'GET', '/orgs/acme', member), 200);
      const a = expect(await call(s, 'GET', '/orgs/acme', outsider), 404);
      const b = expect(await call(s, 'GET', '/orgs/no-such-org', outsider), 404);
      assert.deepEqual(a.body, b.body);
      expect(await call(s, 'GET', '/orgs/acme/members', outsider), 404);
      expect(await call(s, 'GET', '/orgs/acme', ADMIN), 200);
    });

    it('only owners manage members; the last owner stays', async () => {
      expect(await call(s, 'PUT', '/orgs/acme/members/otto', member, { role: 'member' }), 403, 'DENIED');
      expect(await call(s, 'PUT', '/orgs/acme/members/otto', outsider, { role: 'owner' }), 404);
      expect(await call(s, 'PUT', '/orgs/acme/members/olga', owner, { role: 'member' }), 409);
      expect(await call(s, 'DELETE', '/orgs/acme/members/olga', owner), 409);
      expect(await call(s, 'PUT', '/orgs/acme/members/nobody-at-all', owner, { role: 'member' }), 404);
      expect(await call(s, 'PUT', '/orgs/acme/members/otto', owner, { role: 'boss' }), 400);
      const members = expect(await call(s, 'GET', '/orgs/acme/members', member), 200);
      assert.deepEqual(members.body.members, [
        { name: 'mark', role: 'member' },
        { name: 'olga', role: 'owner' },
      ]);
      expect(await call(s, 'GET', '/orgs/acme/members/mark', member), 200);
    });

    it('a member may leave; a deleted owner of a sole-owned org is refused', async () => {
      const pat = await addUser(s, 'pat');
      expect(await call(s, 'PUT', '/orgs/acme/members/pat', owner, { role: 'member' }), 200);
      expect(await call(s, 'DELETE', '/orgs/acme/members/pat', pat), 204);
      expect(await call(s, 'GET', '/orgs/acme', pat), 404);
      expect(await call(s, 'DELETE', '/users/olga', ADMIN), 409);
    });

    it('owners delete it; the name is free again', async () => {
      const q = await addUser(s, 'quinn');
      expect(await call(s, 'POST', '/orgs', q, { name: 'tmp-org' }), 201);
      expect(await call(s, 'DELETE', '/orgs/tmp-org', outsider), 404);
      expect(await call(s, 'DELETE', '/orgs/tmp-org', q), 204);
      expect(await call(s, 'GET', '/orgs/tmp-org', q), 404);
      expect(await call(s, 'POST', '/orgs', outsider, { name: 'tmp-org' }), 201);
    });
  });

  describe('api/v1 teams', () => {
    it('owners create, change and delete teams; members read them', async () => {
      const r = expect(await call(s, 'POST', '/orgs/acme/teams', owner, { name: 'builders', permission: 'write' }), 201);
      assert.deepEqual(r.body, { name: 'builders', permission: 'write', members: [] });
      expect(await call(s, 'POST', '/orgs/acme/teams', owner, { name: 'builders', permission: 'read' }), 409);
      expect(await call(s, 'POST', '/orgs/acme/teams', owner, { name: 'x!', permission: 'read' }), 400, 'INVALID');
      expect(await call(s, 'POST', '/orgs/acme/teams', owner, { name: 'readers', permission: 'owner' }), 400);
      expect(await call(s, 'POST', '/orgs/acme/teams', member, { name: 'sneaky', permission: 'admin' }), 403);
      const p = expect(await call(s, 'PATCH', '/orgs/acme/teams/builders', owner, { permission: 'admin' }), 200);
      assert.equal(p.body.permission, 'admin');
      expect(await call(s, 'PATCH', '/orgs/acme/teams/builders', member, { permission: 'read' }), 403);
      const list = expect(await call(s, 'GET', '/orgs/acme/teams', member), 200);
      assert.deepEqual(
        list.body.teams.map((t: { name: string }) => t.name),
        ['builders'],
      );
      expect(await call(s, 'GET', '/orgs/acme/teams', outsider), 404);
      expect(await call(s, 'GET', '/orgs/acme/teams/nope', member), 404);
      expect(await call(s, 'POST', '/orgs/acme/teams', owner, { name: 'gone', permission: 'read' }), 201);
      expect(await call(s, 'DELETE', '/orgs/acme/teams/gone', member), 403);
      expect(await call(s, 'DELETE', '/orgs/acme/teams/gone', owner), 204);
      expect(await call(s, 'DELETE', '/orgs/acme/teams/gone', owner), 404);
    });

    it('team members must belong to the organisation', async () => {
      expect(await call(s, 'PUT', '/orgs/acme/teams/builders/members/mark', owner), 204);
      expect(await call(s, 'PUT', '/orgs/acme/teams/builders/members/otto', owner), 409);
      expect(await call(s, 'PUT', '/orgs/acme/teams/builders/members/mark', member), 403);
      const t = expect(await call(s, 'GET', '/orgs/acme/teams/builders', member), 200);
      assert.deepEqual(t.body.members, ['mark']);
      expect(await call(s, 'DELETE', '/orgs/acme/teams/builders/members/mark', owner), 204);
      expect(await call(s, 'DELETE', '/orgs/acme/teams/builders/members/mark', owner), 404);
    });
  });

  describe('api/v1 robots', () => {
    it('shows the secret once; it signs in to /token; rotation replaces it', async () => {
      const r = expect(await call(s, 'POST', '/orgs/acme/robots', owner, { name: 'ci' }), 201);
      assert.equal(r.body.name, 'acme+ci');
      assert.match(r.body.secret, /^berth_pat_/);
      expect(await call(s, 'POST', '/orgs/acme/robots', owner, { name: 'ci' }), 409);
      expect(await call(s, 'POST', '/orgs/acme/robots', member, { name: 'ci2' }), 403);
      expect(await call(s, 'POST', '/orgs/acme/robots', owner, { name: 'Bad+Name' }), 400, 'INVALID');
      const list = expect(await call(s, 'GET', '/orgs/acme/robots', owner), 200);
      assert.deepEqual(
        list.body.robots.map((x: { name: string }) => x.name),
        ['acme+ci'],
      );
      assert.equal(list.text.includes('berth_pat_'), false, 'secrets are never listed');
      expect(await call(s, 'GET', '/orgs/acme/robots', member), 403);

      const robot = { user: 'acme+ci', password: r.body.secret as string };
      await registryToken(s, robot, ['repository:acme/app:pull']);
      // A robot's secret is not a password login: it cannot manage accounts.
      expect(await call(s, 'POST', '/orgs', robot, { name: 'robot-org' }), 403);
      expect(await call(s, 'GET', '/user', robot), 200);
      // Robots may join their own organisation's teams.
      expect(await call(s, 'PUT', '/orgs/acme/teams/builders/members/acme+ci', owner), 204);

      const rotated = expect(await call(s, 'POST', '/orgs/acme/robots/ci/secret', owner), 200);
      assert.notEqual(rotated.body.secret, r.body.secret);
      expect(await call(s, 'GET', '/user', robot), 401, undefined, 'old secret');
      expect(await call(s, 'GET', '/user', { user: 'acme+ci', password: rotated.body.secret }), 200);

      expect(await call(s, 'DELETE', '/orgs/acme/robots/ci', member), 403);
      expect(await call(s, 'DELETE', '/orgs/acme/robots/ci', owner), 204);
      expect(await call(s, 'DELETE', '/orgs/acme/robots/ci', owner), 404);
      expect(await call(s, 'GET', '/user', { user: 'acme+ci', password: rotated.body.secret }), 401);
    });
  });
});
