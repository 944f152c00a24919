// Which reviewed manifests garbage collection deletes: a pure function of the facts (no I/O).
import type { ManifestFacts } from '../metadata/gc-store.js';

export interface ManifestPolicy {
  /** storage.gc.untagged: manifests without a tag are collected. */
  untagged: boolean;
  /** storage.gc.restorewindow (ms): how long after losing its last tag a manifest stays. */
  restoreWindow: number;
}

/** 'delete', 'keep' (until a change queues it again), or the time to look again. */
export type ManifestVerdict = { action: 'delete'; reason: 'orphan-referrer' | 'untagged' } | { action: 'keep' } | { action: 'later'; at: number };

export function manifestVerdict(m: ManifestFacts, policy: ManifestPolicy, now: number): ManifestVerdict {
  // A tag is an explicit keep; an index that stays keeps what it lists.
  if (m.tagged || m.child) return { action: 'keep' };
  // Referrers (signatures, SBOMs) stay while their subject does and go with it.
  if (m.subjectDigest !== null) {
    if (m.subjectPresent) return { action: 'keep' };
    return { action: 'delete', reason: 'orphan-referrer' };
  }
  if (!policy.untagged || m.untaggedAt === null) return { action: 'keep' };
  const at = m.untaggedAt + policy.restoreWindow;
  return at <= now ? { action: 'delete', reason: 'untagged' } : { action: 'later', at };
}
