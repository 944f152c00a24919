// Who administers a repository is decided by one rule (auth/policy.ts
// mayAdministerRepository), and every route that needs it asks that rule: the
// collaborators (repository routes), the webhooks (webhook routes) and the comment
// settings (index routes) agree for every kind of caller.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ADMIN, type Creds, accountsServer, addUser, call, expect, pushAs } from './helpers.js';

const s = accountsServer();
const callers: Record<string, Creds> = {};

/** The status each route family answers `who` for `repo`. */
async function answers(who: Creds, repo: string): Promise<Record<string, number>> {
  return {
    collaborators: (await call(s, 'GET', `/repositories/${repo}/collaborators`, who)).status,
    webhooks: (await call(s, 'GET', `/repositories/${repo}/webhooks`, who)).status,
    comments: (await call(s, 'PUT', `/repositories/${repo}/comments/settings`, who, { enabled: true })).status,
  };
}

describe('repository administration: one rule, every route', () => {
  before(async () => {
    for (const name of ['alice', 'olga', 'tom', 'wes', 'bob', 'carl']) callers[name] = await addUser(s, name);
    callers.root = ADMIN;
    await pushAs(s, callers.alice as { user: string; password: string }, 'alice/app');
    expect(await call(s, 'PATCH', '/repositories/alice/app', callers.alice, { visibility: 'public' }), 200);
    expect(await call(s, 'PUT', '/repositories/alice/app/collaborators/bob', callers.alice, { permission: 'admin' }), 200);
    expect(await call(s, 'PUT', '/repositories/alice/app/collaborators/carl', callers.alice, { permission: 'write' }), 200);

    expect(await call(s, 'POST', '/orgs', callers.olga, { name: 'acme' }), 201);
    await pushAs(s, callers.olga as { user: string; password: string }, 'acme/app');
    expect(await call(s, 'PATCH', '/repositories/acme/app', callers.olga, { visibility: 'public' }), 200);
    for (const [team, permission, members] of [
      ['admins', 'admin', ['tom', 'acme+ci']],
      ['writers', 'write', ['wes']],
    ] as const) {
      expect(await call(s, 'POST', '/orgs/acme/teams', callers.olga, { name: team, permission }), 201);
      for (const m of members) {
        if (!m.includes('+')) expect(await call(s, 'PUT', `/orgs/acme/members/${m}`, callers.olga, { role: 'member' }), 200);
        else if (!callers.robot) {
          const robot = expect(await call(s, 'POST', '/orgs/acme/robots', callers.olga, { name: 'ci' }), 201);
          callers.robot = { user: 'acme+ci', password: robot.body.secret };
        }
        expect(await call(s, 'PUT', `/orgs/acme/teams/${team}/members/${m}`, callers.olga), 204);
      }
    }
    for (const name of ['alice', 'olga']) {
      const t = expect(await call(s, 'POST', '/user/tokens', callers[name], { name: 'everything', scopes: ['pull', 'push', 'delete'] }), 201);
      callers[`${name}-token`] = { bearer: t.body.secret };
    }
  });

  const cases: [string, string, boolean][] = [
    ['alice', 'alice/app', true],
    ['bob', 'alice/app', true],
    ['carl', 'alice/app', false],
    ['olga', 'alice/app', false],
    ['root', 'alice/app', true],
    ['alice-token', 'alice/app', false],
    ['olga', 'acme/app', true],
    ['tom', 'acme/app', true],
    ['wes', 'acme/app', false],
    ['robot', 'acme/app', false],
    ['olga-token', 'acme/app', false],
    ['root', 'acme/app', true],
  ];

  for (const [who, repo, administers] of cases) {
    it(`${who} ${administers ? 'administers' : 'does not administer'} ${repo}, on every route`, async () => {
      const want = administers ? 200 : 403;
      assert.deepEqual(await answers(callers[who], repo), { collaborators: want, webhooks: want, comments: want });
    });
  }
});
