// Docker token authentication end to end, with the real clients over TLS: a Berth child
// process runs its built-in token service (REGISTRY_AUTH=token); users are created directly
// in its SQLite file. Every client signs in with a password and with a personal access
// token, pushes to and pulls from its own namespace (bytes and digests checked), is denied
// a push into someone else's namespace with its own error text, and pulls a public
// repository anonymously while a private one stays closed.
//
// This file always runs against Berth (the reference registry has no token service), also
// under BERTH_E2E_TARGET=reference.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { AccountService } from '../../src/auth/accounts.js';
import { accountStores, type AccountStores } from '../../src/metadata/accounts/index.js';
import { openSqlite, type MetadataDb } from '../../src/metadata/database.js';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { BIN, Ctr, Docker, Podman, Skopeo, makeTlsAuthFixture, run, type RunResult } from '../helpers/clients.js';
import { TestClock } from '../helpers/clock.js';
import { withServerLog } from '../helpers/e2e.js';
import { request, type HttpResponse } from '../helpers/http.js';
import { type Layout, RegistryApi, assertLayoutMatches, assertRegistryHasLayout, verifyRegistryImage, writeUniqueLayout } from '../helpers/oci.js';
import { tempDir } from '../helpers/shared.js';

const ADMIN = { user: 'admin', password: 'admin-Passw0rd-e2e' };
const ALICE = { user: 'alice', password: 'alice-Passw0rd-e2e' };
const BOB = { user: 'bob', password: 'bob-Passw0rd-e2e' };

let reg: RegistryProcess;
let meta: MetadataDb;
let stores: AccountStores;
let accounts: AccountService;
/** The clock of `accounts` (the test's own changes), which a test moves past the server's times. */
const clock = new TestClock();
/** alice's personal access token (pull, push on any repository she may use) */
let alicePat: string;
/** an admin view of the registry (admins may pull everything) for server-side checks */
let adminApi: RegistryApi;
let work: string;
/** lowercase path: podman names an image pulled from `oci:DIR` after DIR */
let layouts: string;
let hostsDir: string;

/** The parameters of a `WWW-Authenticate: Bearer …` challenge. (Not token-client.ts's: that
 * module pulls in the whole app through api-server.ts, which this file does not need.) */
function parseChallenge(header: string): { realm: string; service: string; scope?: string; error?: string } | null {
  if (!/^bearer /i.test(header)) return null;
  const out: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/(\w+)="([^"]*)"/g)) out[m[1]] = m[2];
  return out.realm ? { realm: out.realm, service: out.service ?? '', scope: out.scope, error: out.error } : null;
}

/** RegistryApi that answers Bearer challenges like a client: GET /token with Basic, retry once. */
class TokenApi extends RegistryApi {
  private readonly cache = new Map<string, string>();
  constructor(
    baseUrl: string,
    private readonly creds: { user: string; password: string } | null,
  ) {
    super(baseUrl);
  }
  override async req(method: string, p: string, extra: { headers?: Record<string, string | number>; body?: Buffer | string } = {}): Promise<HttpResponse> {
    const send = (token?: string) =>
      request(this.baseUrl + p, { method, timeoutMs: 60_000, ...extra, headers: { ...extra.headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) } });
    const key = /^\/v2\/(.+?)\/(?:blobs|manifests|tags)\//.exec(p)?.[1] ?? '';
    let r = await send(this.cache.get(key));
    if (r.status !== 401) return r;
    const ch = parseChallenge(String(r.headers['www-authenticate'] ?? ''));
    if (!ch) return r;
    const u = new URL(ch.realm);
    u.searchParams.set('service', ch.service);
    if (ch.scope) u.searchParams.set('scope', ch.scope);
    const t = await request(u, { basicAuth: this.creds ? `${this.creds.user}:${this.creds.password}` : undefined, timeoutMs: 30_000 });
    assert.equal(t.status, 200, `token for ${ch.scope}: ${t.body.toString()}`);
    const token = (JSON.parse(t.body.toString()) as { token: string }).token;
    this.cache.set(key, token);
    r = await send(token);
    return r;
  }
}

before(async () => {
  work = tempDir('token-auth');
  layouts = path.join(os.tmpdir(), `berth-e2e-token-layouts-${process.pid}-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(layouts);
  const tls = await makeTlsAuthFixture();
  reg = await startBerth({
    name: 'token-auth',
    env: {
      REGISTRY_HTTP_TLS_CERTIFICATE: tls.certFile,
      REGISTRY_HTTP_TLS_KEY: tls.keyFile,
      REGISTRY_AUTH: 'token',
      BERTH_AUTH_ACCOUNTS_ADMINUSER: ADMIN.user,
      BERTH_AUTH_ACCOUNTS_ADMINPASSWORD: ADMIN.password,
      BERTH_AUTH_ACCOUNTS_BCRYPTCOST: '4',
    },
  });
  // accounts straight in the server's database (the CLI and REST API are not used here)
  meta = await openSqlite(path.join(reg.root, 'berth.db'));
  stores = accountStores(meta);
  accounts = new AccountService(
    stores,
    meta,
    {
      adminuser: ADMIN.user,
      adminpassword: '',
      adminpasswordfile: '',
      loginlimit: 10,
      addresslimit: 100,
      loginwindow: 15 * 60_000,
      bcryptcost: 4,
    },
    undefined,
    clock.now,
  );
  const audit = { actor: null, action: 'user.create' };
  const alice = await accounts.createUser({ username: ALICE.user, password: ALICE.password }, audit);
  await accounts.createUser({ username: BOB.user, password: BOB.password }, audit);
  alicePat = (await accounts.createAccessToken(alice, { name: 'e2e', scopes: ['pull', 'push'], resource: null, expiresAt: null }, audit)).secret;
  assert.match(alicePat, /^berth_pat_/);
  adminApi = new TokenApi(reg.url, ADMIN);

  // containerd: TLS with a self-signed certificate needs a hosts.toml
  hostsDir = path.join(work, 'certs.d');
  fs.mkdirSync(path.join(hostsDir, reg.hostPort), { recursive: true });
  fs.writeFileSync(
    path.join(hostsDir, reg.hostPort, 'hosts.toml'),
    `[host."https://${reg.hostPort}"]\n  capabilities = ["pull", "resolve", "push"]\n  skip_verify = true\n`,
  );
});

after(async () => {
  await meta?.close();
  if (layouts && process.env.BERTH_E2E_KEEP !== '1') fs.rmSync(layouts, { recursive: true, force: true });
  await reg?.dispose();
});

const step = (name: string, fn: (t: TestContext) => Promise<void>) =>
  test(name, { timeout: 90_000 }, (t) =>
    withServerLog(
      () => reg,
      () => fn(t),
    ),
  );

/** A small image no other test has (containerd and dockerd share content between users). */
function uniqueLayout(name: string): Layout {
  return writeUniqueLayout(path.join(layouts, name), `token-${name}-${process.pid}-${Date.now()}`, randomBytes(16 * 1024));
}

/** A client's error text without log timestamps. */
function clientError(r: RunResult): string {
  return r.stderr.replace(/time="[^"]*" /g, '').trim();
}

/** Logs what a client printed (shown by the spec reporter) and returns its stderr. */
function record(t: TestContext, what: string, r: RunResult): string {
  const text = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' | ');
  t.diagnostic(`${what}: exit ${r.code}: ${text}`);
  return r.stderr;
}

async function makePublic(name: string): Promise<void> {
  const repo = await stores.repositories.repository(name);
  assert.ok(repo, `repository ${name} exists`);
  await meta.transaction((tx) => stores.repositories.setVisibility(tx, repo.id, 'public'));
}

step('the registry answers with a Bearer challenge pointing at its own /token', async () => {
  assert.ok(reg.url.startsWith('https://'), reg.url);
  const r = await request(`${reg.url}/v2/`);
  assert.equal(r.status, 401);
  const ch = parseChallenge(String(r.headers['www-authenticate']));
  assert.deepEqual({ realm: ch?.realm, service: ch?.service }, { realm: `${reg.url}/token`, service: 'berth' });
  const anon = await request(`${reg.url}/token?service=berth&scope=repository:alice/x:pull`);
  assert.equal(anon.status, 200, anon.body.toString());
  const bad = await request(`${reg.url}/token?service=berth`, { basicAuth: `${ALICE.user}:wrong-password` });
  assert.equal(bad.status, 401, bad.body.toString());
});

// ---------------------------------------------------------------------------------------

step('skopeo: login / --creds with a password and with an access token; push elsewhere denied; anonymous pulls', async (t) => {
  const skopeo = new Skopeo('token-skopeo');
  const layout = uniqueLayout('skopeo');
  const src = `oci:${layout.dir}:latest`;
  const own = `docker://${reg.hostPort}/alice/skopeo:v1`;

  const wrong = await skopeo.runMayFail(['login', '--tls-verify=false', '--username', ALICE.user, '--password-stdin', reg.hostPort], {
    input: 'not-the-password\n',
  });
  assert.notEqual(wrong.code, 0, 'skopeo login with a wrong password must fail');
  assert.match(record(t, 'skopeo login, wrong password', wrong), /invalid username\/password/);

  const login = await skopeo.run(['login', '--tls-verify=false', '--username', ALICE.user, '--password-stdin', reg.hostPort], { input: `${ALICE.password}\n` });
  assert.match(login.stdout + login.stderr, /Login Succeeded/i);
  await skopeo.run(['copy', '--quiet', '--dest-tls-verify=false', src, own]);
  await assertRegistryHasLayout(adminApi, 'alice/skopeo', 'v1', layout);
  const out = path.join(work, 'skopeo-pull');
  await skopeo.run(['copy', '--quiet', '--src-tls-verify=false', own, `oci:${out}:latest`]);
  await assertLayoutMatches(out, layout);

  // the access token as the password, without a stored login
  const anonSkopeo = new Skopeo('token-skopeo-anon');
  const patRef = `docker://${reg.hostPort}/alice/skopeo-pat:v1`;
  await anonSkopeo.run(['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', `${ALICE.user}:${alicePat}`, src, patRef]);
  await assertRegistryHasLayout(adminApi, 'alice/skopeo-pat', 'v1', layout);
  const outPat = path.join(work, 'skopeo-pull-pat');
  await anonSkopeo.run(['copy', '--quiet', '--src-tls-verify=false', '--src-creds', `${ALICE.user}:${alicePat}`, patRef, `oci:${outPat}:latest`]);
  await assertLayoutMatches(outPat, layout);

  // registry to registry within alice's namespace (c/image asks for both repositories' scopes)
  await skopeo.run(['copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false', own, `docker://${reg.hostPort}/alice/skopeo-copy:v1`]);
  await assertRegistryHasLayout(adminApi, 'alice/skopeo-copy', 'v1', layout);

  // bob's namespace: alice (logged in) may not push there
  const denied = await skopeo.runMayFail(['copy', '--quiet', '--dest-tls-verify=false', src, `docker://${reg.hostPort}/bob/skopeo:v1`]);
  assert.notEqual(denied.code, 0, 'push into bob/ must fail');
  assert.match(record(t, 'skopeo push into bob/ as alice', denied), /denied: requested access to the resource is denied/);
  assert.equal(await stores.repositories.repository('bob/skopeo'), null, 'no repository was created in bob/');

  // anonymous: the private repository is closed, then public
  const anonOut = path.join(work, 'skopeo-anon');
  const closed = await anonSkopeo.runMayFail(['copy', '--quiet', '--src-tls-verify=false', own, `oci:${anonOut}:latest`]);
  assert.notEqual(closed.code, 0, 'anonymous pull of a private repository must fail');
  assert.match(record(t, 'skopeo anonymous pull of a private repository', closed), /denied: requested access to the resource is denied/);
  // …and reads exactly like a repository that does not exist
  const missing = await anonSkopeo.runMayFail([
    'copy',
    '--quiet',
    '--src-tls-verify=false',
    `docker://${reg.hostPort}/alice/nothing:v1`,
    `oci:${anonOut}:latest`,
  ]);
  assert.notEqual(missing.code, 0);
  assert.equal(clientError(missing).replaceAll('alice/nothing', 'alice/skopeo'), clientError(closed), 'private and missing repositories look alike');
  await makePublic('alice/skopeo');
  await anonSkopeo.run(['copy', '--quiet', '--src-tls-verify=false', own, `oci:${anonOut}:latest`]);
  await assertLayoutMatches(anonOut, layout);
  const anonPush = await anonSkopeo.runMayFail(['copy', '--quiet', '--dest-tls-verify=false', src, `docker://${reg.hostPort}/alice/skopeo:anon`]);
  assert.notEqual(anonPush.code, 0, 'anonymous push into a public repository must fail');
  assert.match(record(t, 'skopeo anonymous push into a public repository', anonPush), /denied: requested access to the resource is denied/);
});

// ---------------------------------------------------------------------------------------

step('podman: wrong password refused; login with a password and with an access token; push elsewhere denied; anonymous pulls', async (t) => {
  const pusher = new Podman('token-podman-push');
  const login = (user: string, secret: string) =>
    pusher.runMayFail(['login', '--tls-verify=false', '--username', user, '--password-stdin', reg.hostPort], { input: `${secret}\n` });

  const wrong = await login(ALICE.user, 'not-the-password');
  assert.notEqual(wrong.code, 0, 'podman login with a wrong password must fail');
  assert.match(record(t, 'podman login, wrong password', wrong), /invalid username\/password/);
  assert.ok(!fs.readFileSync(pusher.sandbox.authFile, 'utf8').includes(reg.hostPort), 'no credentials stored after a failed login');

  const ok = await login(ALICE.user, ALICE.password);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout + ok.stderr, /Login Succeeded/i);

  const layout = uniqueLayout('podman');
  const want = layout.images()[0];
  const id = want.manifest.config!.digest.replace('sha256:', '');
  await pusher.run(['pull', '--quiet', `oci:${layout.dir}:latest`]);
  const ref = `${reg.hostPort}/alice/podman:v1`;
  await pusher.run(['tag', id, ref]);
  await pusher.run(['push', '--quiet', '--tls-verify=false', ref]);
  const pushed = await verifyRegistryImage(adminApi, 'alice/podman', 'v1');
  assert.equal(pushed.images[0].configDigest, want.manifest.config!.digest);

  const puller = new Podman('token-podman-pull');
  const closed = await puller.runMayFail(['pull', '--quiet', '--tls-verify=false', ref]);
  assert.notEqual(closed.code, 0, 'anonymous pull of a private repository must fail');
  assert.match(record(t, 'podman anonymous pull of a private repository', closed), /denied: requested access to the resource is denied/);
  await puller.run(['pull', '--quiet', '--tls-verify=false', '--creds', `${ALICE.user}:${ALICE.password}`, ref]);
  const img = await puller.inspect(ref);
  assert.equal(img.Id, id);
  assert.equal(img.Digest, pushed.digest);

  // push into bob's namespace
  const bobRef = `${reg.hostPort}/bob/podman:v1`;
  await pusher.run(['tag', id, bobRef]);
  const denied = await pusher.runMayFail(['push', '--quiet', '--tls-verify=false', bobRef]);
  assert.notEqual(denied.code, 0, 'push into bob/ must fail');
  assert.match(record(t, 'podman push into bob/ as alice', denied), /denied: requested access to the resource is denied/);
  assert.equal(await stores.repositories.repository('bob/podman'), null, 'no repository was created in bob/');

  // the access token as the password
  await pusher.run(['logout', reg.hostPort]);
  const patLogin = await login(ALICE.user, alicePat);
  assert.equal(patLogin.code, 0, patLogin.stderr);
  const patRef = `${reg.hostPort}/alice/podman-pat:v1`;
  await pusher.run(['tag', id, patRef]);
  await pusher.run(['push', '--quiet', '--tls-verify=false', patRef]);
  assert.equal((await verifyRegistryImage(adminApi, 'alice/podman-pat', 'v1')).digest, pushed.digest);
  await puller.run(['pull', '--quiet', '--tls-verify=false', '--creds', `${ALICE.user}:${alicePat}`, patRef]);
  assert.equal((await puller.inspect(patRef)).Digest, pushed.digest);

  // anonymous pull once the repository is public
  await makePublic('alice/podman');
  const anon = new Podman('token-podman-anon');
  await anon.run(['pull', '--quiet', '--tls-verify=false', ref]);
  const anonImg = await anon.inspect(ref);
  assert.equal(anonImg.Id, id);
  assert.equal(anonImg.Digest, pushed.digest);
});

// ---------------------------------------------------------------------------------------

async function dockerImage(name: string): Promise<string> {
  // a one-layer `docker import` of random bytes: an image nobody else has
  const src = path.join(work, `docker-rootfs-${name}`);
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(path.join(src, 'random.bin'), randomBytes(32 * 1024));
  const tarball = path.join(work, `docker-rootfs-${name}.tar`);
  await run(BIN.tar, ['-C', src, '-cf', tarball, '.']);
  return tarball;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; identitytoken?: string }>;
}

step(
  'docker: wrong password refused; login with a password and with an access token (refresh-token flow); push elsewhere denied; anonymous pulls',
  async (t) => {
    const docker = await Docker.create('token-docker');
    const login = (user: string, secret: string) =>
      docker.runMayFail(['login', '--username', user, '--password-stdin', reg.hostPort], { input: `${secret}\n` });
    const config = () => JSON.parse(fs.readFileSync(path.join(docker.configDir, 'config.json'), 'utf8')) as DockerConfig;

    const wrong = await login(ALICE.user, 'not-the-password');
    assert.notEqual(wrong.code, 0, 'docker login with a wrong password must fail');
    assert.match(record(t, 'docker login, wrong password', wrong), /unauthorized: invalid username or password/);
    assert.equal(config().auths?.[reg.hostPort], undefined, 'nothing stored after a failed login');

    // password login: docker keeps only the refresh token Berth handed out (no password)
    const ok = await login(ALICE.user, ALICE.password);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Login Succeeded/);
    const stored = config().auths?.[reg.hostPort];
    assert.match(stored?.identitytoken ?? '', /^berth_rt_/, `docker stored a refresh token: ${JSON.stringify(stored)}`);
    assert.equal(Buffer.from(stored?.auth ?? '', 'base64').toString(), `${ALICE.user}:`, 'no password stored');

    const ref = `${reg.hostPort}/alice/docker:v1`;
    const id = (await docker.run(['import', await dockerImage('pw'), ref])).stdout.trim();
    const push = await docker.run(['push', ref]);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1];
    assert.ok(digest, push.stdout);
    const pushed = await verifyRegistryImage(adminApi, 'alice/docker', 'v1');
    assert.equal(pushed.digest, digest);
    assert.equal(pushed.images[0].configDigest, id);
    await docker.removeImage(id);
    const pull = await docker.run(['pull', ref]);
    assert.match(pull.stdout, new RegExp(`Digest: ${digest}`));
    assert.equal((await docker.inspect(ref)).Id, id);

    // the same image into a second repository of alice's: docker mounts the layer (one refresh
    // grant with two scopes: the target's pull,push and the source's pull)
    const copyRef = `${reg.hostPort}/alice/docker-copy:v1`;
    await docker.run(['tag', ref, copyRef]);
    const copy = await docker.run(['push', copyRef]);
    assert.match(copy.stdout, /Mounted from alice\/docker/, copy.stdout);
    assert.equal((await verifyRegistryImage(adminApi, 'alice/docker-copy', 'v1')).digest, digest);

    // push into bob's namespace
    const bobRef = `${reg.hostPort}/bob/docker:v1`;
    await docker.run(['tag', ref, bobRef]);
    const denied = await docker.runMayFail(['push', bobRef]);
    assert.notEqual(denied.code, 0, 'push into bob/ must fail');
    assert.match(record(t, 'docker push into bob/ as alice', denied), /denied: requested access to the resource is denied/);
    assert.equal(await stores.repositories.repository('bob/docker'), null, 'no repository was created in bob/');
    await docker.removeImage(id);

    // the access token as the password: also exchanged for a refresh token
    await docker.run(['logout', reg.hostPort]);
    const patLogin = await login(ALICE.user, alicePat);
    assert.equal(patLogin.code, 0, patLogin.stderr);
    const patStored = config().auths?.[reg.hostPort];
    assert.match(patStored?.identitytoken ?? '', /^berth_rt_/, JSON.stringify(patStored));
    assert.notEqual(patStored?.identitytoken, stored?.identitytoken);
    const patRef = `${reg.hostPort}/alice/docker-pat:v1`;
    const patId = (await docker.run(['import', await dockerImage('pat'), patRef])).stdout.trim();
    const patPush = await docker.run(['push', patRef]);
    const patDigest = /digest: (sha256:[0-9a-f]{64})/.exec(patPush.stdout)?.[1];
    assert.ok(patDigest, patPush.stdout);
    assert.equal((await verifyRegistryImage(adminApi, 'alice/docker-pat', 'v1')).digest, patDigest);
    await docker.removeImage(patId);
    const patPull = await docker.run(['pull', patRef]);
    assert.match(patPull.stdout, new RegExp(`Digest: ${patDigest}`));
    assert.equal((await docker.inspect(patRef)).Id, patId);
    await docker.removeImage(patId);

    // logged out: the private repository is closed, the public one open
    await docker.run(['logout', reg.hostPort]);
    const closed = await docker.runMayFail(['pull', ref]);
    assert.notEqual(closed.code, 0, 'anonymous pull of a private repository must fail');
    // (dockerd retries 127.0.0.0/8 over plain HTTP after the refusal on HTTPS and may report that)
    assert.match(
      record(t, 'docker anonymous pull of a private repository', closed),
      /pull access denied for .*alice\/docker, repository does not exist or may require 'docker login'/,
    );
    const missing = await docker.runMayFail(['pull', `${reg.hostPort}/alice/nothing:v1`]);
    assert.notEqual(missing.code, 0);
    assert.equal(clientError(missing).replaceAll('alice/nothing', 'alice/docker'), clientError(closed), 'private and missing repositories look alike');
    await makePublic('alice/docker');
    const anon = await docker.run(['pull', ref]);
    assert.match(anon.stdout, new RegExp(`Digest: ${digest}`));
    assert.equal((await docker.inspect(ref)).Id, id);
    await docker.removeImage(id);
  },
);

// ---------------------------------------------------------------------------------------

step('ctr: --user with a password and with an access token; push elsewhere denied; anonymous pulls', async (t) => {
  const layout = uniqueLayout('ctr');
  const tar = path.join(work, 'ctr-layout.tar');
  await run(BIN.tar, ['-C', layout.dir, '-cf', tar, '.']);
  const local = 'berth-e2e/token-ctr:latest';
  const pusher = await Ctr.create('tokenpush');
  const push = (ref: string, user?: string) => pusher.runMayFail(['images', 'push', '--hosts-dir', hostsDir, ...(user ? ['--user', user] : []), ref, local]);
  try {
    await pusher.run(['images', 'import', '--all-platforms', '--base-name', 'berth-e2e/token-ctr', tar]);

    const wrong = await push(`${reg.hostPort}/alice/ctr:v1`, `${ALICE.user}:not-the-password`);
    assert.notEqual(wrong.code, 0, 'ctr push with a wrong password must fail');
    assert.match(record(t, 'ctr push, wrong password', wrong), /failed to fetch oauth token: unexpected status: 401 Unauthorized/);

    const pw = await push(`${reg.hostPort}/alice/ctr:v1`, `${ALICE.user}:${ALICE.password}`);
    assert.equal(pw.code, 0, pw.stderr);
    await assertRegistryHasLayout(adminApi, 'alice/ctr', 'v1', layout);
    const pat = await push(`${reg.hostPort}/alice/ctr-pat:v1`, `${ALICE.user}:${alicePat}`);
    assert.equal(pat.code, 0, pat.stderr);
    await assertRegistryHasLayout(adminApi, 'alice/ctr-pat', 'v1', layout);

    const denied = await push(`${reg.hostPort}/bob/ctr:v1`, `${ALICE.user}:${ALICE.password}`);
    assert.notEqual(denied.code, 0, 'push into bob/ must fail');
    assert.match(record(t, 'ctr push into bob/ as alice', denied), /insufficient_scope: authorization failed/);
    assert.equal(await stores.repositories.repository('bob/ctr'), null, 'no repository was created in bob/');
  } finally {
    await pusher.destroy();
  }

  const pullAs = async (ref: string, user?: string): Promise<RunResult> => {
    const c = await Ctr.create('tokenpull');
    try {
      const r = await c.runMayFail(['images', 'pull', '--all-platforms', '--hosts-dir', hostsDir, ...(user ? ['--user', user] : []), ref]);
      if (r.code === 0) {
        const ls = await c.run(['images', 'ls']);
        assert.match(ls.stdout, new RegExp(`${ref.replace(/[.]/g, '\\.')}\\s+\\S+\\s+${layout.top().digest}`));
      }
      return r;
    } finally {
      await c.destroy();
    }
  };
  const own = `${reg.hostPort}/alice/ctr:v1`;
  const CTR_PULL_DENIED =
    /pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed/;
  assert.equal((await pullAs(own, `${ALICE.user}:${ALICE.password}`)).code, 0);
  assert.equal((await pullAs(`${reg.hostPort}/alice/ctr-pat:v1`, `${ALICE.user}:${alicePat}`)).code, 0);
  const bobPull = await pullAs(own, `${BOB.user}:${BOB.password}`);
  assert.notEqual(bobPull.code, 0, "bob may not pull alice's private repository");
  assert.match(record(t, "ctr pull of alice's private repository as bob", bobPull), CTR_PULL_DENIED);
  const closed = await pullAs(own);
  assert.notEqual(closed.code, 0, 'anonymous pull of a private repository must fail');
  assert.match(record(t, 'ctr anonymous pull of a private repository', closed), CTR_PULL_DENIED);
  await makePublic('alice/ctr');
  const open = await pullAs(own);
  assert.equal(open.code, 0, open.stderr);
});

// ---------------------------------------------------------------------------------------

step('docker: the stored refresh token stops working once its access token is revoked or the password changes', async (t) => {
  const docker = await Docker.create('token-docker-revoke');
  const ref = `${reg.hostPort}/alice/docker-pat:v1`; // private, pushed above
  const pull = async () => {
    await docker.removeImage(ref);
    return docker.runMayFail(['pull', ref]);
  };
  const alice = (await stores.users.userByName(ALICE.user))!;
  const audit = { actor: null, action: 'e2e' };

  const pat = await accounts.createAccessToken(alice, { name: 'e2e-revoke', scopes: ['pull'], resource: null, expiresAt: null }, audit);
  await docker.run(['login', '--username', ALICE.user, '--password-stdin', reg.hostPort], { input: `${pat.secret}\n` });
  const before = await pull();
  assert.equal(before.code, 0, before.stderr);
  await meta.transaction((tx) => stores.credentials.revokeAccessToken(tx, pat.token.id, Date.now()));
  const revoked = await pull();
  assert.notEqual(revoked.code, 0, 'pull with the refresh token of a revoked access token must fail');
  assert.match(record(t, 'docker pull after the access token was revoked', revoked), /unauthorized: refresh token is invalid, expired or revoked/);

  await docker.run(['login', '--username', ALICE.user, '--password-stdin', reg.hostPort], { input: `${ALICE.password}\n` });
  const ok = await pull();
  assert.equal(ok.code, 0, ok.stderr);
  // A password change revokes the user's refresh tokens and, in case one is written while it commits, ends any
  // made before it: put the change after the one docker holds, so either alone must refuse it.
  const newest = await meta.db
    .selectFrom('refresh_tokens')
    .select((eb) => eb.fn.max('created_at').as('at'))
    .where('user_id', '=', alice.id)
    .executeTakeFirstOrThrow();
  clock.advanceTo(Number(newest.at) + 1);
  await accounts.setPassword(alice, 'alice-Changed-0', audit);
  try {
    const changed = await pull();
    assert.notEqual(changed.code, 0, 'pull with a refresh token issued before a password change must fail');
    assert.match(record(t, 'docker pull after a password change', changed), /unauthorized: refresh token is invalid, expired or revoked/);
  } finally {
    await accounts.setPassword(alice, ALICE.password, audit);
  }
  await docker.removeImage(ref);
});
