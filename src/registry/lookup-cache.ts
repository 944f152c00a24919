// The database lookups every pull makes (manifest by tag or digest, readable blob), remembered
// until the database may have changed (metadata/change-epoch.ts): at once for this process's own
// writes, within 100 ms for other workers on one SQLite file, on the next notice from another
// PostgreSQL replica (bounded by a max age should one be lost). Only rows that exist are kept: an answer of "unknown"
// always asks the database. Who may read a repository is decided before any lookup
// (auth/registry-access.ts), never from here.
import type { DatabaseChanges } from '../metadata/change-epoch.js';
import type { ManifestRow, ReadableBlob, RegistryStore } from '../metadata/registry-store.js';

/** Most entries held (a few hundred bytes each); the oldest go first. */
export const LOOKUP_CACHE_ENTRIES = 4096;

interface Entry {
  value: ManifestRow | ReadableBlob;
  at: number;
}

export class LookupCache {
  private readonly entries = new Map<string, Entry>();
  private epoch: number | null = null;

  constructor(
    private readonly store: Pick<RegistryStore, 'manifestByTag' | 'manifestByDigest' | 'readableBlob'>,
    private readonly changes: DatabaseChanges | undefined,
    private readonly maxEntries = LOOKUP_CACHE_ENTRIES,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  manifestByTag(repository: string, tag: string): Promise<ManifestRow | null> {
    return this.lookup(`t\0${repository}\0${tag}`, () => this.store.manifestByTag(repository, tag)) as Promise<ManifestRow | null>;
  }

  manifestByDigest(repository: string, digest: string): Promise<ManifestRow | null> {
    return this.lookup(`m\0${repository}\0${digest}`, () => this.store.manifestByDigest(repository, digest)) as Promise<ManifestRow | null>;
  }

  readableBlob(repository: string, digest: string): Promise<ReadableBlob | null> {
    return this.lookup(`b\0${repository}\0${digest}`, () => this.store.readableBlob(repository, digest)) as Promise<ReadableBlob | null>;
  }

  /** Entries held (tests). */
  get size(): number {
    return this.entries.size;
  }

  private async lookup(key: string, load: () => Promise<ManifestRow | ReadableBlob | null>): Promise<ManifestRow | ReadableBlob | null> {
    const epoch = this.changes?.epoch() ?? null;
    if (epoch === null) return load();
    if (epoch !== this.epoch) {
      this.entries.clear();
      this.epoch = epoch;
    }
    const hit = this.entries.get(key);
    if (hit && this.clock() - hit.at <= this.changes!.maxAgeMs) return hit.value;
    const at = this.clock();
    const value = await load();
    // Kept only when nothing may have changed while it was read.
    if (value !== null && this.changes!.epoch(true) === epoch && this.epoch === epoch) {
      this.entries.delete(key);
      this.entries.set(key, { value: Object.freeze(value), at });
      if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    }
    return value;
  }
}
