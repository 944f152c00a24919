// What the upstream client reads and checks of a registry's answers: repository names and
// references, token scopes, manifest media types, Link pages, and blob bodies verified as
// they flow. Pure except verifying(), which wraps a response stream.
import type http from 'node:http';
import { type Readable, Transform } from 'node:stream';
import { type Digest, newHasher, parseDigest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';
import { isManifestMediaType } from '../oci/media-types.js';
import { isValidRepositoryName, isValidTag } from '../oci/names.js';
import { UpstreamError } from './errors.js';
import { asUpstreamError, cutShort } from './transport.js';

export function name(repo: string): string {
  if (!isValidRepositoryName(repo)) throw new TypeError(`invalid repository name "${repo.slice(0, 80)}"`);
  return repo;
}

export function isDigestRef(ref: string): boolean {
  return ref.includes(':');
}

export function reference(ref: string): string {
  if (isDigestRef(ref)) return parseDigest(ref).value;
  if (!isValidTag(ref)) throw new TypeError(`invalid tag "${ref.slice(0, 80)}"`);
  return ref;
}

export const pull = (repo: string) => `repository:${repo}:pull`;
export const push = (repo: string) => `repository:${repo}:pull,push`;

export function checkedDigest(value: string, what: string): string {
  try {
    return parseDigest(value.trim()).value;
  } catch {
    throw new UpstreamError('invalid', `${what}: malformed Docker-Content-Digest`);
  }
}

export function baseType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

/** The Content-Type when it is a manifest type, else the document's own mediaType (registries answering application/json). */
export function manifestType(header: string | undefined, body: Buffer): string {
  const t = baseType(header);
  if (isManifestMediaType(t)) return t;
  try {
    const doc = JSON.parse(body.toString('utf8')) as { mediaType?: unknown };
    if (typeof doc.mediaType === 'string' && doc.mediaType) return doc.mediaType;
  } catch {
    /* not JSON: the header is all there is */
  }
  return t;
}

/** The target of a Link header's rel="next", or null. */
export function nextLink(header: string | string[] | undefined): string | null {
  if (!header) return null;
  for (const part of (Array.isArray(header) ? header.join(', ') : header).split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (m && /;\s*rel\s*=\s*"?next"?/i.test(m[2])) return m[1];
  }
  return null;
}

export function isDescriptor(v: unknown): v is Descriptor {
  const d = v as Descriptor;
  return !!d && typeof d === 'object' && typeof d.mediaType === 'string' && typeof d.digest === 'string' && typeof d.size === 'number';
}

/**
 * The response body, hashed as it flows. The last chunk is held back until the bytes match
 * the digest and the declared size, so a reader never gets a whole blob that is wrong: it
 * gets an 'invalid' (or, for a transfer cut short, 'unavailable') error instead of the end.
 */
/** `digest` null: only the length is checked (the caller hashes the bytes itself). */
export function verifying(res: http.IncomingMessage, digest: Digest | null, size: number | null, what: string): Readable {
  const hash = digest && newHasher(digest.algorithm);
  let seen = 0;
  let held: Buffer | null = null;
  const out = new Transform({
    // Room for several socket reads: at the default 16 KiB every 64 KiB read paused the socket.
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (size !== null && seen > size) return cb(new UpstreamError('invalid', `${what}: more bytes than the ${size} announced`));
      hash?.update(chunk);
      const previous = held;
      held = chunk;
      cb(null, previous ?? undefined);
    },
    flush(cb) {
      if (size !== null && seen !== size) return cb(new UpstreamError('unavailable', `${what}: the body ended after ${seen} of ${size} bytes`));
      const got = hash && digest && `${digest.algorithm}:${hash.digest('hex')}`;
      if (got && got !== digest?.value) return cb(new UpstreamError('invalid', `${what}: the bytes' digest is ${got}`));
      cb(null, held ?? undefined);
    },
  });
  res.on('error', (err) => out.destroy(asUpstreamError(err, what)));
  res.on('aborted', () => out.destroy(cutShort(res, what)));
  out.on('close', () => {
    if (!res.complete) res.destroy();
  });
  res.pipe(out);
  return out;
}
