// Content digests (OCI image-spec "descriptor" digests). Pure: no I/O.
import { createHash, type Hash } from 'node:crypto';

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface Digest {
  algorithm: DigestAlgorithm;
  hex: string;
  /** The canonical "algorithm:hex" form. */
  value: string;
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const DIGEST_RE = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

export class InvalidDigestError extends Error {}
export class UnsupportedDigestError extends Error {}

/** Parses "sha256:<hex>"; throws InvalidDigestError for malformed values and
 *  UnsupportedDigestError for well-formed digests of algorithms we cannot verify. */
export function parseDigest(input: string): Digest {
  const m = DIGEST_RE.exec(input);
  if (!m) throw new InvalidDigestError(`invalid digest "${truncate(input)}"`);
  const algorithm = m[1] as DigestAlgorithm;
  const expected = HEX_LENGTH[algorithm];
  if (expected === undefined) throw new UnsupportedDigestError(`unsupported digest algorithm "${truncate(m[1])}"`);
  const hex = m[2];
  if (hex.length !== expected || !/^[a-f0-9]+$/.test(hex)) {
    throw new InvalidDigestError(`invalid ${algorithm} digest "${truncate(input)}"`);
  }
  return { algorithm, hex, value: input };
}

export function isDigest(input: string): boolean {
  try {
    parseDigest(input);
    return true;
  } catch {
    return false;
  }
}

export function newHasher(algorithm: DigestAlgorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}
