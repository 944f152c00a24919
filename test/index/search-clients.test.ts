// `docker search` and `podman search` against Berth in each auth mode, with the real clients
// (docker 20.10 through the harness's dockerd, podman 4.3). What they send:
//   docker: GET /v1/search with no credentials before `docker login`; after it, the login's
//           Basic credentials, or a Bearer token for registry:catalog:search when the login
//           got a refresh token (an identity token).
//   podman: GET /v1/search with no credentials; for any answer but 200 it lists /v2/_catalog
//           with the credentials of `podman login` instead.
// The built-in index has its own file (docker-search.test.ts) for docker.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcrypt';
import { asBody, removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';
import { Docker, Podman } from '../helpers/clients.js';
import { startExternalIssuer, type ExternalIssuer } from '../helpers/external-issuer.js';
import { addUser, indexServer, pushImage as pushIndexImage, setVisibility, settle } from './helpers.js';

const CLIENT_TIMEOUT = { timeout: 180_000 };
let docker: Docker;
let podman: Podman;

before(async () => {
  docker = await Docker.create('search-clients');
});

/** Pushes a one-layer image with the given Authorization header (none: anonymous). */
async function push(base: string, repo: string, tag: string, authorization?: string): Promise<void> {
  const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
  const blob = async (data: Buffer) => {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const post = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
    assert.equal(post.status, 202, `start upload to ${repo}: ${await post.text()}`);
    const loc = new URL(post.headers.get('location')!, base);
    loc.searchParams.set('digest', digest);
    const put = await fetch(loc, { method: 'PUT', headers: { ...headers, 'Content-Type': 'application/octet-stream' }, body: asBody(data) });
    assert.equal(put.status, 201, `upload to ${repo}: ${await put.text()}`);
    return { digest, size: data.length };
  };
  const layer = await blob(randomBytes(64));
  const config = await blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } })));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
  };
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...headers, 'Content-Type': manifest.mediaType },
    body: JSON.stringify(manifest),
  });
  assert.equal(res.status, 201, `manifest ${repo}:${tag}: ${await res.text()}`);
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** Repository names `docker search` lists for HOST/term. */
async function dockerSearch(host: string, term: string): Promise<string[]> {
  const r = await docker.run(['search', '--format', '{{.Name}}', `${host}/${term}`]);
  return r.stdout.split('\n').filter(Boolean).sort();
}

/** Repository names (without the host) `podman search` lists for HOST/term. */
async function podmanSearch(host: string, term: string): Promise<string[]> {
  const r = await podman.run(['search', '--tls-verify=false', '--format', '{{.Name}}', `${host}/${term}`]);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((n) => n.replace(`${host}/`, ''))
    .sort();
}

async function dockerLogin(host: string, user: string, password: string): Promise<void> {
  await docker.run(['login', '--username', user, '--password-stdin', host], { input: password });
}

async function podmanLogin(host: string, user: string, password: string): Promise<void> {
  await podman.run(['login', '--tls-verify=false', '--username', user, '--password-stdin', host], { input: password });
}

describe('open registry', () => {
  let s: TestServer;
  let host: string;
  before(async () => {
    s = await startServer();
    host = new URL(s.url).host;
    podman = new Podman('search-clients-open');
    await push(s.url, 'tools/webapp', 'v1');
    await push(s.url, 'tools/db', 'v1');
    await settle(s);
  });
  after(async () => {
    await s.close();
    removeDir(s.dir);
  });

  it('docker and podman find the repositories', CLIENT_TIMEOUT, async () => {
    assert.deepEqual(await dockerSearch(host, 'webapp'), ['tools/webapp']);
    assert.deepEqual(await podmanSearch(host, 'webapp'), ['tools/webapp']);
  });
});

describe('htpasswd', () => {
  let s: TestServer;
  let host: string;
  before(async () => {
    const dir = tempDir();
    const file = path.join(dir, 'htpasswd');
    writeFileSync(file, `ci:${await bcrypt.hash('ci-password', 4)}\n`);
    s = await startServer({ dir, config: { auth: { htpasswd: { realm: 'Berth', path: file } } } });
    host = new URL(s.url).host;
    podman = new Podman('search-clients-htpasswd');
    await push(s.url, 'tools/webapp', 'v1', basic('ci', 'ci-password'));
    await settle(s);
  });
  after(async () => {
    await docker.runMayFail(['logout', host]);
    await s.close();
    removeDir(s.dir);
  });

  it('anonymous: both are refused', CLIENT_TIMEOUT, async () => {
    const d = await docker.runMayFail(['search', `${host}/webapp`]);
    assert.notEqual(d.code, 0);
    assert.match(d.stderr, /401/);
    const p = await podman.runMayFail(['search', '--tls-verify=false', `${host}/webapp`]);
    assert.notEqual(p.code, 0, `podman: ${p.stdout}`);
  });

  it('signed in: docker (Basic on /v1/search) and podman (the catalog) find the repository', CLIENT_TIMEOUT, async () => {
    await dockerLogin(host, 'ci', 'ci-password');
    assert.deepEqual(await dockerSearch(host, 'webapp'), ['tools/webapp']);
    await podmanLogin(host, 'ci', 'ci-password');
    assert.deepEqual(await podmanSearch(host, 'webapp'), ['tools/webapp']);
  });
});

describe('built-in token index', () => {
  const s = indexServer();
  let host: string;
  before(async () => {
    host = new URL(s.url).host;
    podman = new Podman('search-clients-index');
    const alice = await addUser(s, 'alice');
    await pushIndexImage(s, alice, 'alice/webapp', 'v1');
    await setVisibility(s, alice, 'alice/webapp', 'public');
    await pushIndexImage(s, alice, 'alice/secret-webapp', 'v1');
    await settle(s);
  });

  it('podman finds the public repositories, never a private one', CLIENT_TIMEOUT, async () => {
    assert.deepEqual(await podmanSearch(host, 'webapp'), ['alice/webapp']);
  });
});

describe('external token issuer', () => {
  let s: TestServer;
  let issuer: ExternalIssuer;
  let host: string;
  before(async () => {
    const dir = tempDir();
    issuer = await startExternalIssuer(dir, {
      ci: { password: 'ci-password', repositories: 'ci/', catalog: true },
      stranger: { password: 'stranger-password' },
    });
    s = await startServer({ dir, config: { auth: issuer.config } as never });
    host = new URL(s.url).host;
    podman = new Podman('search-clients-external');
    const token = await issuer.mint('ci', [
      { type: 'repository', name: 'ci/webapp', actions: ['pull', 'push'] },
      { type: 'repository', name: 'ci/webapp-tools', actions: ['pull', 'push'] },
    ]);
    await push(s.url, 'ci/webapp', 'v1', `Bearer ${token}`);
    await push(s.url, 'ci/webapp-tools', 'v1', `Bearer ${token}`);
    await settle(s);
  });
  after(async () => {
    await docker.runMayFail(['logout', host]);
    await s.close();
    await issuer.close();
    removeDir(s.dir);
  });

  it('/v1/search without credentials: 401 with a challenge for catalog search', async () => {
    const res = await fetch(`${s.url}/v1/search?q=webapp`);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), `Bearer realm="${issuer.realm}",service="${issuer.service}",scope="registry:catalog:search"`);
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0].code, 'UNAUTHORIZED');
  });

  it('podman signed in: finds the repositories through the catalog', CLIENT_TIMEOUT, async () => {
    const anonymous = await podman.runMayFail(['search', '--tls-verify=false', `${host}/webapp`]);
    assert.notEqual(anonymous.code, 0, `anonymous podman search: ${anonymous.stdout}`);
    await podmanLogin(host, 'ci', 'ci-password');
    assert.deepEqual(await podmanSearch(host, 'webapp'), ['ci/webapp', 'ci/webapp-tools']);
  });

  it('docker: refused anonymously; after docker login its Basic credentials are exchanged at the issuer', CLIENT_TIMEOUT, async () => {
    const anonymous = await docker.runMayFail(['search', `${host}/webapp`]);
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stderr, /401/);
    await dockerLogin(host, 'ci', 'ci-password');
    const asked = issuer.requests.length;
    assert.deepEqual(await dockerSearch(host, 'webapp'), ['ci/webapp', 'ci/webapp-tools']);
    assert.deepEqual(
      issuer.requests.slice(asked).map((r) => [r.method, r.scopes.join(' '), r.user, r.status]),
      [['GET', 'registry:catalog:search', 'ci', 200]],
      'Berth asked the issuer once, as ci, for catalog search',
    );
  });

  it('docker: a user the issuer does not let search is refused', CLIENT_TIMEOUT, async () => {
    await dockerLogin(host, 'stranger', 'stranger-password');
    const r = await docker.runMayFail(['search', `${host}/webapp`]);
    assert.notEqual(r.code, 0, `stranger sees ${r.stdout}`);
    assert.match(r.stderr, /401/);
    await docker.run(['logout', host]);
  });

  it('docker with an identity token (the issuer gives refresh tokens): its Bearer token is accepted', CLIENT_TIMEOUT, async () => {
    issuer.refreshTokens = true;
    try {
      await dockerLogin(host, 'ci', 'ci-password');
      const asked = issuer.requests.length;
      assert.deepEqual(await dockerSearch(host, 'webapp'), ['ci/webapp', 'ci/webapp-tools']);
      assert.deepEqual(
        issuer.requests.slice(asked).map((r) => [r.method, r.scopes.join(' '), r.user]),
        [['POST', 'registry:catalog:search', 'ci']],
        'dockerd fetched the token itself, with its refresh token',
      );
    } finally {
      issuer.refreshTokens = false;
    }
  });

  it('a token without catalog search, a forged token, and an issuer that is down', async () => {
    const pullOnly = await issuer.mint('ci', [{ type: 'repository', name: 'ci/webapp', actions: ['pull'] }]);
    let res = await fetch(`${s.url}/v1/search?q=webapp`, { headers: { Authorization: `Bearer ${pullOnly}` } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
    res = await fetch(`${s.url}/v1/search?q=webapp`, { headers: { Authorization: 'Bearer not.a.token' } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    res = await fetch(`${s.url}/v1/search?q=webapp`, { headers: { Authorization: basic('ci', 'wrong') } });
    assert.equal(res.status, 401, 'wrong password at the issuer');
    await issuer.close();
    res = await fetch(`${s.url}/v1/search?q=webapp`, { headers: { Authorization: basic('ci', 'ci-password') } });
    assert.equal(res.status, 503, 'the issuer cannot be asked');
    assert.equal(((await res.json()) as { errors: { code: string }[] }).errors[0].code, 'UNAVAILABLE');
  });
});
