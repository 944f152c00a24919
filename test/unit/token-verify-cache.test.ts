// TokenVerifier remembers tokens that verified, until they expire, and still honours key retirement.
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { SignJWT, generateKeyPair } from 'jose';
import type { KeyRing } from '../../src/token/keys.js';
import { TokenError, TokenVerifier } from '../../src/token/tokens.js';

async function setup() {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  let retired = false;
  let lookups = 0;
  const keys = {
    publicKey: async (kid: string) => {
      lookups++;
      return kid === 'k1' && !retired ? publicKey : null;
    },
  } as unknown as KeyRing;
  const verifier = new TokenVerifier({ issuer: 'berth', service: 'reg', keys });
  const sign = (expInS: number, claims: Record<string, unknown> = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ access: [{ type: 'repository', name: 'a/b', actions: ['pull'] }], ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('berth').setAudience('reg').setSubject('alice').setIssuedAt(now).setNotBefore(now - 1).setExpirationTime(now + expInS)
      .sign(privateKey);
  };
  return { verifier, sign, retire: () => (retired = true), lookups: () => lookups };
}

describe('token verification cache', () => {
  it('a verified token is trusted again, as the same frozen result, and a changed token is not', async () => {
    const { verifier, sign } = await setup();
    const token = await sign(300);
    const first = await verifier.verify(token);
    assert.deepEqual({ ...first, access: [...first.access] }, { subject: 'alice', access: [{ type: 'repository', name: 'a/b', actions: ['pull'] }], builtin: true });
    assert.equal(await verifier.verify(token), first, 'answered from the cache');
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first.access) && Object.isFrozen(first.access[0].actions));
    // Same header and payload, another signature: never matches the cached string.
    const forged = token.slice(0, token.lastIndexOf('.') + 1) + 'A'.repeat(86);
    await assert.rejects(verifier.verify(forged), TokenError);
  });

  it('a cached token stops working when its key is retired', async () => {
    const { verifier, sign, retire, lookups } = await setup();
    const token = await sign(300);
    await verifier.verify(token);
    const before = lookups();
    await verifier.verify(token);
    assert.equal(lookups(), before + 1, 'the key is looked up on every use');
    retire();
    await assert.rejects(verifier.verify(token), TokenError);
  });

  it('a cached token expires with the same clock tolerance as a full verification', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    try {
      const { verifier, sign } = await setup();
      const token = await sign(10);
      await verifier.verify(token);
      mock.timers.tick(10_000 + 59_000); // past exp, within the 60 s tolerance
      assert.equal((await verifier.verify(token)).subject, 'alice');
      mock.timers.tick(2_000); // past exp + tolerance
      await assert.rejects(verifier.verify(token), TokenError);
    } finally {
      mock.timers.reset();
    }
  });
});
