// The built-in token service: challenges, GET and POST /token, refresh tokens,
// access tokens as passwords, login limits, and every way a token must be refused.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair, importJWK, importPKCS8, jwtVerify } from 'jose';
import { expectError, removeDir, startServer, type TestServer } from '../helpers/api-server.js';
import { TOKEN_AUTH, TokenClient, accountsOf, parseChallenge } from '../helpers/token-client.js';

let server: TestServer;
let accounts: Awaited<ReturnType<typeof accountsOf>>;
const alice = { user: 'alice', password: 'alice-password-1' };
const bob = { user: 'bob', password: 'bob-password-1' };

before(async () => {
  server = await startServer({ config: TOKEN_AUTH });
  accounts = await accountsOf(server);
  for (const u of [alice, bob])
    await accounts.service.createUser({ username: u.user, password: u.password }, { actor: 'test', action: 'user.create', target: u.user });
});
after(async () => {
  await accounts.close();
  await server.close();
  removeDir(server.dir);
});

function basic(c: { user: string; password: string }): string {
  return `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;
}

async function postToken(form: Record<string, string>): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: await res.json() };
}

describe('challenges', () => {
  it('GET /v2/ without a token answers 401 with a Bearer challenge naming realm and service', async () => {
    const res = await fetch(`${server.url}/v2/`);
    await expectError(res, 401, 'UNAUTHORIZED');
    const ch = parseChallenge(res.headers.get('www-authenticate'));
    assert.equal(ch?.realm, `${server.url}/token`);
    assert.equal(ch?.service, 'berth');
  });

  it('a repository request is challenged with its scope; push asks for pull,push', async () => {
    const pull = await fetch(`${server.url}/v2/alice/app/manifests/latest`);
    assert.equal(pull.status, 401);
    assert.equal(parseChallenge(pull.headers.get('www-authenticate'))?.scope, 'repository:alice/app:pull');
    const push = await fetch(`${server.url}/v2/alice/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(parseChallenge(push.headers.get('www-authenticate'))?.scope, 'repository:alice/app:pull,push');
    const cat = await fetch(`${server.url}/v2/_catalog`);
    assert.equal(parseChallenge(cat.headers.get('www-authenticate'))?.scope, 'registry:catalog:*');
  });

  it('GET /v2/ with any valid token (even anonymous) answers 200', async () => {
    const token = await new TokenClient(server.url).tokenFor([]);
    const res = await fetch(`${server.url}/v2/`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
  });
});

describe('GET /token', () => {
  it('grants the owner what it asks in its namespace and nothing in another', async () => {
    const c = new TokenClient(server.url, alice);
    const token = await c.tokenFor(['repository:alice/app:pull,push,delete', 'repository:bob/app:pull,push']);
    const claims = decodeJwt(token) as any;
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.iss, 'berth');
    assert.equal(claims.aud, 'berth');
    assert.ok(claims.exp - claims.iat <= 300);
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'alice/app', actions: ['pull', 'push', 'delete'] }]);
    assert.equal(decodeProtectedHeader(token).alg, 'ES256');
  });

  it('anonymous tokens carry no access to a missing or private repository', async () => {
    const token = await new TokenClient(server.url).tokenFor(['repository:alice/app:pull']);
    assert.deepEqual((decodeJwt(token) as any).access, []);
    assert.equal(decodeJwt(token).sub, '');
  });

  it('refuses a wrong password and an unknown user alike', async () => {
    const wrong = await fetch(`${server.url}/token?service=berth`, { headers: { Authorization: basic({ user: 'bob', password: 'nope-nope-1' }) } });
    const unknown = await fetch(`${server.url}/token?service=berth`, { headers: { Authorization: basic({ user: 'nobody', password: 'nope-nope-1' }) } });
    const a = await expectError(wrong, 401, 'UNAUTHORIZED');
    const b = await expectError(unknown, 401, 'UNAUTHORIZED');
    assert.deepEqual(a, b);
  });

  it('refuses a service it does not serve', async () => {
    const res = await fetch(`${server.url}/token?service=other`, { headers: { Authorization: basic(alice) } });
    assert.equal(res.status, 400);
  });

  it('limits failed logins per user with 429 and Retry-After, and the right password then waits too', async () => {
    const victim = { user: 'carol', password: 'carol-password-1' };
    await accounts.service.createUser({ username: victim.user, password: victim.password }, { actor: 'test', action: 'user.create' });
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${server.url}/token?service=berth`, { headers: { Authorization: basic({ user: 'carol', password: `wrong-${i}-xxxx` }) } });
      assert.equal(r.status, 401);
    }
    const limited = await fetch(`${server.url}/token?service=berth`, { headers: { Authorization: basic(victim) } });
    await expectError(limited, 429, 'TOOMANYREQUESTS');
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    // Another user from a different "address" is unaffected (the per-address limit is separate).
    const log = await accounts.stores.audit.list(50);
    assert.ok(log.some((e) => e.action === 'login.failed' && e.target === 'carol'));
    assert.ok(!JSON.stringify(log).includes('wrong-0-xxxx'), 'the audit log never holds a tried password');
  });
});

describe('POST /token and refresh tokens', () => {
  it('password grant with access_type=offline returns a refresh token that works until the password changes', async () => {
    const dave = { user: 'dave', password: 'dave-password-1' };
    const user = await accounts.service.createUser({ username: dave.user, password: dave.password }, { actor: 'test', action: 'user.create' });
    const r = await postToken({
      grant_type: 'password',
      username: dave.user,
      password: dave.password,
      service: 'berth',
      client_id: 'docker',
      access_type: 'offline',
      scope: 'repository:dave/x:pull,push',
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.access_token);
    assert.match(r.body.refresh_token, /^berth_rt_/);
    assert.deepEqual((decodeJwt(r.body.access_token) as any).access, [{ type: 'repository', name: 'dave/x', actions: ['pull', 'push'] }]);

    const refreshed = await postToken({
      grant_type: 'refresh_token',
      refresh_token: r.body.refresh_token,
      service: 'berth',
      client_id: 'docker',
      scope: 'repository:dave/x:pull',
    });
    assert.equal(refreshed.status, 200);
    assert.equal(decodeJwt(refreshed.body.access_token).sub, 'dave');

    await accounts.service.setPassword(user, 'dave-password-2', { actor: 'dave', action: 'user.password' });
    const after = await postToken({ grant_type: 'refresh_token', refresh_token: r.body.refresh_token, service: 'berth', client_id: 'docker' });
    assert.equal(after.status, 401);
    assert.equal(after.body.error, 'invalid_grant');
  });

  it('refuses a wrong password, an unknown grant type and a made-up refresh token', async () => {
    assert.equal((await postToken({ grant_type: 'password', username: 'bob', password: 'bad-password', service: 'berth', client_id: 'x' })).status, 401);
    assert.equal((await postToken({ grant_type: 'client_credentials', service: 'berth', client_id: 'x' })).status, 400);
    assert.equal((await postToken({ grant_type: 'refresh_token', refresh_token: 'berth_rt_madeup', service: 'berth', client_id: 'x' })).status, 401);
  });

  it('GET with offline_token=true also returns a refresh token', async () => {
    const res = await new TokenClient(server.url, bob).tokenResponse([], { offline_token: 'true', client_id: 'podman' });
    const body = (await res.json()) as any;
    assert.match(body.refresh_token, /^berth_rt_/);
    const anon = (await (await new TokenClient(server.url).tokenResponse([], { offline_token: 'true', client_id: 'x' })).json()) as any;
    assert.equal(anon.refresh_token, undefined, 'no refresh token without credentials');
  });
});

describe('access tokens as passwords', () => {
  it('are limited to their scopes and resource, and stop working (with their refresh tokens) when revoked', async () => {
    const user = (await accounts.stores.users.userByName('bob'))!;
    const { secret, token } = await accounts.service.createAccessToken(
      user,
      { name: 'ci', scopes: ['pull'], resource: 'bob/*', expiresAt: null },
      { actor: 'bob', action: 'token.create' },
    );
    const c = new TokenClient(server.url, { user: 'bob', password: secret });
    const jwt = await c.tokenFor(['repository:bob/app:pull,push', 'repository:bob2/app:pull']);
    assert.deepEqual((decodeJwt(jwt) as any).access, [{ type: 'repository', name: 'bob/app', actions: ['pull'] }]);

    const login = await postToken({ grant_type: 'password', username: 'bob', password: secret, service: 'berth', client_id: 'docker', access_type: 'offline' });
    assert.equal(login.status, 200);
    await accounts.meta.transaction((tx) => accounts.stores.credentials.revokeAccessToken(tx, token.id, Date.now()));
    assert.equal((await c.tokenResponse([])).status, 401);
    const refresh = await postToken({ grant_type: 'refresh_token', refresh_token: login.body.refresh_token, service: 'berth', client_id: 'docker' });
    assert.equal(refresh.status, 401, 'a refresh token from a revoked access token is refused');
  });

  it('expired access tokens are refused', async () => {
    const user = (await accounts.stores.users.userByName('bob'))!;
    const { secret } = await accounts.service.createAccessToken(
      user,
      { name: 'old', scopes: ['pull'], resource: null, expiresAt: Date.now() - 1000 },
      { actor: 'bob', action: 'token.create' },
    );
    assert.equal((await new TokenClient(server.url, { user: 'bob', password: secret }).tokenResponse([])).status, 401);
  });

  it("one user's token is not a password for another user", async () => {
    const user = (await accounts.stores.users.userByName('bob'))!;
    const { secret } = await accounts.service.createAccessToken(
      user,
      { name: 'mine', scopes: ['pull', 'push'], resource: null, expiresAt: null },
      { actor: 'bob', action: 'token.create' },
    );
    assert.equal((await new TokenClient(server.url, { user: 'alice', password: secret }).tokenResponse([])).status, 401);
  });
});

describe('the registry refuses bad tokens', () => {
  async function status(token: string, path = '/v2/alice/app/tags/list'): Promise<number> {
    const res = await fetch(`${server.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    return res.status;
  }

  it('accepts a good token and refuses it for another repository (no scope escalation)', async () => {
    const c = new TokenClient(server.url, alice);
    await c.pushImage('alice/app', 'v1');
    const token = await c.tokenFor(['repository:alice/app:pull']);
    assert.equal(await status(token), 200);
    assert.equal(await status(token, '/v2/alice/other/tags/list'), 401);
    const del = await fetch(`${server.url}/v2/alice/app/manifests/v1`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    assert.equal(del.status, 401, 'a pull token cannot delete');
  });

  it('refuses expired, tampered, wrongly signed, wrong-audience, alg=none and HMAC tokens', async () => {
    const good = await new TokenClient(server.url, alice).tokenFor(['repository:alice/app:pull']);
    const header = decodeProtectedHeader(good);
    const claims = decodeJwt(good) as any;
    const now = Math.floor(Date.now() / 1000);

    // Tampered: same signature, payload widened to another repository.
    const [h, , s] = good.split('.');
    const widened = Buffer.from(JSON.stringify({ ...claims, access: [{ type: 'repository', name: 'bob/app', actions: ['pull', 'push'] }] })).toString(
      'base64url',
    );
    assert.equal(await status(`${h}.${widened}.${s}`, '/v2/bob/app/tags/list'), 401);

    // Signed by a key that is not ours, claiming our kid.
    const { privateKey } = await generateKeyPair('ES256');
    const forge = (c: object, key: CryptoKey | Uint8Array = privateKey, alg = 'ES256') =>
      new SignJWT(c as any).setProtectedHeader({ alg, kid: header.kid! }).sign(key);
    assert.equal(await status(await forge(claims)), 401);

    // Signed with the server's real key (read from its database): the control passes, bad claims do not.
    const row = (await accounts.stores.signingKeys.signingKeys()).find((k) => k.kid === header.kid)!;
    const ours = await importPKCS8(row.privatePem, 'ES256');
    assert.equal(await status(await forge({ ...claims, jti: 'control' }, ours)), 200, 'control: a well-formed token signed with our key');
    assert.equal(await status(await forge({ ...claims, iat: now - 4000, nbf: now - 4000, exp: now - 3000 }, ours)), 401, 'expired');
    assert.equal(await status(await forge({ ...claims, nbf: now + 3600, exp: now + 7200 }, ours)), 401, 'not yet valid');
    assert.equal(await status(await forge({ ...claims, aud: 'other-service' }, ours)), 401, 'wrong audience');
    assert.equal(await status(await forge({ ...claims, iss: 'someone-else' }, ours)), 401, 'wrong issuer');
    const { exp: _exp, ...noExp } = claims;
    assert.equal(await status(await forge(noExp, ours)), 401, 'no expiry');

    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    assert.equal(await status(none), 401);

    // HMAC keyed with the public JWK (the classic algorithm-confusion attack).
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as any;
    const secret = new TextEncoder().encode(JSON.stringify(jwks.keys[0]));
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: header.kid! }).sign(secret);
    assert.equal(await status(hs), 401);
    assert.equal(await status('not-a-jwt'), 401);
  });

  it('answers a refused token with error="invalid_token" in the challenge', async () => {
    const res = await fetch(`${server.url}/v2/alice/app/tags/list`, { headers: { Authorization: 'Bearer abc.def.ghi' } });
    await expectError(res, 401, 'UNAUTHORIZED');
    assert.equal(parseChallenge(res.headers.get('www-authenticate'))?.error, 'invalid_token');
  });

  it('publishes the signing keys as JWKS, and the keys verify issued tokens', async () => {
    const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as any;
    const token = await new TokenClient(server.url, alice).tokenFor([]);
    const kid = decodeProtectedHeader(token).kid;
    const jwk = jwks.keys.find((k: any) => k.kid === kid);
    assert.ok(jwk, 'the signing kid is published');
    assert.equal(jwk.d, undefined, 'no private part in the JWKS');
    await jwtVerify(token, await importJWK(jwk, 'ES256'), { issuer: 'berth', audience: 'berth' });
  });
});

describe('per-address login limit', () => {
  let small: TestServer;
  before(async () => {
    small = await startServer({
      config: { auth: { token: {}, accounts: { adminpassword: 'admin-password-1', bcryptcost: 4, loginlimit: 100, addresslimit: 3 } } },
    });
  });
  after(async () => {
    await small.close();
    removeDir(small.dir);
  });

  it('answers 429 to an address that failed too often, whichever user it tries', async () => {
    for (const user of ['u1', 'u2', 'u3']) {
      const r = await fetch(`${small.url}/token?service=berth`, { headers: { Authorization: basic({ user, password: 'guess-guess' }) } });
      assert.equal(r.status, 401);
    }
    const r = await fetch(`${small.url}/token?service=berth`, { headers: { Authorization: basic({ user: 'admin', password: 'admin-password-1' }) } });
    await expectError(r, 429, 'TOOMANYREQUESTS');
    assert.ok(Number(r.headers.get('retry-after')) > 0);
  });
});

describe('login limits under parallel guessing', () => {
  it('lets at most `loginlimit` of 20 parallel wrong guesses through to a 401', async () => {
    await accounts.service.createUser({ username: 'erin', password: 'erin-password-1' }, { actor: 'test', action: 'user.create' });
    const statuses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fetch(`${server.url}/token?service=berth`, { headers: { Authorization: basic({ user: 'erin', password: `guess-${i}-xxxx` }) } }).then(async (r) => {
          await r.arrayBuffer();
          return r.status;
        }),
      ),
    );
    const tried = statuses.filter((s) => s === 401).length;
    assert.ok(tried <= 5, `${tried} guesses were checked (limit 5): ${statuses.join(',')}`);
    assert.equal(tried + statuses.filter((s) => s === 429).length, 20);
  });
});
