// Rights taken away reach registry tokens already issued: two Berth replicas (child processes)
// on one database — one SQLite file, or one PostgreSQL schema with BERTH_TEST_METADATA=postgres.
// The replica that makes the changes runs two workers (http.workers). For each kind of change,
// a token obtained (and used, so both replicas hold it in their verification cache) before the
// change is refused with a 401 challenge at once by every worker of the replica that made the
// change, and within 2 seconds by the other replica; a token issued afterwards carries exactly
// the new rights.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';
import { sleep, tempDir } from '../helpers/shared.js';

const ADMIN = { user: 'admin', password: 'admin-password-1' };
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** How long another replica may take to apply a change (issue 10, item 2). */
const OTHER_REPLICA_MS = 2000;
const postgres = process.env.BERTH_TEST_METADATA === 'postgres';

type Creds = { user: string; password: string };
let a: RegistryProcess; // makes the changes; two workers
let b: RegistryProcess; // the other replica
let schema: PgSchema | undefined;

before(async () => {
  const root = tempDir('revocation');
  schema = postgres ? await freshSchema('revocation') : undefined;
  const env: Record<string, string> = {
    REGISTRY_AUTH: 'token',
    REGISTRY_AUTH_ACCOUNTS_ADMINPASSWORD: ADMIN.password,
    REGISTRY_AUTH_ACCOUNTS_BCRYPTCOST: '4',
    REGISTRY_AUTH_ACCOUNTS_LOGINLIMIT: '1000',
    REGISTRY_AUTH_ACCOUNTS_ADDRESSLIMIT: '1000',
    ...(schema ? { REGISTRY_METADATA: 'postgres', REGISTRY_METADATA_POSTGRES_URL: schema.url, REGISTRY_METADATA_POSTGRES_POOLSIZE: '4' } : {}),
  };
  a = await startBerth({ root, env: { ...env, REGISTRY_HTTP_WORKERS: '2' }, name: 'revocation-a' });
  b = await startBerth({ root, env, name: 'revocation-b' });
});

after(async () => {
  await b?.stop();
  await a?.dispose();
  await schema?.drop();
});

// ---- helpers ----

function basic(c: Creds): string {
  return `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;
}

async function rest(method: string, path: string, creds: Creds, body?: unknown, base = a.url): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { authorization: basic(creds), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function ok(method: string, path: string, creds: Creds, body?: unknown): Promise<any> {
  const r = await rest(method, path, creds, body);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function newUser(prefix: string): Promise<Creds> {
  const user = `${prefix}${randomBytes(3).toString('hex')}`;
  const password = `${user}-password-1`;
  await ok('POST', '/users', ADMIN, { username: user, password });
  return { user, password };
}

/** GET /token (Basic, or anonymous with null); the token and what it grants. */
async function token(
  creds: Creds | null,
  scopes: string[],
  base = a.url,
): Promise<{ token: string; access: { type: string; name: string; actions: string[] }[] }> {
  const q = new URLSearchParams({ service: 'berth' });
  for (const s of scopes) q.append('scope', s);
  const res = await fetch(`${base}/token?${q}`, { headers: creds ? { authorization: basic(creds) } : {} });
  const text = await res.text();
  assert.equal(res.status, 200, `GET /token: ${text}`);
  const t = (JSON.parse(text) as { token: string }).token;
  const payload = JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString('utf8'));
  return { token: t, access: payload.access };
}

function actionsOn(access: { type: string; name: string; actions: string[] }[], repo: string): string[] {
  return (access.find((x) => x.type === 'repository' && x.name === repo)?.actions ?? []).slice().sort();
}

const digest = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Pushes a one-layer image with a registry token; returns the manifest's status. */
async function push(base: string, bearer: string, repo: string, tag: string): Promise<number> {
  const auth = { authorization: `Bearer ${bearer}` };
  const blob = async (bytes: Buffer) => {
    const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: auth });
    await start.arrayBuffer();
    if (start.status !== 202) return start.status;
    const loc = new URL(start.headers.get('location')!, base);
    loc.searchParams.set('digest', digest(bytes));
    const put = await fetch(loc, { method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: new Uint8Array(bytes) });
    await put.arrayBuffer();
    return put.status;
  };
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') }));
  const layer = randomBytes(64);
  for (const bytes of [config, layer]) {
    const s = await blob(bytes);
    if (s !== 201) return s;
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digest(layer), size: layer.length }],
    }),
  );
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': OCI_MANIFEST },
    body: new Uint8Array(manifest),
  });
  await res.arrayBuffer();
  return res.status;
}

/**
 * GET of a manifest by tag with a registry token, on a new connection each time (the cluster
 * primary of a replica with workers hands connections to its workers in turn).
 */
function pull(base: string, bearer: string, repo: string, tag = 'v1'): Promise<{ status: number; challenge: string | null }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      `${base}/v2/${repo}/manifests/${tag}`,
      { agent: false, headers: { authorization: `Bearer ${bearer}`, accept: OCI_MANIFEST } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, challenge: (res.headers['www-authenticate'] as string | undefined) ?? null }));
      },
    );
    req.on('error', reject);
  });
}

/** Asserts the token works on both replicas now (which also puts it in every verification cache). */
async function worksOnBoth(bearer: string, repo: string): Promise<void> {
  for (const r of [a, a, a, a, b]) assert.equal((await pull(r.url, bearer, repo)).status, 200, `${repo} on ${r.url} before the change`);
}

function assertRefused(r: { status: number; challenge: string | null }, where: string): void {
  assert.equal(r.status, 401, `${where}: expected 401, got ${r.status}`);
  assert.match(r.challenge ?? '', /^Bearer realm="[^"]+",service="berth"/, `${where}: a Bearer challenge, so the client fetches a new token`);
}

/**
 * Makes the change (on replica a), then: the old token is refused on a at once, and on b
 * within OTHER_REPLICA_MS of the change's reply (polled, no fixed sleep).
 */
async function refusedAfter(changeFn: () => Promise<unknown>, probe: (base: string) => Promise<{ status: number; challenge: string | null }>): Promise<void> {
  await changeFn();
  const changed = Date.now();
  for (let i = 0; i < 4; i++) assertRefused(await probe(a.url), `the replica that made the change, at once (connection ${i + 1}, either worker)`);
  for (;;) {
    const r = await probe(b.url);
    if (r.status === 401) {
      assertRefused(r, 'the other replica');
      return;
    }
    assert.equal(r.status, 200, 'the other replica before it applies the change');
    assert.ok(Date.now() - changed < OTHER_REPLICA_MS, `the other replica still accepts the token ${Date.now() - changed} ms after the change`);
    await sleep(50);
  }
}

// ---- the changes ----

describe(`revocation on two replicas (${postgres ? 'PostgreSQL' : 'SQLite, two processes on one file'})`, () => {
  test('removing a collaborator, and lowering one', async () => {
    const owner = await newUser('own');
    const bob = await newUser('bob');
    const carol = await newUser('car');
    const repo = `${owner.user}/app`;
    assert.equal(await push(a.url, (await token(owner, [`repository:${repo}:pull,push`])).token, repo, 'v1'), 201);
    await ok('PUT', `/repositories/${repo}/collaborators/${bob.user}`, owner, { permission: 'write' });
    await ok('PUT', `/repositories/${repo}/collaborators/${carol.user}`, owner, { permission: 'write' });

    const bobs = await token(bob, [`repository:${repo}:pull,push`], b.url);
    assert.deepEqual(actionsOn(bobs.access, repo), ['pull', 'push']);
    await worksOnBoth(bobs.token, repo);
    await refusedAfter(
      () => ok('DELETE', `/repositories/${repo}/collaborators/${bob.user}`, owner),
      (base) => pull(base, bobs.token, repo),
    );
    assert.deepEqual(actionsOn((await token(bob, [`repository:${repo}:pull,push`])).access, repo), [], 'a removed collaborator gets nothing');

    const carols = await token(carol, [`repository:${repo}:pull,push`]);
    await worksOnBoth(carols.token, repo);
    await refusedAfter(
      () => ok('PUT', `/repositories/${repo}/collaborators/${carol.user}`, owner, { permission: 'read' }),
      (base) => pull(base, carols.token, repo),
    );
    const fresh = await token(carol, [`repository:${repo}:pull,push`]);
    assert.deepEqual(actionsOn(fresh.access, repo), ['pull'], 'lowered to read: pull only');
    assert.equal((await pull(b.url, fresh.token, repo)).status, 200);
    assert.equal(await push(b.url, fresh.token, repo, 'v2'), 401, 'and no push');
  });

  test('removing a team member, lowering a team, removing an org member', async () => {
    const owner = await newUser('own');
    const [dev, tester, leaver] = [await newUser('dev'), await newUser('tst'), await newUser('lvr')];
    const org = `org${randomBytes(3).toString('hex')}`;
    await ok('POST', '/orgs', owner, { name: org });
    await ok('POST', `/orgs/${org}/teams`, owner, { name: 'devs', permission: 'write' });
    for (const u of [dev, tester, leaver]) {
      await ok('PUT', `/orgs/${org}/members/${u.user}`, owner, { role: 'member' });
      await ok('PUT', `/orgs/${org}/teams/devs/members/${u.user}`, owner);
    }
    const repo = `${org}/svc`;
    assert.equal(await push(a.url, (await token(owner, [`repository:${repo}:pull,push`])).token, repo, 'v1'), 201);
    const scope = [`repository:${repo}:pull,push`];

    const devs = await token(dev, scope);
    assert.deepEqual(actionsOn(devs.access, repo), ['pull', 'push']);
    await worksOnBoth(devs.token, repo);
    await refusedAfter(
      () => ok('DELETE', `/orgs/${org}/teams/devs/members/${dev.user}`, owner),
      (base) => pull(base, devs.token, repo),
    );
    assert.deepEqual(actionsOn((await token(dev, scope)).access, repo), ['pull'], 'still an org member: pull only');

    const testers = await token(tester, scope, b.url);
    await worksOnBoth(testers.token, repo);
    await refusedAfter(
      () => ok('PATCH', `/orgs/${org}/teams/devs`, owner, { permission: 'read' }),
      (base) => pull(base, testers.token, repo),
    );
    assert.deepEqual(actionsOn((await token(tester, scope)).access, repo), ['pull'], 'team lowered to read');

    const leavers = await token(leaver, scope);
    await worksOnBoth(leavers.token, repo);
    await refusedAfter(
      () => ok('DELETE', `/orgs/${org}/members/${leaver.user}`, owner),
      (base) => pull(base, leavers.token, repo),
    );
    assert.deepEqual(actionsOn((await token(leaver, scope)).access, repo), [], 'no longer a member: nothing');
  });

  test('making a repository private stops anonymous tokens from when it was public', async () => {
    const owner = await newUser('own');
    const repo = `${owner.user}/pub`;
    assert.equal(await push(a.url, (await token(owner, [`repository:${repo}:pull,push`])).token, repo, 'v1'), 201);
    await ok('PATCH', `/repositories/${repo}`, owner, { visibility: 'public' });
    const anon = await token(null, [`repository:${repo}:pull`], b.url);
    assert.deepEqual(actionsOn(anon.access, repo), ['pull']);
    await worksOnBoth(anon.token, repo);
    await refusedAfter(
      () => ok('PATCH', `/repositories/${repo}`, owner, { visibility: 'private' }),
      (base) => pull(base, anon.token, repo),
    );
    assert.deepEqual(actionsOn((await token(null, [`repository:${repo}:pull`])).access, repo), [], 'anonymous gets nothing now');
    // The owner's own rights never depended on visibility: a new token works at once.
    assert.equal((await pull(b.url, (await token(owner, [`repository:${repo}:pull`])).token, repo)).status, 200);
  });

  test("a deleted user's token can neither pull nor push", async () => {
    const gone = await newUser('del');
    const repo = `${gone.user}/own`;
    const t = await token(gone, [`repository:${repo}:pull,push`]);
    assert.equal(await push(a.url, t.token, repo, 'v1'), 201);
    await worksOnBoth(t.token, repo);
    await refusedAfter(
      () => ok('DELETE', `/users/${gone.user}`, ADMIN),
      (base) => pull(base, t.token, repo),
    );
    for (const r of [a, b]) assert.equal(await push(r.url, t.token, repo, 'new-tag'), 401, `push with the deleted user's token on ${r.url}`);
    const res = await fetch(`${a.url}/token?service=berth&scope=repository:${repo}:pull`, { headers: { authorization: basic(gone) } });
    assert.equal(res.status, 401, 'the deleted user gets no new token');
    assert.equal((await pull(a.url, (await token(ADMIN, [`repository:${repo}:pull`])).token, repo, 'new-tag')).status, 404, 'the refused push left no tag');
  });

  test("a disabled user's token is refused", async () => {
    const u = await newUser('dis');
    const repo = `${u.user}/own`;
    const t = await token(u, [`repository:${repo}:pull,push`]);
    assert.equal(await push(a.url, t.token, repo, 'v1'), 201);
    await worksOnBoth(t.token, repo);
    await refusedAfter(
      () => ok('PATCH', `/users/${u.user}`, ADMIN, { disabled: true }),
      (base) => pull(base, t.token, repo),
    );
    await ok('PATCH', `/users/${u.user}`, ADMIN, { disabled: false });
    assert.equal((await pull(b.url, (await token(u, [`repository:${repo}:pull`])).token, repo)).status, 200, 'enabled again: a new token works');
  });

  test('revoking an access token stops the registry tokens it produced', async () => {
    const u = await newUser('pat');
    const repo = `${u.user}/own`;
    assert.equal(await push(a.url, (await token(u, [`repository:${repo}:pull,push`])).token, repo, 'v1'), 201);
    const pat = await ok('POST', '/user/tokens', u, { name: 'ci', scopes: ['pull', 'push'] });
    const viaPat = { user: u.user, password: pat.secret as string };
    const t = await token(viaPat, [`repository:${repo}:pull,push`]);
    await worksOnBoth(t.token, repo);
    await refusedAfter(
      () => ok('DELETE', `/user/tokens/${pat.id}`, u),
      (base) => pull(base, t.token, repo),
    );
    for (const r of [a, b]) {
      const res = await fetch(`${r.url}/token?service=berth&scope=repository:${repo}:pull`, { headers: { authorization: basic(viaPat) } });
      assert.equal(res.status, 401, `the revoked access token gets no new registry token on ${r.url}`);
      assert.equal((await rest('GET', '/user', viaPat, undefined, r.url)).status, 401, `nor the REST API on ${r.url}`);
    }
  });

  test('deleting a robot stops its tokens and its refresh token', async () => {
    const owner = await newUser('own');
    const org = `rob${randomBytes(3).toString('hex')}`;
    await ok('POST', '/orgs', owner, { name: org });
    await ok('POST', `/orgs/${org}/teams`, owner, { name: 'ci', permission: 'write' });
    const robot = await ok('POST', `/orgs/${org}/robots`, owner, { name: 'builder' });
    await ok('PUT', `/orgs/${org}/teams/ci/members/${robot.name}`, owner);
    const creds = { user: robot.name as string, password: robot.secret as string };
    const repo = `${org}/app`;
    const t = await token(creds, [`repository:${repo}:pull,push`]);
    assert.equal(await push(a.url, t.token, repo, 'v1'), 201);
    // docker login's way: a refresh token from the password grant.
    const login = await fetch(`${b.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        username: creds.user,
        password: creds.password,
        service: 'berth',
        client_id: 'docker',
        access_type: 'offline',
      }),
    });
    assert.equal(login.status, 200);
    const refresh = ((await login.json()) as { refresh_token: string }).refresh_token;
    await worksOnBoth(t.token, repo);
    await refusedAfter(
      () => ok('DELETE', `/orgs/${org}/robots/builder`, owner),
      (base) => pull(base, t.token, repo),
    );
    for (const r of [a, b]) {
      const res = await fetch(`${r.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: refresh,
          service: 'berth',
          client_id: 'docker',
          scope: `repository:${repo}:pull`,
        }),
      });
      assert.equal(res.status, 401, `the deleted robot's refresh token on ${r.url}`);
    }
  });
});
