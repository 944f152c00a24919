// The eviction job (mirror-evict, docs/mirror.md): cached images not pulled for the TTL go, and
// while the cache holds more than its budget, the least recently pulled go first. An image is
// its root manifest (one no other manifest of the repository lists) with the index children
// nothing else lists; its referrers and its blobs are left to garbage collection, as after a
// delete. A pull since the candidates were read keeps the image (checked in the deletion's
// transaction), so replicas evicting at once agree.
import type { EvictionCandidate, MirrorStore } from '../metadata/mirror-store.js';
import type { RegistryStore } from '../metadata/registry-store.js';

export interface EvictionSettings {
  /** Not pulled for this long (ms): evicted. 0 = no TTL. */
  ttl: number;
  /** Bytes the cache may hold. 0 = no budget. */
  budget: number;
}

export interface EvictionResult {
  /** Images evicted (root manifests). */
  images: number;
  /** Manifests deleted with them (roots and index children). */
  manifests: number;
}

const BATCH = 50;
const ACTOR = 'mirror-evict';

export class MirrorEviction {
  constructor(private readonly d: { mirrorStore: MirrorStore; store: RegistryStore; now: () => number; settings: EvictionSettings }) {}

  /** Whether there is anything to enforce (a TTL or a budget). */
  get enabled(): boolean {
    return this.d.settings.ttl > 0 || this.d.settings.budget > 0;
  }

  async run(): Promise<EvictionResult> {
    const result: EvictionResult = { images: 0, manifests: 0 };
    const { ttl, budget } = this.d.settings;
    if (ttl > 0) {
      // Each batch deletes what it read, so the next one reads past it; a candidate pulled meanwhile stays and is read again: stop then.
      for (;;) {
        const batch = await this.d.mirrorStore.evictionCandidates(this.d.now() - ttl, BATCH);
        const done = await this.evictAll(batch, result);
        if (batch.length < BATCH || done === 0) break;
      }
    }
    if (budget > 0) {
      while ((await this.d.mirrorStore.cachedBytes()) > budget) {
        // Least recently pulled first, one at a time: shared layers make the bytes an image frees unknowable ahead.
        const batch = await this.d.mirrorStore.evictionCandidates(Number.MAX_SAFE_INTEGER, 1);
        if ((await this.evictAll(batch, result)) === 0) break;
      }
    }
    return result;
  }

  private async evictAll(batch: EvictionCandidate[], result: EvictionResult): Promise<number> {
    let images = 0;
    for (const c of batch) {
      const n = await this.evict(c);
      if (n > 0) {
        images++;
        result.manifests += n;
      }
    }
    result.images += images;
    return images;
  }

  /** Deletes the image unless it was pulled (or re-fetched) since it was read; returns the manifests deleted. */
  private async evict(c: EvictionCandidate): Promise<number> {
    const { store, mirrorStore } = this.d;
    const now = this.d.now();
    return store.meta.transaction(async (tx) => {
      if (!(await mirrorStore.stillUnused(tx, c))) return 0;
      const children = await mirrorStore.orphanedChildren(tx, c.repositoryId, c.id);
      if (!(await store.deleteManifest(tx, c.repositoryId, c.digest, now, undefined, { actor: ACTOR }))) return 0;
      let n = 1;
      for (const child of children) if (await store.deleteManifest(tx, c.repositoryId, child, now, undefined, { actor: ACTOR })) n++;
      return n;
    });
  }
}
