// Docker registry tokens: short-lived JWTs whose `access` claim lists what the
// bearer may do. Berth issues them with its key ring and verifies its own plus
// those of external issuers (a JWKS URL or file, or registry:2's rootcertbundle).
import { X509Certificate, createHash, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import {
  SignJWT,
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  jwtVerify,
  type JWTHeaderParameters,
  type ProtectedHeaderParameters,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { ResourceScope } from '../auth/authorizer.js';
import type { Revocations } from '../auth/revocations.js';
import { ConfigError, readConfiguredFile } from '../config/index.js';
import type { KeyRing } from './keys.js';
import { TokenError } from './token-error.js';

export interface VerifiedToken {
  /** The account name; "" for an anonymous token. */
  subject: string;
  access: ResourceScope[];
  /** Issued by this Berth (so `subject` is one of its accounts). */
  builtin: boolean;
  /** The revocation mark it was issued with (auth/revocations.ts); 0 for external tokens. */
  mark: number;
}

export { TokenError };

/** Asymmetric algorithms only: no "none", no HMAC (a public key must never double as a secret). */
const ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'];
export const CLOCK_TOLERANCE_S = 60;

export class TokenIssuer {
  constructor(
    private readonly keys: KeyRing,
    private readonly issuer: string,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** `mark`: the revocation mark read before the grants were decided (auth/revocations.ts). */
  async issue(subject: string, audience: string, access: ResourceScope[], mark: number): Promise<{ token: string; expiresIn: number; issuedAt: string }> {
    const { kid, alg, key } = await this.keys.signingKey();
    const now = Math.floor(this.now() / 1000);
    const expiresIn = Math.max(1, Math.floor(this.ttlMs / 1000));
    const token = await new SignJWT({ access: access.map((a) => ({ type: a.type, name: a.name, actions: a.actions })), rev: mark })
      .setProtectedHeader({ alg, kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setSubject(subject)
      .setAudience(audience)
      .setIssuedAt(now)
      .setNotBefore(now - 1)
      .setExpirationTime(now + expiresIn)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(key);
    return { token, expiresIn, issuedAt: new Date(now * 1000).toISOString() };
  }
}

export interface VerifierOptions {
  issuer: string;
  service: string;
  /** Berth's own keys, when the built-in token service runs. */
  keys?: KeyRing;
  /** JWKS of an external issuer: an http(s) URL or a file. */
  jwks?: string;
  /** PEM bundle of certificates whose keys (or leaf certificates they issued, via x5c) sign tokens. */
  rootCertBundle?: string;
  /** Rights taken away since Berth's own tokens were issued (external issuers decide their own). */
  revocations?: Revocations;
  /** The clock tokens are checked against (app.ts AppParts.now); Date.now by default. */
  now?: () => number;
}

/** Verified tokens remembered per process (~1 KiB each). */
const CACHE_MAX = 10_000;

interface CachedToken {
  result: VerifiedToken;
  /** Berth's own key that signed it: looked up again on every use, so a retired key stops its tokens. */
  kid: string | null;
  /** Valid from/until (ms), with the same clock tolerance as a full verification. */
  from: number;
  until: number;
}

export class TokenVerifier {
  private readonly external: JWTVerifyGetKey | null;
  private readonly roots: X509Certificate[];
  /**
   * A client sends the same token with every request for its lifetime (5 minutes by default), and an
   * ES256 verification costs ~130 µs of CPU, twice a whole manifest GET. So a token that verified is
   * trusted again, by its exact string, until it expires.
   */
  private readonly cache = new Map<string, CachedToken>();
  private readonly now: () => number;

  constructor(private readonly opts: VerifierOptions) {
    this.now = opts.now ?? Date.now;
    this.roots = opts.rootCertBundle ? loadBundle(opts.rootCertBundle) : [];
    this.external = opts.jwks
      ? /^https?:\/\//.test(opts.jwks)
        ? createRemoteJWKSet(new URL(opts.jwks), { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000 })
        : localJwks(opts.jwks)
      : null;
  }

  async verify(token: string): Promise<VerifiedToken> {
    const hit = this.cache.get(token);
    if (hit) {
      const now = this.now();
      if (now >= hit.from && now < hit.until && (hit.kid === null || (await this.opts.keys?.publicKey(hit.kid)))) return this.unrevoked(hit.result);
      this.cache.delete(token);
    }
    let header: ProtectedHeaderParameters;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new TokenError('malformed token');
    }
    if (!header.alg || !ALGORITHMS.includes(header.alg)) throw new TokenError('unsupported token algorithm');
    const own = this.opts.keys && header.kid && !header.x5c ? await this.opts.keys.publicKey(header.kid) : null;
    const check = {
      issuer: this.opts.issuer,
      audience: this.opts.service,
      algorithms: ALGORITHMS,
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['exp'],
      currentDate: new Date(this.now()),
    };
    let payload: JWTPayload;
    try {
      if (own) payload = (await jwtVerify(token, own, check)).payload;
      else payload = (await jwtVerify(token, (h: JWTHeaderParameters) => this.externalKey(h), check)).payload;
    } catch (err) {
      throw new TokenError(err instanceof TokenError ? err.message : 'token rejected');
    }
    const result: VerifiedToken = Object.freeze({
      subject: typeof payload.sub === 'string' ? payload.sub : '',
      access: Object.freeze(parseAccess(payload.access).map((a) => Object.freeze({ ...a, actions: Object.freeze(a.actions) }))),
      builtin: own !== null,
      // A token of ours without a mark predates revocations: every one applies to it.
      mark: own !== null && typeof payload.rev === 'number' ? payload.rev : 0,
    }) as VerifiedToken;
    this.remember(token, result, payload, own ? header.kid! : null);
    return this.unrevoked(result);
  }

  /** Throws for one of our tokens whose subject lost rights after it was issued (it stays cached: refusing it again is as cheap). */
  private unrevoked(t: VerifiedToken): VerifiedToken {
    if (t.builtin && this.opts.revocations?.subjectRevoked(t.subject, t.mark)) throw new TokenError('token revoked');
    return t;
  }

  private remember(token: string, result: VerifiedToken, payload: JWTPayload, kid: string | null): void {
    if (typeof payload.exp !== 'number') return;
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    const notBefore = typeof payload.nbf === 'number' ? payload.nbf : -Infinity;
    this.cache.set(token, { result, kid, from: (notBefore - CLOCK_TOLERANCE_S) * 1000, until: (payload.exp + CLOCK_TOLERANCE_S) * 1000 });
  }

  private async externalKey(header: JWTHeaderParameters): Promise<KeyObject | CryptoKey | Uint8Array> {
    if (header.x5c && this.roots.length) return this.keyFromChain(header.x5c);
    if (this.roots.length) {
      // registry:2 issuers name their key by libtrust fingerprint; accept that or a JWK thumbprint.
      const match = this.roots.find((c) => header.kid && (libtrustKeyId(c.publicKey) === header.kid || jwkThumbprint(c.publicKey) === header.kid));
      if (match) return match.publicKey;
      if (this.roots.length === 1 && !header.kid) return this.roots[0].publicKey;
    }
    if (this.external) return (await this.external(header, undefined as never)) as CryptoKey;
    throw new TokenError('token signed by an unknown key');
  }

  /** The leaf of an x5c chain, accepted when it is one of the roots or was issued (and signed) by one. */
  private keyFromChain(x5c: string[]): KeyObject {
    const chain = x5c.map((b64) => new X509Certificate(Buffer.from(b64, 'base64')));
    const now = this.now();
    for (const c of chain) {
      if (Date.parse(c.validFrom) > now || Date.parse(c.validTo) < now) throw new TokenError('token certificate is not valid now');
    }
    for (let i = 0; i < chain.length; i++) {
      const cert = chain[i];
      if (this.roots.some((r) => r.raw.equals(cert.raw) || (cert.checkIssued(r) && cert.verify(r.publicKey)))) {
        // Every link below the trusted one must be issued by the next.
        for (let j = 0; j < i; j++) {
          if (!(chain[j].checkIssued(chain[j + 1]) && chain[j].verify(chain[j + 1].publicKey))) throw new TokenError('broken certificate chain');
        }
        return chain[0].publicKey;
      }
    }
    throw new TokenError('token certificate is not trusted');
  }
}

function parseAccess(v: unknown): ResourceScope[] {
  if (!Array.isArray(v)) return [];
  const out: ResourceScope[] = [];
  for (const a of v) {
    if (a && typeof a.type === 'string' && typeof a.name === 'string' && Array.isArray(a.actions)) {
      out.push({ type: a.type, name: a.name, actions: a.actions.filter((x: unknown): x is string => typeof x === 'string') });
    }
  }
  return out;
}

function loadBundle(path: string): X509Certificate[] {
  const pem = readConfiguredFile('auth.token.rootcertbundle', path, 'utf8');
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ConfigError(`auth.token.rootcertbundle: ${path} holds no certificates`);
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    throw new ConfigError(`auth.token.rootcertbundle: ${path}: ${(err as Error).message}`);
  }
}

function localJwks(path: string): JWTVerifyGetKey {
  const text = readConfiguredFile('auth.token.jwks', path, 'utf8');
  try {
    return createLocalJWKSet(JSON.parse(text));
  } catch (err) {
    throw new ConfigError(`auth.token.jwks: ${path} is not a JSON Web Key Set: ${(err as Error).message}`);
  }
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** libtrust's key ID: base32 of the first 240 bits of SHA-256(DER SPKI), in 12 groups of 4. */
export function libtrustKeyId(key: KeyObject): string {
  const digest = createHash('sha256')
    .update((key.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'der' }))
    .digest()
    .subarray(0, 30);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of digest) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)!.join(':');
}

function jwkThumbprint(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' }) as Record<string, string>;
  const members =
    jwk.kty === 'EC'
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
      : jwk.kty === 'RSA'
        ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
        : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}
