// Restoring a tag to a digest it pointed at before (tag history, metadata/tag-history.ts), while
// that manifest still exists: deleted tags and their manifests stay until garbage collection may
// take them (storage.gc.restorewindow). A restore is recorded in the tag's history and emits the
// same event a push of the tag would (webhooks, the index), all in one transaction; an immutable
// tag (tag-rules.ts) is not moved by a restore either.
import type { RegistryStore } from '../metadata/registry-store.js';
import type { TagHistoryStore } from '../metadata/tag-history.js';
import { noEvents, type Origin, type RegistryEventSink } from './events.js';
import type { TagGuard } from './tag-rules.js';

export type RestoreResult =
  | { outcome: 'restored' | 'unchanged'; tag: string; digest: string; previousDigest: string | null }
  /** No such repository. */
  | { outcome: 'no-repository' }
  /** The tag never pointed at the digest. */
  | { outcome: 'not-in-history' }
  /** The manifest is gone (deleted by digest, or collected). */
  | { outcome: 'manifest-gone' };

export class TagRestore {
  constructor(
    private readonly store: RegistryStore,
    private readonly history: TagHistoryStore,
    private readonly guard: TagGuard,
    private readonly events: RegistryEventSink = noEvents,
    private readonly now: () => number = Date.now,
  ) {}

  async restore(repository: string, tag: string, digest: string, origin: Origin): Promise<RestoreResult> {
    const now = this.now();
    return this.store.meta.transaction(async (tx): Promise<RestoreResult> => {
      const repoId = await this.store.repositoryId(repository, tx);
      if (repoId === null) return { outcome: 'no-repository' };
      if (!(await this.history.pointedAt(tx, repoId, tag, digest))) return { outcome: 'not-in-history' };
      const m = await this.history.restoreTarget(tx, repoId, digest);
      if (!m) return { outcome: 'manifest-gone' };
      const previousDigest = (await this.history.current(repoId, [tag], tx)).get(tag) ?? null;
      if (previousDigest === digest) return { outcome: 'unchanged', tag, digest, previousDigest };
      await this.guard.checkMove(tx, repoId, repository, [tag], digest);
      await this.store.setTag(tx, repoId, tag, { id: m.id, digest }, now, { actor: origin.actor, action: 'restore' });
      await this.events.record(tx, [
        { type: 'push', repository, tag, digest, mediaType: m.mediaType, artifactType: m.artifactType ?? undefined, size: m.size, ...origin, at: now },
      ]);
      return { outcome: 'restored', tag, digest, previousDigest };
    });
  }
}
