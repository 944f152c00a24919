// Key rotation across replicas, and tokens from external issuers: a JWKS file
// and registry:2's rootcertbundle (x5c chains and libtrust key IDs).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT, decodeProtectedHeader, exportJWK, generateKeyPair, importPKCS8 } from 'jose';
import { openMetadata } from '../../src/app.js';
import { SigningKeyStore } from '../../src/metadata/accounts/signing-keys.js';
import { KeyRing, UNKNOWN_KID_RELOAD_MS } from '../../src/token/keys.js';
import { libtrustKeyId } from '../../src/token/tokens.js';
import { removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';
import { TestClock } from '../helpers/clock.js';
import { TOKEN_AUTH, TokenClient, parseChallenge } from '../helpers/token-client.js';

async function get(server: TestServer, p: string, token: string): Promise<number> {
  const res = await fetch(`${server.url}${p}`, { headers: { Authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

function claims(access: object[], extra: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return { iss: 'ext', aud: 'reg', sub: 'ci', iat: now, nbf: now - 1, exp: now + 300, access, ...extra };
}

describe('key rotation', () => {
  let server: TestServer;
  const clock = new TestClock();
  before(async () => {
    server = await startServer({ config: TOKEN_AUTH, parts: { now: clock.now } });
  });
  after(async () => {
    await server.close();
    removeDir(server.dir);
  });

  it('a key rotated by another replica verifies at once; tokens of the retired key stay valid', async () => {
    const admin = new TokenClient(server.url, { user: 'admin', password: 'admin-password-1' });
    const old = await admin.tokenFor(['registry:catalog:*']);
    const meta = await openMetadata(server.config);
    try {
      const store = new SigningKeyStore(meta);
      const other = new KeyRing(store, meta, 5 * 60_000); // "replica B"
      await other.init();
      const newKid = await other.rotate();
      const { key, kid } = await other.signingKey();
      clock.advance(UNKNOWN_KID_RELOAD_MS + 1); // replica A re-reads keys for an unknown kid at most this often
      assert.equal(kid, newKid);
      const now = Math.floor(Date.now() / 1000);
      const fresh = await new SignJWT({ access: [{ type: 'registry', name: 'catalog', actions: ['*'] }] })
        .setProtectedHeader({ alg: 'ES256', kid })
        .setIssuer('berth')
        .setAudience('berth')
        .setSubject('admin')
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .sign(key);
      assert.equal(await get(server, '/v2/_catalog', fresh), 200, 'new kid verified by replica A');
      assert.equal(await get(server, '/v2/_catalog', old), 200, 'the retired key still verifies');
      const jwks = (await (await fetch(`${server.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
      const kids = jwks.keys.map((k) => k.kid);
      assert.ok(kids.includes(newKid) && kids.includes(decodeProtectedHeader(old).kid!), `both keys published: ${kids}`);
      assert.equal((await store.signingKeys()).filter((k) => k.retiredAt === null).length, 1);
    } finally {
      await meta.close();
    }
  });
});

describe('an external issuer by JWKS file', () => {
  let server: TestServer;
  let key: CryptoKey;
  before(async () => {
    const dir = tempDir();
    const pair = await generateKeyPair('ES256', { extractable: true });
    key = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'ext-1', alg: 'ES256' };
    const jwksFile = path.join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
    server = await startServer({
      dir,
      config: { auth: { token: { builtin: false, jwks: jwksFile, issuer: 'ext', service: 'reg', realm: 'https://auth.example.com/token' } } },
    });
  });
  after(async () => {
    await server.close();
    removeDir(server.dir);
  });

  it('challenges with the configured realm and serves no token endpoint of its own', async () => {
    const res = await fetch(`${server.url}/v2/`);
    assert.equal(res.status, 401);
    const ch = parseChallenge(res.headers.get('www-authenticate'));
    assert.deepEqual([ch?.realm, ch?.service], ['https://auth.example.com/token', 'reg']);
    assert.equal((await fetch(`${server.url}/token`)).status, 404);
  });

  it('accepts its tokens within their access, refuses other keys, issuers and audiences', async () => {
    const sign = (c: object, k: CryptoKey = key, kid = 'ext-1') => new SignJWT(c as any).setProtectedHeader({ alg: 'ES256', kid }).sign(k);
    const good = await sign(
      claims([
        { type: 'repository', name: 'ci/app', actions: ['pull', 'push'] },
        { type: 'registry', name: 'catalog', actions: ['*'] },
      ]),
    );
    assert.equal(await get(server, '/v2/', good), 200);
    // Push with the external token directly.
    const up = await fetch(`${server.url}/v2/ci/app/blobs/uploads/`, { method: 'POST', headers: { Authorization: `Bearer ${good}` } });
    assert.equal(up.status, 202);
    assert.equal(await get(server, '/v2/other/app/tags/list', good), 401);
    assert.equal(await get(server, '/v2/_catalog', good), 200);
    const stranger = (await generateKeyPair('ES256')).privateKey;
    assert.equal(await get(server, '/v2/', await sign(claims([]), stranger)), 401);
    assert.equal(await get(server, '/v2/', await sign(claims([], { iss: 'berth' }))), 401);
    assert.equal(await get(server, '/v2/', await sign(claims([], { aud: 'berth' }))), 401);
  });
});

describe('an external issuer by rootcertbundle (registry:2 style)', () => {
  let server: TestServer;
  let dir: string;
  let certPem: string;
  let key: CryptoKey;
  let otherKey: CryptoKey;
  let otherCertPem: string;

  function makeCert(name: string): { cert: string; key: string } {
    const k = path.join(dir, `${name}.key`);
    const c = path.join(dir, `${name}.crt`);
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', k, '-out', c, '-days', '2', '-subj', `/CN=${name}`],
      { stdio: 'ignore' },
    );
    return { cert: readFileSync(c, 'utf8'), key: readFileSync(k, 'utf8') };
  }

  before(async () => {
    dir = tempDir();
    const issuer = makeCert('issuer');
    const other = makeCert('other');
    certPem = issuer.cert;
    otherCertPem = other.cert;
    key = await importPKCS8(createPrivateKey(issuer.key).export({ type: 'pkcs8', format: 'pem' }).toString(), 'ES256');
    otherKey = await importPKCS8(createPrivateKey(other.key).export({ type: 'pkcs8', format: 'pem' }).toString(), 'ES256');
    const bundle = path.join(dir, 'bundle.pem');
    writeFileSync(bundle, certPem);
    server = await startServer({
      dir,
      config: { auth: { token: { builtin: false, rootcertbundle: bundle, issuer: 'ext', service: 'reg', realm: 'https://auth.example.com/token' } } },
    });
  });
  after(async () => {
    await server.close();
    removeDir(server.dir);
  });

  const der = (pem: string) => new X509Certificate(pem).raw.toString('base64');

  it('accepts a token with the trusted certificate in x5c or its libtrust key ID as kid', async () => {
    const access = [{ type: 'repository', name: 'ci/app', actions: ['pull'] }];
    const x5c = await new SignJWT(claims(access)).setProtectedHeader({ alg: 'ES256', x5c: [der(certPem)] }).sign(key);
    assert.equal(await get(server, '/v2/', x5c), 200);
    const kid = libtrustKeyId(new X509Certificate(certPem).publicKey);
    assert.match(kid, /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    const byKid = await new SignJWT(claims(access)).setProtectedHeader({ alg: 'ES256', kid }).sign(key);
    assert.equal(await get(server, '/v2/', byKid), 200);
  });

  it('refuses an untrusted certificate, and a trusted certificate with another key’s signature', async () => {
    const untrusted = await new SignJWT(claims([])).setProtectedHeader({ alg: 'ES256', x5c: [der(otherCertPem)] }).sign(otherKey);
    assert.equal(await get(server, '/v2/', untrusted), 401);
    const mismatched = await new SignJWT(claims([])).setProtectedHeader({ alg: 'ES256', x5c: [der(certPem)] }).sign(otherKey);
    assert.equal(await get(server, '/v2/', mismatched), 401);
    const unknownKid = await new SignJWT(claims([])).setProtectedHeader({ alg: 'ES256', kid: 'AAAA:BBBB' }).sign(key);
    assert.equal(await get(server, '/v2/', unknownKid), 401);
  });
});
