// htpasswd Basic authentication and TLS.
import assert from 'node:assert/strict';
import { statSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcrypt';
import { MT, asBody, digestOf, expectError, expectRawError, randomBlob, removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';
import { httpsRequest, selfSignedCert, type SelfSigned } from '../helpers/api-tls.js';
import { TestClock } from '../helpers/clock.js';

const REALM = 'Berth Test Realm';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** A bcrypt hash as `htpasswd -B` writes it ($2y$), or as node's bcrypt does ($2b$). */
function hash(password: string, prefix: '$2b$' | '$2y$' = '$2b$'): string {
  const h = bcrypt.hashSync(password, 4);
  assert.ok(h.startsWith('$2b$'));
  return prefix + h.slice(4);
}

describe('htpasswd authentication', () => {
  let dir: string;
  let htpasswd: string;
  let srv: TestServer;
  const clock = new TestClock();

  before(async () => {
    dir = tempDir();
    htpasswd = path.join(dir, 'htpasswd');
    writeFileSync(
      htpasswd,
      [`alice:${hash('alice-secret')}`, `bob:${hash('bob-secret', '$2y$')}`, `carol:${hash('pa:ss:word')}`, '# a comment', ''].join('\n'),
    );
    srv = await startServer({ dir: path.join(dir, 'data'), config: { auth: { htpasswd: { realm: REALM, path: htpasswd } } }, parts: { now: clock.now } });
  });
  after(async () => {
    await srv.close();
    removeDir(dir);
  });

  const get = (p: string, auth?: string, init: RequestInit = {}) =>
    fetch(srv.url + p, { ...init, headers: { ...(init.headers as Record<string, string>), ...(auth ? { Authorization: auth } : {}) } });

  async function assertChallenge(res: Response, context: string): Promise<void> {
    assert.equal(res.headers.get('www-authenticate'), `Basic realm="${REALM}"`, context);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0', context);
    await expectError(res, 401, 'UNAUTHORIZED', context);
  }

  it('without credentials: 401 with WWW-Authenticate: Basic realm="..."', async () => {
    await assertChallenge(await get('/v2/'), 'GET /v2/');
  });

  it('with a wrong password, an unknown user or a malformed header: 401', async () => {
    const cases: [string, string][] = [
      ['wrong password', basic('alice', 'nope')],
      ['empty password', basic('alice', '')],
      ['wrong case', basic('Alice', 'alice-secret')],
      ['unknown user', basic('mallory', 'alice-secret')],
      ['other user password', basic('bob', 'alice-secret')],
      ['not base64 user:pass', `Basic ${Buffer.from('alice').toString('base64')}`],
      ['garbage', 'Basic !!!!'],
      ['bearer', 'Bearer abc.def.ghi'],
    ];
    for (const [what, auth] of cases) await assertChallenge(await get('/v2/', auth), what);
  });

  it('with the right credentials: 200', async () => {
    const res = await get('/v2/', basic('alice', 'alice-secret'));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('www-authenticate'), null);
    await res.arrayBuffer();
  });

  it('a $2y$ hash (htpasswd -B) works', async () => {
    const res = await get('/v2/', basic('bob', 'bob-secret'));
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    await assertChallenge(await get('/v2/', basic('bob', 'bob-secret-not')), 'bob wrong password');
  });

  it('a password containing colons works', async () => {
    const res = await get('/v2/', basic('carol', 'pa:ss:word'));
    assert.equal(res.status, 200);
    await res.arrayBuffer();
  });

  it('every /v2 endpoint is protected; with credentials a push and pull round-trip', async () => {
    const auth = basic('alice', 'alice-secret');
    const bytes = randomBlob(500);
    const digest = digestOf(bytes);
    await assertChallenge(await get(`/v2/auth/repo/blobs/uploads/?digest=${digest}`, undefined, { method: 'POST', body: asBody(bytes) }), 'POST upload');
    await assertChallenge(await get('/v2/_catalog'), 'catalog');
    await assertChallenge(await get('/v2/auth/repo/tags/list'), 'tags');
    const head = await get(`/v2/auth/repo/blobs/${digest}`, undefined, { method: 'HEAD' });
    assert.equal(head.status, 401);
    assert.equal(head.headers.get('www-authenticate'), `Basic realm="${REALM}"`);
    await head.arrayBuffer();

    const up = await get(`/v2/auth/repo/blobs/uploads/?digest=${digest}`, auth, { method: 'POST', body: asBody(bytes) });
    assert.equal(up.status, 201, await up.text());
    const doc = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest, size: bytes.length }, layers: [] };
    const put = await get('/v2/auth/repo/manifests/v1', auth, { method: 'PUT', headers: { 'Content-Type': MT.ociManifest }, body: JSON.stringify(doc) });
    assert.equal(put.status, 201, await put.text());
    await assertChallenge(await get('/v2/auth/repo/manifests/v1'), 'manifest GET without credentials');
    const blob = await get(`/v2/auth/repo/blobs/${digest}`, auth);
    assert.equal(blob.status, 200);
    assert.ok(Buffer.from(await blob.arrayBuffer()).equals(bytes));
    const tags = await get('/v2/auth/repo/tags/list', auth);
    assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, ['v1']);
  });

  it('a changed htpasswd file is picked up: new users admitted, removed users refused', async () => {
    // Cache a successful login for alice first: removal must still take effect.
    assert.equal((await get('/v2/', basic('alice', 'alice-secret'))).status, 200);
    const { mtimeMs } = statSync(htpasswd);
    writeFileSync(htpasswd, [`bob:${hash('bob-secret', '$2y$')}`, `dave:${hash('dave-secret')}`, ''].join('\n'));
    // The file is known by its mtime: one a coarse file system clock left unchanged is moved on, as a later write would.
    if (statSync(htpasswd).mtimeMs === mtimeMs) utimesSync(htpasswd, new Date(), new Date(mtimeMs + 1000));
    clock.advance(1000); // the file is re-checked at most once a second
    const dave = await get('/v2/', basic('dave', 'dave-secret'));
    assert.equal(dave.status, 200, 'a user added to the file is admitted');
    await dave.arrayBuffer();
    await assertChallenge(await get('/v2/', basic('alice', 'alice-secret')), 'a user removed from the file is refused');
  });
});

describe('TLS', () => {
  let dir: string;
  let cert: SelfSigned;
  let srv: TestServer;

  before(async () => {
    dir = tempDir();
    cert = selfSignedCert(dir);
    srv = await startServer({ dir: path.join(dir, 'data'), protocol: 'https', config: { http: { tls: { certificate: cert.certificate, key: cert.key } } } });
    assert.ok(srv.url.startsWith('https://'));
  });
  after(async () => {
    await srv.close();
    removeDir(dir);
  });

  it('GET /v2/ over HTTPS answers 200 (certificate verified against the self-signed CA)', async () => {
    const res = await httpsRequest(`${srv.url}/v2/`, { ca: cert.pem });
    assert.equal(res.status, 200);
    assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
  });

  it('GET /v2/ over HTTPS without verification answers 200', async () => {
    const res = await httpsRequest(`${srv.url}/v2/`);
    assert.equal(res.status, 200);
  });

  it('an unverified client refuses the self-signed certificate', async () => {
    // Sanity check of the test itself: TLS is really on and verification really happens.
    await assert.rejects(
      () =>
        new Promise((resolve, reject) => {
          const req = https.request(`${srv.url}/v2/`, { agent: false }, resolve);
          req.on('error', reject);
          req.end();
        }),
      /self[- ]signed|certificate/i,
    );
  });

  it('plain HTTP to the TLS port gets no registry answer', async () => {
    const u = new URL(srv.url);
    const outcome = await new Promise<number | string>((resolve) => {
      const req = http.request({ host: u.hostname, port: Number(u.port), path: '/v2/', agent: false, timeout: 3000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => resolve(e.message));
      req.end();
    });
    assert.notEqual(outcome, 200);
  });

  it('an upload over HTTPS gets an https:// Location and the blob round-trips', async () => {
    const start = await httpsRequest(`${srv.url}/v2/tls/repo/blobs/uploads/`, { method: 'POST', ca: cert.pem });
    assert.equal(start.status, 202);
    const location = String(start.headers.location ?? '');
    assert.ok(location.startsWith(`${srv.url}/v2/tls/repo/blobs/uploads/`), `https Location, got ${location}`);
    const bytes = randomBlob(2048);
    const digest = digestOf(bytes);
    const put = await httpsRequest(`${location}?digest=${digest}`, {
      method: 'PUT',
      body: bytes,
      ca: cert.pem,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length },
    });
    assert.equal(put.status, 201, put.body.toString());
    assert.equal(put.headers.location, `${srv.url}/v2/tls/repo/blobs/${digest}`);
    const got = await httpsRequest(`${srv.url}/v2/tls/repo/blobs/${digest}`, { ca: cert.pem });
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(bytes));
  });
});

describe('TLS with htpasswd', () => {
  it('401 without credentials and 200 with them, over HTTPS', async () => {
    const dir = tempDir();
    const htpasswd = path.join(dir, 'htpasswd');
    writeFileSync(htpasswd, `erin:${hash('erin-secret', '$2y$')}\n`);
    const cert = selfSignedCert(dir);
    const srv = await startServer({
      dir: path.join(dir, 'data'),
      protocol: 'https',
      config: { http: { tls: { certificate: cert.certificate, key: cert.key } }, auth: { htpasswd: { realm: REALM, path: htpasswd } } },
    });
    try {
      const denied = await httpsRequest(`${srv.url}/v2/`, { ca: cert.pem });
      expectRawError(denied, 401, 'UNAUTHORIZED', 'no credentials');
      assert.equal(denied.headers['www-authenticate'], `Basic realm="${REALM}"`);
      const ok = await httpsRequest(`${srv.url}/v2/`, { ca: cert.pem, headers: { Authorization: basic('erin', 'erin-secret') } });
      assert.equal(ok.status, 200);
    } finally {
      await srv.close();
      removeDir(dir);
    }
  });
});
