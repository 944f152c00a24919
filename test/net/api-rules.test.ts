// Network rules set per namespace through the REST API (token mode, administrators): applied
// at once on the replica that took the change and after its refresh on another, shown beside
// the configuration's, validated, and never changing what the configuration file sets.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { backgroundOf } from '../../src/app.js';
import { api, expectError, removeDir, startServer, type TestServer } from '../helpers/api-server.js';
import { TOKEN_AUTH, accountsOf } from '../helpers/token-client.js';

const ADMIN = `Basic ${Buffer.from('admin:admin-password-1').toString('base64')}`;
const BOB = `Basic ${Buffer.from('bob:bob-password-1').toString('base64')}`;
const json = (auth: string, method: string, body?: unknown): RequestInit => ({
  method,
  headers: { Authorization: auth, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
  ...(body === undefined ? {} : { body: JSON.stringify(body) }),
});
const config = { ...TOKEN_AUTH, network: { namespaces: { fixed: { push: { deny: ['192.0.2.0/24'] } } } } };

describe('network rules through the API', () => {
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    a = await startServer({ config });
    // A second replica on the same database.
    b = await startServer({ dir: a.dir, config });
    const accounts = await accountsOf(a);
    await accounts.service.createUser({ username: 'bob', password: 'bob-password-1' }, { actor: null, action: 'user.create', target: 'bob' });
    await accounts.close();
  });
  after(async () => {
    await b?.close();
    await a?.close();
    if (a) removeDir(a.dir);
  });

  it("an administrator's rules apply at once here, and on another replica after its refresh", async () => {
    // Before: the pull reaches authentication.
    await expectError(await api(a.url, '/v2/team/app/manifests/v1'), 401, 'UNAUTHORIZED');
    const put = await api(a.url, '/api/v1/namespaces/team/network-rules', json(ADMIN, 'PUT', { pull: { deny: ['127.0.0.1'] }, ui: { allow: ['10.0.0.0/8'] } }));
    const text = await put.text();
    assert.equal(put.status, 200, text);
    const view = JSON.parse(text);
    assert.equal(view.namespace, 'team');
    assert.equal(view.source, 'api');
    assert.equal(view.updatedBy, 'admin');
    assert.deepEqual(view.rules, {
      pull: { allow: [], deny: ['127.0.0.1'] },
      push: { allow: [], deny: [] },
      api: { allow: [], deny: [] },
      ui: { allow: ['10.0.0.0/8'], deny: [] },
    });
    const body = await expectError(await api(a.url, '/v2/team/app/manifests/v1'), 403, 'DENIED');
    assert.equal(
      body.errors[0].message,
      'pull to namespace "team" from 127.0.0.1 is denied by network rule /api/v1/namespaces/team/network-rules pull.deny (127.0.0.1)',
    );
    await expectError(await api(a.url, '/v2/other/app/manifests/v1'), 401, 'UNAUTHORIZED');
    // The other replica, once its refresh job has run (every 5 s; run now here).
    await backgroundOf(b.app).jobs.runNow('network-rules-refresh');
    await expectError(await api(b.url, '/v2/team/app/manifests/v1'), 403, 'DENIED');
  });

  it('the list shows the global rules and every namespace with its source', async () => {
    const res = await api(a.url, '/api/v1/network-rules', json(ADMIN, 'GET'));
    const all = JSON.parse(await res.text());
    assert.equal(res.status, 200);
    assert.deepEqual(all.global.pull, { allow: [], deny: [] });
    assert.deepEqual(
      all.namespaces.map((n: { namespace: string; source: string }) => [n.namespace, n.source]),
      [
        ['fixed', 'config'],
        ['team', 'api'],
      ],
    );
    const one = await api(a.url, '/api/v1/namespaces/fixed/network-rules', json(ADMIN, 'GET'));
    assert.deepEqual(JSON.parse(await one.text()).rules.push, { allow: [], deny: ['192.0.2.0/24'] });
    await expectError(await api(a.url, '/api/v1/namespaces/nothing/network-rules', json(ADMIN, 'GET')), 404, 'NOT_FOUND');
  });

  it('administrators only: anonymous callers get 401, other users 403, and nothing changes', async () => {
    await expectError(await api(a.url, '/api/v1/namespaces/team/network-rules', { method: 'DELETE' }), 401, 'UNAUTHORIZED');
    await expectError(await api(a.url, '/api/v1/namespaces/team/network-rules', json(BOB, 'DELETE')), 403, 'DENIED');
    await expectError(await api(a.url, '/api/v1/namespaces/bob/network-rules', json(BOB, 'PUT', { pull: { allow: ['0.0.0.0/0'] } })), 403, 'DENIED');
    await expectError(await api(a.url, '/api/v1/network-rules', json(BOB, 'GET')), 403, 'DENIED');
    await expectError(await api(a.url, '/v2/team/app/manifests/v1'), 403, 'DENIED');
  });

  it('a bad entry is refused naming it, and the rules in force stay', async () => {
    const body = await expectError(
      await api(a.url, '/api/v1/namespaces/team/network-rules', json(ADMIN, 'PUT', { push: { allow: ['10.0.0.0/8', '10.0.0.0/33'] } })),
      400,
      'INVALID',
    );
    assert.equal(body.errors[0].message, 'push.allow[1]: "10.0.0.0/33" has an invalid prefix length (0 to 32 for IPv4)');
    await expectError(await api(a.url, '/api/v1/namespaces/team/network-rules', json(ADMIN, 'PUT', { pull: { block: [] } })), 400, 'INVALID');
    await expectError(await api(a.url, '/v2/team/app/manifests/v1'), 403, 'DENIED');
  });

  it('a namespace the configuration file sets is read-only here (409)', async () => {
    await expectError(await api(a.url, '/api/v1/namespaces/fixed/network-rules', json(ADMIN, 'PUT', { pull: { deny: ['127.0.0.1'] } })), 409, 'CONFLICT');
    await expectError(await api(a.url, '/api/v1/namespaces/fixed/network-rules', json(ADMIN, 'DELETE')), 409, 'CONFLICT');
  });

  it('removing the rules lets the global ones apply again', async () => {
    const del = await api(a.url, '/api/v1/namespaces/team/network-rules', json(ADMIN, 'DELETE'));
    assert.equal(del.status, 204);
    await expectError(await api(a.url, '/v2/team/app/manifests/v1'), 401, 'UNAUTHORIZED');
    await expectError(await api(a.url, '/api/v1/namespaces/team/network-rules', json(ADMIN, 'DELETE')), 404, 'NOT_FOUND');
  });
});
