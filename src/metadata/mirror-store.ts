// SQL of the pull-through cache (src/mirror/): cached tags with the time the upstream last
// confirmed them, cached manifests, and what the eviction job needs. The rows themselves are
// the registry's own (manifests, manifest_references, tags); migration 0012 adds the columns.
import { sql } from 'kysely';
import type { MetadataDb, Tx } from './database.js';
import type { ManifestRow } from './registry-store.js';

export interface CachedTag extends ManifestRow {
  /** When the upstream last confirmed the tag (ms); null = never (pushed, or cached before 0012). */
  validatedAt: number | null;
}

/** A cached manifest the eviction job may take, with its repository. */
export interface EvictionCandidate {
  repositoryId: number;
  repository: string;
  id: number;
  digest: string;
  /** The last pull of it (or its fetch, when never pulled), ms. */
  lastUse: number;
}

export class MirrorStore {
  constructor(readonly meta: MetadataDb) {}

  private get db() {
    return this.meta.db;
  }

  async tag(repository: string, tag: string): Promise<CachedTag | null> {
    const row = await this.db
      .selectFrom('tags as t')
      .innerJoin('repositories as r', 'r.id', 't.repository_id')
      .innerJoin('manifests as m', 'm.id', 't.manifest_id')
      .select(['m.id', 'm.digest', 'm.media_type', 'm.size', 't.validated_at'])
      .where('r.name', '=', repository)
      .where('t.name', '=', tag)
      .executeTakeFirst();
    return row
      ? {
          id: Number(row.id),
          digest: row.digest,
          mediaType: row.media_type,
          size: Number(row.size),
          validatedAt: row.validated_at === null ? null : Number(row.validated_at),
        }
      : null;
  }

  /** The upstream confirmed the tag still names `digest` (a no-op when the tag moved meanwhile). */
  async markValidated(repository: string, tag: string, digest: string, now: number): Promise<void> {
    await this.db
      .updateTable('tags')
      .set({ validated_at: now })
      .where('name', '=', tag)
      .where('repository_id', '=', (eb) => eb.selectFrom('repositories').select('id').where('name', '=', repository))
      .where('manifest_id', '=', (eb) =>
        eb
          .selectFrom('manifests as m')
          .innerJoin('repositories as r', 'r.id', 'm.repository_id')
          .select('m.id')
          .where('r.name', '=', repository)
          .where('m.digest', '=', digest),
      )
      .execute();
  }

  /** Marks a manifest just recorded (in `tx`) as fetched from an upstream. */
  async markMirrored(tx: Tx, manifestId: number, now: number): Promise<void> {
    await tx.updateTable('manifests').set({ mirrored_at: now }).where('id', '=', manifestId).where('mirrored_at', 'is', null).execute();
  }

  /** Records the upstream's confirmation of a tag set in `tx`. */
  async setValidated(tx: Tx, repositoryId: number, tag: string, now: number): Promise<void> {
    await tx.updateTable('tags').set({ validated_at: now }).where('repository_id', '=', repositoryId).where('name', '=', tag).execute();
  }

  /** Tags of the repository (all of them: tag lists are small), or null when there is no such repository. */
  async tags(repository: string): Promise<string[] | null> {
    const repo = await this.db.selectFrom('repositories').select('id').where('name', '=', repository).executeTakeFirst();
    if (!repo) return null;
    const rows = await this.db.selectFrom('tags').select('name').where('repository_id', '=', repo.id).execute();
    return rows.map((r) => r.name);
  }

  /** Whether anything was pushed to the namespace here (a manifest not fetched from an upstream). */
  async hasPushedContent(namespace: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select('m.id')
      .where('r.namespace', '=', namespace)
      .where('m.mirrored_at', 'is', null)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Whether any repository holds the blob's bytes (live): a cache may link them instead of downloading. Inside a transaction, pass it. */
  async storedBlobSize(digest: string, tx: Tx = this.db): Promise<number | null> {
    const row = await tx.selectFrom('blobs').select('size').where('digest', '=', digest).where('state', '=', 'live').executeTakeFirst();
    return row ? Number(row.size) : null;
  }

  /**
   * Cached manifests nothing else in their repository lists (the roots: an image, or an index
   * with its children), least recently used first, last used before `before`.
   */
  async evictionCandidates(before: number, limit: number): Promise<EvictionCandidate[]> {
    const lastUse = sql<number | string>`coalesce(m.last_pulled_at, m.mirrored_at)`;
    const rows = await this.db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['m.repository_id', 'r.name', 'm.id', 'm.digest', lastUse.as('last_use')])
      .where('m.mirrored_at', 'is not', null)
      .where(lastUse, '<', before)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('manifest_references as ref')
              .innerJoin('manifests as parent', 'parent.id', 'ref.manifest_id')
              .select('ref.manifest_id')
              .where('ref.kind', '=', 'manifest')
              .whereRef('ref.digest', '=', 'm.digest')
              .whereRef('parent.repository_id', '=', 'm.repository_id'),
          ),
        ),
      )
      .orderBy(lastUse)
      .orderBy('m.id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ repositoryId: Number(r.repository_id), repository: r.name, id: Number(r.id), digest: r.digest, lastUse: Number(r.last_use) }));
  }

  /** Whether the candidate is as it was read: still cached, and not pulled (or fetched again) since. */
  async stillUnused(tx: Tx, c: EvictionCandidate): Promise<boolean> {
    const row = await tx.selectFrom('manifests').select(['last_pulled_at', 'mirrored_at']).where('id', '=', c.id).executeTakeFirst();
    if (!row || row.mirrored_at === null) return false;
    return Number(row.last_pulled_at ?? row.mirrored_at) === c.lastUse;
  }

  /** Child manifests of `manifestId` that are cached and that no other manifest of the repository lists. */
  async orphanedChildren(tx: Tx, repositoryId: number, manifestId: number): Promise<string[]> {
    const children = await tx
      .selectFrom('manifest_references as ref')
      .innerJoin('manifests as c', (j) => j.onRef('c.digest', '=', 'ref.digest').on('c.repository_id', '=', repositoryId))
      .select('c.digest')
      .where('ref.manifest_id', '=', manifestId)
      .where('ref.kind', '=', 'manifest')
      .where('c.mirrored_at', 'is not', null)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('manifest_references as o')
              .innerJoin('manifests as p', 'p.id', 'o.manifest_id')
              .select('o.manifest_id')
              .whereRef('o.digest', '=', 'c.digest')
              .where('o.kind', '=', 'manifest')
              .where('p.repository_id', '=', repositoryId)
              .where('o.manifest_id', '!=', manifestId),
          ),
        ),
      )
      .execute();
    return children.map((c) => c.digest);
  }

  /**
   * Bytes the cache holds: each distinct blob a cached manifest references (once fetched) and
   * the manifests' own bodies, counted once however many images share them.
   */
  async cachedBytes(): Promise<number> {
    const row = await this.db
      .selectFrom('blobs as b')
      .select((eb) => eb.fn.coalesce(eb.fn.sum<number | string>('b.size'), sql<number>`0`).as('total'))
      .where('b.digest', 'in', (eb) =>
        eb
          .selectFrom('manifest_references as ref')
          .innerJoin('manifests as m', 'm.id', 'ref.manifest_id')
          .select('ref.digest')
          .where('m.mirrored_at', 'is not', null)
          .where('ref.kind', '=', 'blob')
          .union(eb.selectFrom('manifests as m2').select('m2.digest').where('m2.mirrored_at', 'is not', null)),
      )
      .executeTakeFirstOrThrow();
    return Number(row.total);
  }
}
