// What this replica served recently, so that pulls keep working while the database is down
// (docs/operations.md). Bounded by entries, bytes and age; held in this process only (another
// replica has its own), and used only when the database does not answer.
//
// Entries are facts the normal path established with the database, recorded as it answered:
//   tag T of repository R names manifest D      (a pull by tag)
//   manifest D of R: media type, size, bytes    (bytes when a GET read them; a HEAD records the
//                                                facts, and the bytes then come from storage)
//   blob D is readable in R, with its size      (its bytes always come from storage)
// A manifest is recorded only after the pull gate (registry/pull-gate.ts) let it through, and
// forgotten when the gate refuses it or the normal path finds it gone; one let through only
// because the caller is exempt from the gate (the scanner adapter) is kept for that caller alone.
// Manifest bytes are checked against their digest each time they are served from here.
import { createHash } from 'node:crypto';
import type { Reference } from './manifests.js';

export interface OutageCacheLimits {
  /** Most entries (tags, manifests and blob facts together); 0 disables the cache. */
  entries: number;
  /** Most bytes: manifest bodies plus a fixed allowance per entry. */
  bytes: number;
  /** Entries recorded longer ago than this are not served. */
  maxAgeMs: number;
}

export interface CachedManifest {
  digest: string;
  mediaType: string;
  size: number;
  /** Absent when only a HEAD recorded it. */
  body?: Buffer;
  /** null: anyone allowed to pull R; else only this actor (exempt from the pull gate). */
  onlyFor: string | null;
}

type Entry =
  | { kind: 'tag'; digest: string; at: number; bytes: number }
  | { kind: 'manifest'; manifest: CachedManifest; at: number; bytes: number }
  | { kind: 'blob'; size: number; at: number; bytes: number };

/** Bookkeeping allowance per entry (key, object, map slot). */
const ENTRY_OVERHEAD = 256;

export class OutageCache {
  private readonly map = new Map<string, Entry>();
  private total = 0;

  constructor(
    private readonly limits: OutageCacheLimits,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.limits.entries > 0 && this.limits.bytes > 0;
  }

  /** Entries and bytes held (docs, tests). */
  size(): { entries: number; bytes: number } {
    return { entries: this.map.size, bytes: this.total };
  }

  rememberManifest(repository: string, tag: string | undefined, m: CachedManifest): void {
    if (!this.enabled) return;
    const key = manifestKey(repository, m.digest);
    // A GET's bytes are kept when a later HEAD records the same manifest.
    const prev = this.map.get(key);
    const body = m.body ?? (prev?.kind === 'manifest' && prev.manifest.onlyFor === m.onlyFor ? prev.manifest.body : undefined);
    const manifest: CachedManifest = { digest: m.digest, mediaType: m.mediaType, size: m.size, onlyFor: m.onlyFor, ...(body ? { body } : {}) };
    this.set(key, { kind: 'manifest', manifest, at: this.now(), bytes: ENTRY_OVERHEAD + key.length + (body?.length ?? 0) });
    if (tag !== undefined) {
      const tk = tagKey(repository, tag);
      this.set(tk, { kind: 'tag', digest: m.digest, at: this.now(), bytes: ENTRY_OVERHEAD + tk.length });
    }
  }

  /** The manifest a reference named when this replica last served it, if recent enough. */
  manifest(repository: string, ref: Reference): CachedManifest | undefined {
    let digest: string;
    if ('tag' in ref) {
      const t = this.fresh(tagKey(repository, ref.tag));
      if (t?.kind !== 'tag') return undefined;
      digest = t.digest;
    } else digest = ref.digest.value;
    const e = this.fresh(manifestKey(repository, digest));
    return e?.kind === 'manifest' ? e.manifest : undefined;
  }

  /** Refused by the pull gate, deleted, or its bytes did not match: never served from here again (and its tags with it). */
  forgetManifest(repository: string, digest: string): void {
    this.delete(manifestKey(repository, digest));
  }

  forgetTag(repository: string, tag: string): void {
    this.delete(tagKey(repository, tag));
  }

  rememberBlob(repository: string, digest: string, size: number): void {
    if (!this.enabled) return;
    const key = blobKey(repository, digest);
    this.set(key, { kind: 'blob', size, at: this.now(), bytes: ENTRY_OVERHEAD + key.length });
  }

  /** The size of a blob this replica last found readable in the repository, if recent enough. */
  blob(repository: string, digest: string): number | undefined {
    const e = this.fresh(blobKey(repository, digest));
    return e?.kind === 'blob' ? e.size : undefined;
  }

  forgetBlob(repository: string, digest: string): void {
    this.delete(blobKey(repository, digest));
  }

  private fresh(key: string): Entry | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (this.now() - e.at > this.limits.maxAgeMs) {
      this.delete(key);
      return undefined;
    }
    // Most recently used last: eviction takes the first.
    this.map.delete(key);
    this.map.set(key, e);
    return e;
  }

  private set(key: string, e: Entry): void {
    if (e.bytes > this.limits.bytes / 4) return void this.delete(key);
    this.delete(key);
    this.map.set(key, e);
    this.total += e.bytes;
    for (const [k, old] of this.map) {
      if (this.map.size <= this.limits.entries && this.total <= this.limits.bytes) break;
      this.map.delete(k);
      this.total -= old.bytes;
    }
  }

  private delete(key: string): void {
    const e = this.map.get(key);
    if (!e) return;
    this.map.delete(key);
    this.total -= e.bytes;
  }
}

/** True when `body` hashes to `digest` (sha256 or sha512). */
export function matchesDigest(body: Buffer, digest: string): boolean {
  const colon = digest.indexOf(':');
  const algorithm = digest.slice(0, colon);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return false;
  return createHash(algorithm).update(body).digest('hex') === digest.slice(colon + 1);
}

const tagKey = (repository: string, tag: string) => `t\0${repository}\0${tag}`;
const manifestKey = (repository: string, digest: string) => `m\0${repository}\0${digest}`;
const blobKey = (repository: string, digest: string) => `b\0${repository}\0${digest}`;
