// Token signing keys encrypted at rest (auth.token.signingkeysecret): what the database holds, the
// upgrade of plain keys, and start-up refusing a missing or wrong secret.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openMetadata } from '../../src/app.js';
import { SigningKeyStore } from '../../src/metadata/accounts/signing-keys.js';
import { KeySealError, KeySealer } from '../../src/token/key-sealer.js';
import { removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';
import { TOKEN_AUTH, TokenClient } from '../helpers/token-client.js';

const SECRET = 'a-random-secret-of-32-characters';

function withSecret(secret?: string) {
  return { ...TOKEN_AUTH, auth: { ...TOKEN_AUTH.auth, token: secret ? { signingkeysecret: secret } : {} } };
}

async function storedKeys(server: TestServer): Promise<string[]> {
  const meta = await openMetadata(server.config);
  try {
    return (await new SigningKeyStore(meta).signingKeys()).map((k) => k.privatePem);
  } finally {
    await meta.close();
  }
}

async function catalogWith(server: TestServer, token: string): Promise<number> {
  const res = await fetch(`${server.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

describe('signing key sealer', () => {
  it('round-trips, binds the ciphertext to its kid, and refuses another secret', () => {
    const s = new KeySealer(SECRET);
    const sealed = s.seal('kid-1', '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n');
    assert.match(sealed, /^berth-sealed:v1:/);
    assert.ok(!sealed.includes('PRIVATE KEY'));
    assert.equal(s.open('kid-1', sealed), '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n');
    assert.throws(() => s.open('kid-2', sealed), KeySealError, 'moved to another kid');
    assert.throws(() => new KeySealer('another-secret-of-some-length').open('kid-1', sealed), KeySealError);
    assert.throws(() => new KeySealer('short'), KeySealError);
  });
});

describe('signing keys encrypted at rest', () => {
  it('plain keys are sealed once a secret is set; a missing or wrong secret stops start-up; tokens survive', async () => {
    const dir = tempDir();
    let server = await startServer({ dir, config: withSecret() });
    try {
      const plain = await storedKeys(server);
      assert.ok(plain.length > 0 && plain.every((p) => p.includes('PRIVATE KEY')), 'without a secret, keys are plain PEM');
      const before = await new TokenClient(server.url, { user: 'admin', password: 'admin-password-1' }).tokenFor(['registry:catalog:*']);
      await server.close();

      server = await startServer({ dir, config: withSecret(SECRET) });
      const sealed = await storedKeys(server);
      assert.equal(sealed.length, plain.length);
      for (const p of sealed) {
        assert.match(p, /^berth-sealed:v1:/);
        assert.ok(!p.includes('PRIVATE KEY'), 'no private key in clear text');
      }
      assert.equal(await catalogWith(server, before), 200, 'a token signed before the upgrade still verifies');
      const after = await new TokenClient(server.url, { user: 'admin', password: 'admin-password-1' }).tokenFor(['registry:catalog:*']);
      assert.equal(await catalogWith(server, after), 200, 'signing with the sealed key works');
      const rotated = await fetch(`${server.url}/api/v1/admin/keys/rotate`, {
        method: 'POST',
        headers: { Authorization: `Basic ${Buffer.from('admin:admin-password-1').toString('base64')}` },
      });
      assert.equal(rotated.status, 200, await rotated.text());
      assert.ok(
        (await storedKeys(server)).every((p) => p.startsWith('berth-sealed:v1:')),
        'a rotated key is stored sealed',
      );
      await server.close();

      await assert.rejects(startServer({ dir, config: withSecret() }), /encrypted: set auth\.token\.signingkeysecret/);
      await assert.rejects(startServer({ dir, config: withSecret('not-the-secret-that-sealed-them') }), /cannot be decrypted/);
      server = await startServer({ dir, config: withSecret(SECRET) });
      assert.equal(await catalogWith(server, after), 200);
    } finally {
      await server.close();
      removeDir(dir);
    }
  });
});
