// The one place that knows where things live in storage. Blobs and manifest
// bodies are content-addressed under blobs/; everything else is in the database.
import type { Digest } from '../oci/digest.js';

export function blobKey(digest: Digest): string {
  return `${blobKeyPrefix(digest.algorithm, digest.hex.slice(0, 2))}${digest.hex}`;
}

/** Where blobKey puts every digest of `algorithm` whose hex starts with `twoHex` (a listing of a part of the store). */
export function blobKeyPrefix(algorithm: string, twoHex: string): string {
  return `blobs/${algorithm}/${twoHex}/`;
}

export const BLOBS_PREFIX = 'blobs/';

/** Inverse of blobKey, for listing storage (GC, import); null for foreign keys. */
export function digestFromBlobKey(key: string): string | null {
  const m = /^blobs\/(sha256|sha512)\/[0-9a-f]{2}\/([0-9a-f]+)$/.exec(key);
  return m ? `${m[1]}:${m[2]}` : null;
}

/** Never written: the readiness check stats it to see that storage answers (src/health/checks.ts). */
export const HEALTH_PROBE_KEY = 'health/probe';
