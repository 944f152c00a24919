// Token signing keys (ES256), kept in the metadata database so every replica
// signs and verifies with the same set. The newest unretired key signs; retired
// keys stay published (JWKS) until every token they signed has expired.
import { exportJWK, exportPKCS8, calculateJwkThumbprint, generateKeyPair, importJWK, importPKCS8, type CryptoKey, type JWK } from 'jose';
import { databaseUnavailable } from '../errors/unavailable.js';
import type { SigningKeyRow, SigningKeyStore } from '../metadata/accounts/signing-keys.js';
import type { MetadataDb } from '../metadata/database.js';
import { KeySealError, isSealed, type KeySealer } from './key-sealer.js';

const ALG = 'ES256';
/** How often a replica re-reads the key table (to see a rotation done by another one). */
const RELOAD_MS = 30_000;
/** An unknown kid re-reads the table at most this often (forged kids cannot hammer the database). */
export const UNKNOWN_KID_RELOAD_MS = 250;

interface LoadedKey {
  kid: string;
  alg: string;
  jwk: JWK;
  retiredAt: number | null;
  createdAt: number;
  privateKey?: CryptoKey;
  publicKey?: CryptoKey;
  row: SigningKeyRow;
}

export class KeyRing {
  private keys: LoadedKey[] = [];
  private loadedAt = 0;
  private loading: Promise<void> | null = null;

  constructor(
    private readonly store: SigningKeyStore,
    private readonly meta: MetadataDb,
    /** Longest token lifetime: retired keys are dropped this long after retirement. */
    private readonly maxTokenMs: number,
    /** Encrypts private keys at rest (auth.token.signingkeysecret); null stores them as plain PEM. */
    private readonly sealer: KeySealer | null = null,
    /** The clock of reloads and retirement (app.ts AppParts.now). */
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Loads the keys, creating the first one if the table is empty. With a sealer, keys stored in plain
   * text are encrypted now; every key must open, so a wrong or missing secret stops start-up here.
   */
  async init(): Promise<void> {
    await this.reload();
    for (const k of this.keys) {
      if (isSealed(k.row.privatePem) && !this.sealer) {
        throw new KeySealError('the token signing keys are encrypted: set auth.token.signingkeysecret (or signingkeysecretfile)');
      }
      if (this.sealer) {
        const pem = this.sealer.open(k.kid, k.row.privatePem);
        if (!isSealed(k.row.privatePem)) await this.meta.transaction((tx) => this.store.setSigningKeyPrivate(tx, k.kid, this.sealer!.seal(k.kid, pem)));
      }
    }
    if (!this.keys.some((k) => k.retiredAt === null)) await this.addKey(false);
    await this.reload();
  }

  /** Makes a new signing key and retires the others (they still verify until their tokens expire). */
  async rotate(): Promise<string> {
    const kid = await this.addKey(true);
    await this.reload();
    return kid;
  }

  async signingKey(): Promise<{ kid: string; alg: string; key: CryptoKey }> {
    await this.fresh();
    const k = this.keys.find((x) => x.retiredAt === null) ?? this.keys[0];
    if (!k) throw new Error('no token signing key');
    k.privateKey ??= await importPKCS8(this.sealer ? this.sealer.open(k.kid, k.row.privatePem) : k.row.privatePem, k.alg);
    return { kid: k.kid, alg: k.alg, key: k.privateKey };
  }

  /** The public key for a kid; an unknown kid triggers one early reload (a key made by another replica). */
  async publicKey(kid: string): Promise<CryptoKey | null> {
    await this.fresh();
    let k = this.keys.find((x) => x.kid === kid);
    if (!k && this.now() - this.loadedAt > UNKNOWN_KID_RELOAD_MS) {
      await this.reload();
      k = this.keys.find((x) => x.kid === kid);
    }
    if (!k) return null;
    k.publicKey ??= (await importJWK(k.jwk, k.alg)) as CryptoKey;
    return k.publicKey;
  }

  async jwks(): Promise<{ keys: JWK[] }> {
    await this.fresh();
    return { keys: this.keys.map((k) => ({ ...k.jwk, kid: k.kid, alg: k.alg, use: 'sig' })) };
  }

  private async fresh(): Promise<void> {
    if (this.now() - this.loadedAt <= RELOAD_MS) return;
    try {
      await this.reload();
    } catch (err) {
      // The database is down: keys change only through it, so the ones loaded are still the set
      // (tokens keep verifying during the outage); try again in a second.
      if (this.keys.length === 0 || !databaseUnavailable(err)) throw err;
      this.loadedAt = this.now() - RELOAD_MS + 1000;
    }
  }

  private async reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const now = this.now();
        const rows = (await this.store.signingKeys()).filter((r) => r.retiredAt === null || r.retiredAt + this.maxTokenMs > now);
        const old = new Map(this.keys.map((k) => [k.kid, k]));
        this.keys = rows.map((row) => {
          const prev = old.get(row.kid);
          return {
            kid: row.kid,
            alg: row.alg,
            jwk: JSON.parse(row.publicJwk),
            retiredAt: row.retiredAt,
            createdAt: row.createdAt,
            row,
            privateKey: prev?.privateKey,
            publicKey: prev?.publicKey,
          };
        });
        this.loadedAt = now;
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  private async addKey(retireOthers: boolean): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
    const jwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    const now = this.now();
    await this.meta.transaction(async (tx) => {
      const pem = await exportPKCS8(privateKey);
      await this.store.addSigningKey(tx, {
        kid,
        alg: ALG,
        privatePem: this.sealer ? this.sealer.seal(kid, pem) : pem,
        publicJwk: JSON.stringify(jwk),
        createdAt: now,
      });
      if (retireOthers) {
        await this.store.retireSigningKeys(tx, kid, now);
        await this.store.dropSigningKeysRetiredBefore(tx, now - this.maxTokenMs);
      }
    });
    return kid;
  }
}
