// Tag history: every push that creates or moves a tag, every delete and every restore, with
// the digests before and after and who made the change. registry-store.ts records each change
// in the change's own transaction (recordTagChange); the REST API and the UI read it here.
// The rows go with their repository (ON DELETE CASCADE), so a repository created again under
// the same name shows none of the old one's history.
import type { MetadataDb, Tx } from './database.js';
import type { TagAction } from './schema.js';

/** Who made a tag change and how (registry-store.ts setTag/deleteTag). */
export interface TagChange {
  actor: string | null;
  /** setTag records 'push' unless told 'restore'; deleteTag always records 'delete'. */
  action?: TagAction;
}

export interface TagHistoryEntry {
  id: number;
  tag: string;
  action: TagAction;
  /** After the change; null for a delete. */
  digest: string | null;
  /** Before the change; null when the change created the tag. */
  previousDigest: string | null;
  actor: string | null;
  at: number;
}

/** A manifest a tag can be restored to. */
export interface RestoreTarget {
  id: number;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
}

export async function recordTagChange(
  tx: Tx,
  c: { repositoryId: number; tag: string; action: TagAction; digest: string | null; previousDigest: string | null; actor: string | null; at: number },
): Promise<void> {
  await tx
    .insertInto('tag_history')
    .values({ repository_id: c.repositoryId, name: c.tag, action: c.action, digest: c.digest, previous_digest: c.previousDigest, actor: c.actor, at: c.at })
    .execute();
}

export class TagHistoryStore {
  constructor(private readonly meta: MetadataDb) {}

  /** Newest first; `before` is an entry id (the `next` of the previous page). */
  async list(repositoryId: number, opts: { tag?: string; n: number; before?: number }): Promise<TagHistoryEntry[]> {
    let q = this.meta.db
      .selectFrom('tag_history')
      .select(['id', 'name', 'action', 'digest', 'previous_digest', 'actor', 'at'])
      .where('repository_id', '=', repositoryId)
      .orderBy('id', 'desc')
      .limit(opts.n);
    if (opts.tag !== undefined) q = q.where('name', '=', opts.tag);
    if (opts.before !== undefined) q = q.where('id', '<', opts.before);
    return (await q.execute()).map((r) => ({
      id: Number(r.id),
      tag: r.name,
      action: r.action,
      digest: r.digest,
      previousDigest: r.previous_digest,
      actor: r.actor,
      at: Number(r.at),
    }));
  }

  /** What each of `tags` points at now (tags that do not exist are left out). */
  async current(repositoryId: number, tags: string[], tx: Tx = this.meta.db): Promise<Map<string, string>> {
    if (tags.length === 0) return new Map();
    const rows = await tx
      .selectFrom('tags as t')
      .innerJoin('manifests as m', 'm.id', 't.manifest_id')
      .select(['t.name', 'm.digest'])
      .where('t.repository_id', '=', repositoryId)
      .where('t.name', 'in', [...new Set(tags)])
      .execute();
    return new Map(rows.map((r) => [r.name, r.digest]));
  }

  /** The tags that point at the manifest (`digest` null: every tag of the repository). */
  async tagsAt(tx: Tx, repositoryId: number, digest: string | null): Promise<string[]> {
    let q = tx.selectFrom('tags as t').innerJoin('manifests as m', 'm.id', 't.manifest_id').select('t.name').where('t.repository_id', '=', repositoryId);
    if (digest !== null) q = q.where('m.digest', '=', digest);
    return (await q.orderBy('t.name').execute()).map((r) => r.name);
  }

  /** Of `digests`, the manifests the repository still holds. */
  async existing(repositoryId: number, digests: string[]): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    const rows = await this.meta.db
      .selectFrom('manifests')
      .select('digest')
      .where('repository_id', '=', repositoryId)
      .where('digest', 'in', [...new Set(digests)])
      .execute();
    return new Set(rows.map((r) => r.digest));
  }

  /** Whether `tag` ever pointed at `digest` in the repository, as far as its history tells. */
  async pointedAt(tx: Tx, repositoryId: number, tag: string, digest: string): Promise<boolean> {
    const row = await tx
      .selectFrom('tag_history')
      .select('id')
      .where('repository_id', '=', repositoryId)
      .where('name', '=', tag)
      .where((eb) => eb.or([eb('digest', '=', digest), eb('previous_digest', '=', digest)]))
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  async restoreTarget(tx: Tx, repositoryId: number, digest: string): Promise<RestoreTarget | null> {
    const m = await tx
      .selectFrom('manifests')
      .select(['id', 'digest', 'media_type', 'artifact_type', 'size'])
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return m ? { id: Number(m.id), digest: m.digest, mediaType: m.media_type, artifactType: m.artifact_type, size: Number(m.size) } : null;
  }
}
