// /api/v1 personal access tokens: shown once, usable as a password and as a Bearer
// token, scoped, revocable (with the refresh tokens their logins produced).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { TestClock } from '../helpers/clock.js';
import { accountsServer, addUser, call, expect, pushAs } from './helpers.js';

const clock = new TestClock();
const s = accountsServer({}, { parts: { now: clock.now } });
let nina: { user: string; password: string };

async function tokenRequest(query: Record<string, string | string[]>, creds?: { user: string; password: string }): Promise<Response> {
  const q = new URLSearchParams({ service: 'berth' });
  for (const [k, v] of Object.entries(query)) for (const x of [v].flat()) q.append(k, x);
  const headers: Record<string, string> = creds ? { authorization: `Basic ${Buffer.from(`${creds.user}:${creds.password}`).toString('base64')}` } : {};
  return fetch(`${s.url}/token?${q}`, { headers });
}

function grantedActions(jwt: string): { name: string; actions: string[] }[] {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')).access;
}

describe('api/v1 access tokens', () => {
  before(async () => {
    nina = await addUser(s, 'nina');
    await pushAs(s, nina, 'nina/app');
    await pushAs(s, nina, 'nina/other');
  });

  it('returns the secret once; lists never show it', async () => {
    const r = expect(await call(s, 'POST', '/user/tokens', nina, { name: 'laptop', scopes: ['pull', 'push'] }), 201);
    assert.match(r.body.secret, /^berth_pat_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(r.body.scopes, ['pull', 'push']);
    assert.equal(r.body.resource, null);
    assert.equal(r.body.expiresAt, null);
    const list = expect(await call(s, 'GET', '/user/tokens', nina), 200);
    assert.equal(list.text.includes(r.body.secret), false);
    assert.equal(list.text.includes('secret'), false);
    assert.deepEqual(
      list.body.tokens.map((t: { name: string }) => t.name),
      ['laptop'],
    );
  });

  it('works as a password with /token and the API, and as a Bearer token on the API', async () => {
    const { body } = expect(await call(s, 'POST', '/user/tokens', nina, { name: 'ci', scopes: ['pull'] }), 201);
    const asPassword = { user: 'nina', password: body.secret as string };
    const res = await tokenRequest({ scope: 'repository:nina/app:pull,push' }, asPassword);
    assert.equal(res.status, 200);
    const granted = grantedActions(((await res.json()) as { token: string }).token);
    assert.deepEqual(granted, [{ type: 'repository', name: 'nina/app', actions: ['pull'] }], 'a pull-only token cannot push');
    expect(await call(s, 'GET', '/user', asPassword), 200);
    const me = expect(await call(s, 'GET', '/user', { bearer: body.secret }), 200);
    assert.equal(me.body.name, 'nina');
    expect(await call(s, 'GET', '/repositories/nina/app', { bearer: body.secret }), 200);
    // The wrong user with a valid token is refused.
    const other = await addUser(s, 'oscar');
    expect(await call(s, 'GET', '/user', { user: other.user, password: body.secret }), 401);
  });

  it('cannot manage accounts or mint tokens (no escalation through a token)', async () => {
    const { body } = expect(await call(s, 'POST', '/user/tokens', nina, { name: 'narrow', scopes: ['pull'], resource: 'nina/app' }), 201);
    const bearer = { bearer: body.secret as string };
    expect(await call(s, 'POST', '/user/tokens', bearer, { name: 'wider', scopes: ['pull', 'push', 'delete'] }), 403, 'DENIED');
    expect(await call(s, 'POST', '/orgs', bearer, { name: 'token-org' }), 403);
    expect(await call(s, 'PATCH', '/repositories/nina/app', bearer, { visibility: 'public' }), 403);
    expect(await call(s, 'PUT', '/users/nina/password', bearer, { password: 'new-password-1', currentPassword: body.secret }), 403);
    // Limited to one repository: the API shows only that one.
    const listed = expect(await call(s, 'GET', '/repositories', bearer), 200);
    assert.deepEqual(
      listed.body.repositories.map((r: { name: string }) => r.name),
      ['nina/app'],
    );
    expect(await call(s, 'GET', '/repositories/nina/other', bearer), 404);
  });

  it('validates scopes, resource and expiry', async () => {
    expect(await call(s, 'POST', '/user/tokens', nina, { name: 'x', scopes: [] }), 400);
    expect(await call(s, 'POST', '/user/tokens', nina, { name: 'x', scopes: ['admin'] }), 400);
    expect(await call(s, 'POST', '/user/tokens', nina, { name: 'x', scopes: ['pull', 'pull'] }), 400);
    expect(await call(s, 'POST', '/user/tokens', nina, { name: 'x', scopes: ['pull'], resource: 'Not/Valid' }), 400);
    expect(await call(s, 'POST', '/user/tokens', nina, { name: 'x', scopes: ['pull'], resource: 'a/b/*' }), 400);
    expect(await call(s, 'POST', '/user/tokens', nina, { name: 'x', scopes: ['pull'], expiresAt: '2001-01-01T00:00:00Z' }), 400);
    expect(await call(s, 'POST', '/user/tokens', nina, { name: 'x', scopes: ['pull'], expiresAt: 'soon' }), 400);
    expect(await call(s, 'POST', '/user/tokens', nina, { name: 'x', scopes: ['pull'], expiresInDays: 1, expiresAt: Date.now() + 1000 }), 400);
    const ns = expect(await call(s, 'POST', '/user/tokens', nina, { name: 'ns', scopes: ['pull'], resource: 'nina/*', expiresInDays: 7 }), 201);
    assert.equal(ns.body.resource, 'nina/*');
    assert.ok(ns.body.expiresAt > Date.now() + 6 * 86_400_000);
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const timed = expect(await call(s, 'POST', '/user/tokens', nina, { name: 'hour', scopes: ['pull'], expiresAt: at }), 201);
    assert.equal(timed.body.expiresAt, Date.parse(at));
  });

  it('refuses an expired token', async () => {
    const expiresAt = clock.now() + 3_600_000;
    const { body } = expect(await call(s, 'POST', '/user/tokens', nina, { name: 'brief', scopes: ['pull'], expiresAt }), 201);
    const creds = { user: 'nina', password: body.secret as string };
    expect(await call(s, 'GET', '/user', { bearer: body.secret }), 200);
    clock.advanceTo(expiresAt - 1000);
    expect(await call(s, 'GET', '/user', { bearer: body.secret }), 200, undefined, 'a second before it expires');
    expect(await call(s, 'GET', '/user', creds), 200, undefined, 'as a password, a second before it expires');
    clock.advanceTo(expiresAt);
    expect(await call(s, 'GET', '/user', { bearer: body.secret }), 401, undefined, 'when it expires');
    expect(await call(s, 'GET', '/user', creds), 401, undefined, 'as a password, when it expires');
  });

  it('revocation stops the token and the refresh tokens it produced', async () => {
    const { body } = expect(await call(s, 'POST', '/user/tokens', nina, { name: 'revoke-me', scopes: ['pull'] }), 201);
    const creds = { user: 'nina', password: body.secret as string };
    const res = await tokenRequest({ scope: 'repository:nina/app:pull', offline_token: 'true', client_id: 'test' }, creds);
    const refresh = ((await res.json()) as { refresh_token: string }).refresh_token;
    assert.match(refresh, /^berth_rt_/);

    const other = await addUser(s, 'pia');
    expect(await call(s, 'DELETE', `/user/tokens/${body.id}`, other), 404, undefined, "someone else's token");
    expect(await call(s, 'DELETE', `/user/tokens/${body.id}`, { bearer: body.secret }), 403, undefined, 'needs a password login');
    expect(await call(s, 'DELETE', `/user/tokens/${body.id}`, nina), 204);
    expect(await call(s, 'DELETE', '/user/tokens/999999', nina), 404);
    expect(await call(s, 'DELETE', '/user/tokens/abc', nina), 400);

    expect(await call(s, 'GET', '/user', creds), 401);
    expect(await call(s, 'GET', '/user', { bearer: body.secret }), 401);
    const refreshed = await fetch(`${s.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, service: 'berth', client_id: 'test' }),
    });
    assert.equal(refreshed.status, 401);
    const listed = expect(await call(s, 'GET', '/user/tokens', nina), 200);
    assert.ok(listed.body.tokens.find((t: { id: number }) => t.id === body.id).revokedAt > 0);
  });
});
