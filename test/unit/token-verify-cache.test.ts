// TokenVerifier remembers tokens that verified, until they expire, and still honours key retirement.
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { SignJWT, generateKeyPair } from 'jose';
import type { KeyRing } from '../../src/token/keys.js';
import { Revocations } from '../../src/auth/revocations.js';
import { openSqlite } from '../../src/metadata/database.js';
import { RevocationStore } from '../../src/metadata/accounts/revocations.js';
import { TokenError, TokenVerifier } from '../../src/token/tokens.js';

async function setup(revocations?: Revocations) {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  let retired = false;
  let lookups = 0;
  const keys = {
    publicKey: async (kid: string) => {
      lookups++;
      return kid === 'k1' && !retired ? publicKey : null;
    },
  } as unknown as KeyRing;
  const verifier = new TokenVerifier({ issuer: 'berth', service: 'reg', keys, revocations });
  const sign = (expInS: number, claims: Record<string, unknown> = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ access: [{ type: 'repository', name: 'a/b', actions: ['pull'] }], ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('berth')
      .setAudience('reg')
      .setSubject('alice')
      .setIssuedAt(now)
      .setNotBefore(now - 1)
      .setExpirationTime(now + expInS)
      .sign(privateKey);
  };
  return { verifier, sign, retire: () => (retired = true), lookups: () => lookups };
}

describe('token verification cache', () => {
  it('a verified token is trusted again, as the same frozen result, and a changed token is not', async () => {
    const { verifier, sign } = await setup();
    const token = await sign(300);
    const first = await verifier.verify(token);
    assert.deepEqual(
      { ...first, access: [...first.access] },
      { subject: 'alice', access: [{ type: 'repository', name: 'a/b', actions: ['pull'] }], builtin: true, mark: 0 },
    );
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

  it('a cached token of a subject revoked after its mark is refused; one marked after the revocation is not', async () => {
    const meta = await openSqlite(':memory:');
    try {
      const revocations = new Revocations(new RevocationStore(meta), { retainMs: 600_000 });
      const { verifier, sign } = await setup(revocations);
      const before = await sign(300, { rev: await revocations.mark() });
      const unmarked = await sign(300);
      assert.equal((await verifier.verify(before)).mark, 0);
      await verifier.verify(unmarked);
      await meta.transaction((tx) => revocations.record(tx, [{ kind: 'subject', key: 'alice' }]));
      await revocations.poll();
      const after = await sign(300, { rev: await revocations.mark() });
      await assert.rejects(verifier.verify(before), /revoked/, 'from the cache');
      await assert.rejects(verifier.verify(unmarked), /revoked/, 'a token without a mark predates every revocation');
      assert.equal((await verifier.verify(after)).subject, 'alice');
      assert.equal((await verifier.verify(after)).subject, 'alice', 'and again from the cache');
    } finally {
      await meta.close();
    }
  });
});
