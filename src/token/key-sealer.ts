// Encryption at rest for token signing keys. Whoever reads the metadata database (or a backup, or a
// PostgreSQL dump) must not be able to mint tokens: with auth.token.signingkeysecret set, private keys
// are stored AES-256-GCM encrypted under a key derived from that secret, bound to their kid. Other
// secrets at rest (replication credentials) use the same sealing under a key of their own: a
// different HKDF info, so a value sealed for one purpose never opens as another.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const PREFIX = 'berth-sealed:v1:';
export const MIN_SECRET_LENGTH = 16;

export class KeySealError extends Error {}

export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

/** What a sealer seals: the HKDF info of its key, and what a value that cannot be opened is called in the error. */
export interface SealPurpose {
  info: string;
  what: string;
}

export const SIGNING_KEYS: SealPurpose = { info: 'token signing keys v1', what: 'signing key' };

export class KeySealer {
  private readonly key: Buffer;

  constructor(
    secret: string,
    private readonly purpose: SealPurpose = SIGNING_KEYS,
  ) {
    if (secret.length < MIN_SECRET_LENGTH) throw new KeySealError(`the signing key secret must have at least ${MIN_SECRET_LENGTH} characters`);
    // HKDF, not a password hash: the secret is meant to be random (e.g. `openssl rand -base64 32`).
    this.key = Buffer.from(hkdfSync('sha256', secret, 'berth', purpose.info, 32));
  }

  seal(kid: string, pem: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv).setAAD(Buffer.from(kid));
    const body = Buffer.concat([c.update(pem, 'utf8'), c.final()]);
    return PREFIX + [iv, c.getAuthTag(), body].map((b) => b.toString('base64url')).join('.');
  }

  open(kid: string, stored: string): string {
    if (!isSealed(stored)) return stored;
    const [iv, tag, body] = stored
      .slice(PREFIX.length)
      .split('.')
      .map((p) => Buffer.from(p, 'base64url'));
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, iv).setAAD(Buffer.from(kid)).setAuthTag(tag);
      return Buffer.concat([d.update(body), d.final()]).toString('utf8');
    } catch {
      throw new KeySealError(`${this.purpose.what} ${kid} cannot be decrypted: auth.token.signingkeysecret differs from the one it was stored with`);
    }
  }
}
