// Wrong passwords typed for a user name lock that user's password, never its access tokens,
// its robots' secrets or its refresh tokens: those are 256 random bits, and guesses at them
// count against the guessing address only. Clients are told apart by X-Forwarded-For
// (http.trustproxy), as behind a load balancer.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { serverPerFile, type TestServer } from '../helpers/api-server.js';

const LOGIN_LIMIT = 10;
const ADDRESS_LIMIT = 30;
const ADMIN = { user: 'admin', password: 'admin-password-1' };
const server: TestServer = serverPerFile({
  config: {
    http: { trustproxy: '127.0.0.1' },
    auth: { token: {}, accounts: { adminpassword: ADMIN.password, bcryptcost: 4, loginlimit: LOGIN_LIMIT, addresslimit: ADDRESS_LIMIT } },
  },
});

type Creds = { user: string; password: string };
const basic = (c: Creds) => `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;
/** Each caller its own address. */
const from = (address: string) => ({ 'x-forwarded-for': address });
const ADMIN_ADDR = '10.9.9.9';

async function rest(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method,
    headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function admin(method: string, path: string, body?: unknown): Promise<any> {
  const r = await rest(method, path, { authorization: basic(ADMIN), ...from(ADMIN_ADDR) }, body);
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** GET /token with Basic credentials from an address: the status. */
async function getToken(c: Creds, address: string): Promise<number> {
  const res = await fetch(`${server.url}/token?service=berth&scope=repository:${c.user}/x:pull`, { headers: { authorization: basic(c), ...from(address) } });
  await res.arrayBuffer();
  return res.status;
}

async function postToken(form: Record<string, string>, address: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...from(address) },
    body: new URLSearchParams({ service: 'berth', client_id: 'docker', ...form }),
  });
  return { status: res.status, body: await res.json() };
}

/** A user with a personal access token, made by the admin and the user. */
async function userWithToken(name: string): Promise<{ password: Creds; token: Creds }> {
  const password = { user: name, password: `${name}-password-1` };
  await admin('POST', '/users', { username: name, password: password.password });
  const t = await rest('POST', '/user/tokens', { authorization: basic(password), ...from(ADMIN_ADDR) }, { name: 'ci', scopes: ['pull', 'push'] });
  assert.equal(t.status, 201);
  return { password, token: { user: name, password: t.body.secret } };
}

/** `count` wrong passwords for `user` from `address`; returns the statuses. */
async function wrongPasswords(user: string, address: string, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(await getToken({ user, password: `wrong-password-${i}` }, address));
  return out;
}

describe('failed-login limits and high-entropy secrets', () => {
  it("eleven wrong passwords for a user lock its password, not its access token, refresh token or its org's robot", async () => {
    const { password, token } = await userWithToken('victim');
    await admin('POST', '/orgs', { name: 'victimorg' });
    const robot = await rest('POST', '/orgs/victimorg/robots', { authorization: basic(ADMIN), ...from(ADMIN_ADDR) }, { name: 'ci' });
    assert.equal(robot.status, 201);
    const robotCreds = { user: robot.body.name as string, password: robot.body.secret as string };
    // CI logged in before the attack (docker login with the access token): a refresh token.
    const login = await postToken({ grant_type: 'password', username: token.user, password: token.password, access_type: 'offline' }, '10.1.0.1');
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const refresh = login.body.refresh_token as string;

    const attacker = '10.66.0.1';
    const statuses = [
      ...(await wrongPasswords(password.user, attacker, LOGIN_LIMIT + 1)),
      ...(await wrongPasswords(robotCreds.user, attacker, LOGIN_LIMIT + 1)),
    ];
    assert.deepEqual(statuses.filter((s) => s === 429).length, 2, `the 11th wrong password for each name is refused: ${statuses.join(',')}`);
    assert.deepEqual(await wrongPasswords(password.user, '10.1.0.2', 1), [429], "the user's password is locked, from any address");

    const ci = '10.1.0.3';
    assert.equal(await getToken(token, ci), 200, 'access token via /token (Basic)');
    assert.equal(await getToken(robotCreds, ci), 200, 'robot secret via /token (Basic)');
    const relogin = await postToken({ grant_type: 'password', username: token.user, password: token.password, access_type: 'offline' }, ci);
    assert.equal(relogin.status, 200, `docker login with the access token: ${JSON.stringify(relogin.body)}`);
    assert.equal(
      (await postToken({ grant_type: 'password', username: robotCreds.user, password: robotCreds.password }, ci)).status,
      200,
      'docker login with the robot secret',
    );
    assert.equal(
      (await postToken({ grant_type: 'refresh_token', refresh_token: refresh, scope: 'repository:victim/x:pull' }, ci)).status,
      200,
      'refresh token',
    );
    assert.equal((await rest('GET', '/user', { authorization: basic(token), ...from(ci) })).status, 200, 'REST API, Basic access token');
    assert.equal((await rest('GET', '/user', { authorization: `Bearer ${token.password}`, ...from(ci) })).status, 200, 'REST API, Bearer access token');
    assert.equal((await rest('GET', '/user', { authorization: basic(robotCreds), ...from(ci) })).status, 200, 'REST API, robot secret');
  });

  it('guessing access tokens from one address limits that address, not the user', async () => {
    const { password, token } = await userWithToken('target');
    const guesser = '10.77.0.1';
    const guess = () => ({ user: 'target', password: `berth_pat_${randomBytes(32).toString('base64url')}` });
    const statuses: number[] = [];
    for (let i = 0; i <= ADDRESS_LIMIT; i++) statuses.push(await getToken(guess(), guesser));
    assert.deepEqual([...new Set(statuses.slice(0, ADDRESS_LIMIT))], [401], 'each guess fails');
    assert.equal(statuses[ADDRESS_LIMIT], 429, 'then the address is limited');
    assert.equal(await getToken(token, guesser), 429, 'even the right token, from that address');
    assert.equal((await rest('GET', '/user', { authorization: `Bearer ${guess().password}`, ...from(guesser) })).status, 429, 'on the REST API too');
    // Far more guesses than the user limit, yet the user was never limited.
    assert.ok(ADDRESS_LIMIT > LOGIN_LIMIT);
    assert.equal(await getToken(password, '10.2.0.1'), 200, "the user's password works from elsewhere");
    assert.equal(await getToken(token, '10.2.0.2'), 200, 'and the token');
  });

  it('guessing refresh tokens from one address limits that address', async () => {
    const { token } = await userWithToken('refresher');
    const guesser = '10.88.0.1';
    const statuses: number[] = [];
    for (let i = 0; i <= ADDRESS_LIMIT; i++) {
      statuses.push((await postToken({ grant_type: 'refresh_token', refresh_token: `berth_rt_${randomBytes(32).toString('base64url')}` }, guesser)).status);
    }
    assert.deepEqual([...new Set(statuses.slice(0, ADDRESS_LIMIT))], [401]);
    assert.equal(statuses[ADDRESS_LIMIT], 429, 'then the address is limited');
    const login = await postToken({ grant_type: 'password', username: token.user, password: token.password, access_type: 'offline' }, '10.3.0.1');
    assert.equal(login.status, 200);
    assert.equal(
      (await postToken({ grant_type: 'refresh_token', refresh_token: login.body.refresh_token }, '10.3.0.1')).status,
      200,
      'from another address refresh works',
    );
  });
});
