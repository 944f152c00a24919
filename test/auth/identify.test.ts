// One way of identifying the caller for every surface: the same credential is taken as
// the same account, or refused the same way, by GET /token, the REST API (/api/v1), the
// UI's JSON routes (/ui/api) and Docker search (/v1/search); registry tokens by /v2 and
// /v1/search, and by no surface that manages accounts.
import assert from 'node:assert/strict';
import { describe, it, before } from 'node:test';
import { serverPerFile, type TestServer } from '../helpers/api-server.js';
import { ADMIN, addUser, call, pushAs, registryToken } from '../api-v1/helpers.js';
import { signIn } from '../ui/helpers.js';

const server: TestServer = serverPerFile({
  config: { auth: { token: {}, accounts: { adminpassword: ADMIN.password, bcryptcost: 4, loginlimit: 1000, addresslimit: 1000 } } },
});

type Creds = { user: string; password: string };
const basic = (c: Creds) => `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;

/** Who each surface takes the request's caller to be: a user name, '' for anonymous, or the status of a refusal. */
async function verdicts(headers: Record<string, string>): Promise<Record<string, string | number>> {
  const s = server;
  const token = await fetch(`${s.url}/token?service=berth`, { headers });
  const tokenBody = (await token.json()) as { token?: string };
  const sub = token.status === 200 ? JSON.parse(Buffer.from(tokenBody.token!.split('.')[1], 'base64url').toString()).sub : token.status;

  const api = await fetch(`${s.url}/api/v1/user`, { headers });
  const apiBody = (await api.json()) as { name?: string };
  const me = api.status === 200 ? apiBody.name! : api.status;

  // The UI's JSON route shows a private repository only to those who may pull it.
  const ui = await fetch(`${s.url}/ui/api/tags?repository=owner1/private`, { headers });
  await ui.arrayBuffer();
  const uiSees = ui.status === 200 ? 'sees' : ui.status === 404 ? 'not' : ui.status;

  const search = await fetch(`${s.url}/v1/search?q=private`, { headers });
  let results: string[] | number = search.status;
  if (search.status === 200) results = ((await search.json()) as { results: { name: string }[] }).results.map((r) => r.name);
  else await search.arrayBuffer();
  const searchSees = Array.isArray(results) ? (results.includes('owner1/private') ? 'sees' : 'not') : results;
  return { token: sub, api: me, ui: uiSees, search: searchSees };
}

let owner: Creds;
let stranger: Creds;
let pat: string;

describe('the same credential on every surface', () => {
  before(async () => {
    owner = await addUser(server, 'owner1');
    stranger = await addUser(server, 'stranger1');
    await pushAs(server, owner, 'owner1/private');
    const t = await call(server, 'POST', '/user/tokens', owner, { name: 'ci', scopes: ['pull'] });
    assert.equal(t.status, 201);
    pat = t.body.secret;
  });

  it('a password, and an access token by Basic or Bearer, are the same account everywhere', async () => {
    const expected = { token: 'owner1', api: 'owner1', ui: 'sees', search: 'sees' };
    assert.deepEqual(await verdicts({ authorization: basic(owner) }), expected, 'password');
    assert.deepEqual(await verdicts({ authorization: basic({ user: 'owner1', password: pat }) }), expected, 'access token, Basic');
    assert.deepEqual(await verdicts({ authorization: `Bearer ${pat}` }), expected, 'access token, Bearer');
    assert.deepEqual(await verdicts({ authorization: basic(stranger) }), { token: 'stranger1', api: 'stranger1', ui: 'not', search: 'not' }, 'another user');
  });

  it('no credentials: anonymous everywhere', async () => {
    assert.deepEqual(await verdicts({}), { token: '', api: 401, ui: 'not', search: 'not' });
  });

  it('wrong, malformed or unknown credentials are refused with 401 everywhere, /token included', async () => {
    const refused = { token: 401, api: 401, ui: 401, search: 401 };
    assert.deepEqual(await verdicts({ authorization: basic({ user: 'owner1', password: 'wrong-password' }) }), refused, 'wrong password');
    assert.deepEqual(await verdicts({ authorization: 'Basic !!!not-base64' }), refused, 'malformed Basic');
    assert.deepEqual(await verdicts({ authorization: 'Digest username="owner1"' }), refused, 'unsupported scheme');
    assert.deepEqual(await verdicts({ authorization: 'Bearer berth_pat_madeup' }), refused, 'unknown access token');
  });

  it('a registry token names its subject to /v1/search, is refused by the surfaces that manage accounts, and works on /v2', async () => {
    const jwt = await registryToken(server, owner, ['repository:owner1/private:pull']);
    assert.deepEqual(await verdicts({ authorization: `Bearer ${jwt}` }), { token: 401, api: 401, ui: 401, search: 'sees' });
    const v2 = await fetch(`${server.url}/v2/owner1/private/tags/list`, { headers: { authorization: `Bearer ${jwt}` } });
    assert.equal(v2.status, 200);
  });

  it("a deleted user's password, access token and registry token are refused everywhere", async () => {
    const gone = await addUser(server, 'gone1');
    await pushAs(server, gone, 'gone1/app');
    const t = await call(server, 'POST', '/user/tokens', gone, { name: 'ci', scopes: ['pull'] });
    const jwt = await registryToken(server, gone, ['repository:gone1/app:pull']);
    assert.equal((await call(server, 'DELETE', '/users/gone1', ADMIN)).status, 204);
    const refused = { token: 401, api: 401, ui: 401, search: 401 };
    assert.deepEqual(await verdicts({ authorization: basic(gone) }), refused, 'password');
    assert.deepEqual(await verdicts({ authorization: `Bearer ${t.body.secret}` }), refused, 'access token');
    assert.deepEqual(await verdicts({ authorization: `Bearer ${jwt}` }), refused, 'registry token');
    const v2 = await fetch(`${server.url}/v2/gone1/app/tags/list`, { headers: { authorization: `Bearer ${jwt}` } });
    assert.equal(v2.status, 401);
    assert.match(v2.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
  });

  it('a UI session with its CSRF header is the account on the API and the UI, and no credential elsewhere', async () => {
    const session = await signIn(server, owner.user, owner.password);
    const v = await verdicts({ cookie: session.cookie, 'x-berth-csrf': session.csrf });
    assert.deepEqual(v, { token: '', api: 'owner1', ui: 'sees', search: 'not' });
  });
});
