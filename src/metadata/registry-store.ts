// SQL for the registry's source of truth: repositories, blobs each repository
// may read, manifests with their references, tags, uploads. No HTTP, no storage.
import { chunks } from './chunks.js';
import type { MetadataDb, Tx } from './database.js';
import { QuotaStore } from './quota-store.js';
import { recordTagChange, type TagChange } from './tag-history.js';

export interface ManifestRow {
  id: number;
  digest: string;
  mediaType: string;
  size: number;
}

export interface NewManifest {
  digest: string;
  mediaType: string;
  size: number;
  artifactType?: string;
  subjectDigest?: string;
  annotations?: Record<string, string>;
  blobDigests: string[];
  childDigests: string[];
  /** Pushed without a tag: it counts as untagged from now (garbage collection). */
  untagged?: boolean;
}

export interface ReferrerRow {
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string | null;
  annotations: string | null;
}

/** What garbage collection needs the registry's changes to record (config storage.gc). */
export interface ReviewSettings {
  /** Blobs a change may have made unused are reviewed this long after it (ms). */
  delay: number;
  /** Whether manifests without a tag are collected, and how long after they lost it (ms). */
  untagged: boolean;
  restoreWindow: number;
}

/** A blob a repository may read, as a reader sees it. */
export interface ReadableBlob {
  repositoryId: number;
  size: number;
  /** When the repository's link was made or last used (ms). */
  linkedAt: number;
  /** Garbage collection has it queued for review (a candidate). */
  queued: boolean;
}

export class RegistryStore {
  constructor(
    readonly meta: MetadataDb,
    readonly review: ReviewSettings = { delay: 0, untagged: false, restoreWindow: 0 },
  ) {}

  private get db() {
    return this.meta.db;
  }

  private quotaStore?: QuotaStore;
  /** Namespace usage for quotas, kept in the same transactions that add and remove manifests. */
  get quotas(): QuotaStore {
    this.quotaStore ??= new QuotaStore(this.meta.db);
    return this.quotaStore;
  }

  // ---- repositories ----

  async repositoryId(name: string, tx: Tx = this.db): Promise<number | null> {
    const row = await tx.selectFrom('repositories').select('id').where('name', '=', name).executeTakeFirst();
    return row ? Number(row.id) : null;
  }

  async ensureRepository(tx: Tx, name: string, now: number): Promise<number> {
    // Nearly always there already: one statement instead of two.
    const existing = await this.repositoryId(name, tx);
    if (existing !== null) return existing;
    await tx
      .insertInto('repositories')
      .values({ name, namespace: name.split('/')[0], created_at: now })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const id = await this.repositoryId(name, tx);
    if (id === null) throw new Error(`repository ${name} vanished during its creation`);
    return id;
  }

  async hasManifests(tx: Tx, repositoryId: number): Promise<boolean> {
    const row = await tx.selectFrom('manifests').select('id').where('repository_id', '=', repositoryId).limit(1).executeTakeFirst();
    return row !== undefined;
  }

  /** Repositories with at least one manifest, by name, after `last`. */
  async listRepositories(limit: number, last?: string): Promise<string[]> {
    let q = this.db
      .selectFrom('repositories as r')
      .select('r.name')
      .where(({ exists, selectFrom }) => exists(selectFrom('manifests as m').select('m.id').whereRef('m.repository_id', '=', 'r.id')))
      .orderBy('r.name')
      .limit(limit);
    if (last !== undefined) q = q.where('r.name', '>', last);
    return (await q.execute()).map((r) => r.name);
  }

  // ---- blobs ----

  /** The blob's size if `repository` may read it. */
  async repositoryBlobSize(repository: string, digest: string, tx: Tx = this.db): Promise<number | null> {
    return (await this.readableBlob(repository, digest, tx))?.size ?? null;
  }

  /** The blob if `repository` may read it: linked there and live (not being garbage-collected). */
  async readableBlob(repository: string, digest: string, tx: Tx = this.db): Promise<ReadableBlob | null> {
    const row = await tx
      .selectFrom('repository_blobs as rb')
      .innerJoin('repositories as r', 'r.id', 'rb.repository_id')
      .innerJoin('blobs as b', 'b.digest', 'rb.digest')
      .leftJoin('gc_blob_review as q', 'q.digest', 'rb.digest')
      .select(['rb.repository_id', 'b.size', 'rb.created_at', 'q.digest as queued'])
      .where('r.name', '=', repository)
      .where('rb.digest', '=', digest)
      .where('b.state', '=', 'live')
      .executeTakeFirst();
    return row ? { repositoryId: Number(row.repository_id), size: Number(row.size), linkedAt: Number(row.created_at), queued: row.queued !== null } : null;
  }

  async recordBlob(tx: Tx, digest: string, size: number, now: number): Promise<void> {
    await tx
      .insertInto('blobs')
      .values({ digest, size, created_at: now })
      .onConflict((oc) => oc.column('digest').doNothing())
      .execute();
  }

  /** Links a blob into a repository; a link that exists is renewed (an upload or mount uses it again). */
  async linkBlob(tx: Tx, repositoryId: number, digest: string, now: number): Promise<void> {
    await tx
      .insertInto('repository_blobs')
      .values({ repository_id: repositoryId, digest, created_at: now })
      .onConflict((oc) => oc.columns(['repository_id', 'digest']).doUpdateSet({ created_at: now }))
      .execute();
  }

  async unlinkBlob(tx: Tx, repositoryId: number, digest: string, now: number): Promise<boolean> {
    const res = await tx.deleteFrom('repository_blobs').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
    if (Number(res.numDeletedRows) > 0) await this.queueBlobReview(tx, [digest], now + this.review.delay);
    return Number(res.numDeletedRows) > 0;
  }

  /** Whether `repositoryId` may read the blob (in `tx`, so a check-then-act stays consistent). */
  async blobLinked(tx: Tx, repositoryId: number, digest: string): Promise<boolean> {
    const row = await tx
      .selectFrom('repository_blobs')
      .select('digest')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Digests of up to `limit` manifests of the repository (tagged or not) that reference the blob, oldest first. */
  async manifestsUsingBlob(tx: Tx, repositoryId: number, digest: string, limit: number): Promise<string[]> {
    const rows = await tx
      .selectFrom('manifest_references as r')
      .innerJoin('manifests as m', 'm.id', 'r.manifest_id')
      .select('m.digest')
      .where('r.digest', '=', digest)
      .where('r.kind', '=', 'blob')
      .where('m.repository_id', '=', repositoryId)
      .orderBy('m.id')
      .limit(limit)
      .execute();
    return rows.map((r) => r.digest);
  }

  /** Of `digests`, those `repositoryId` may not read (not linked there, or being garbage-collected). */
  async missingBlobs(tx: Tx, repositoryId: number, digests: string[]): Promise<string[]> {
    if (digests.length === 0) return [];
    const found = new Set<string>();
    for (const chunk of chunks(unique(digests), 500)) {
      const rows = await tx
        .selectFrom('repository_blobs as rb')
        .innerJoin('blobs as b', 'b.digest', 'rb.digest')
        .select('rb.digest')
        .where('rb.repository_id', '=', repositoryId)
        .where('rb.digest', 'in', chunk)
        .where('b.state', '=', 'live')
        .execute();
      for (const r of rows) found.add(r.digest);
    }
    return digests.filter((d) => !found.has(d));
  }

  /** Queues blobs whose last use may have gone for garbage-collection review at `at`. */
  async queueBlobReview(tx: Tx, digests: string[], at: number): Promise<void> {
    for (const digest of unique(digests)) {
      await tx
        .insertInto('gc_blob_review')
        .values({ digest, review_after: at })
        .onConflict((oc) => oc.column('digest').doUpdateSet({ review_after: at }))
        .execute();
    }
  }

  /** Queues manifests for garbage-collection review at `at` (an existing review keeps the earlier time). */
  async queueManifestReview(tx: Tx, ids: number[], at: number): Promise<void> {
    for (const id of unique(ids)) {
      await tx
        .insertInto('gc_manifest_review')
        .values({ manifest_id: id, review_after: at })
        .onConflict((oc) => oc.column('manifest_id').doNothing())
        .execute();
    }
  }

  /**
   * Records that a manifest may have lost its last tag (or was pushed without one): from now it
   * counts as untagged, and is queued for collection when untagged manifests are collected.
   */
  async noteUntagged(tx: Tx, manifestId: number, now: number): Promise<void> {
    const tagged = await tx.selectFrom('tags').select('manifest_id').where('manifest_id', '=', manifestId).limit(1).executeTakeFirst();
    if (tagged) return;
    const res = await tx.updateTable('manifests').set({ untagged_at: now }).where('id', '=', manifestId).where('untagged_at', 'is', null).executeTakeFirst();
    if (Number(res.numUpdatedRows) > 0 && this.review.untagged) await this.queueManifestReview(tx, [manifestId], now + this.review.restoreWindow);
  }

  // ---- uploads ----

  async createUpload(tx: Tx, id: string, repositoryId: number, now: number): Promise<void> {
    await tx.insertInto('uploads').values({ id, repository_id: repositoryId, created_at: now, updated_at: now }).execute();
  }

  async uploadExists(repository: string, id: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('uploads as u')
      .innerJoin('repositories as r', 'r.id', 'u.repository_id')
      .select('u.id')
      .where('u.id', '=', id)
      .where('r.name', '=', repository)
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Claims a session for one writer until `until` (ms): its repository's id when claimed, false while another
   * request's claim holds, null when there is no such session in the repository. One statement, so two replicas
   * cannot both win.
   */
  async claimUpload(repository: string, id: string, token: string, now: number, until: number): Promise<{ repositoryId: number } | false | null> {
    const row = await this.db
      .updateTable('uploads')
      .set({ lease_token: token, lease_until: until })
      .where('id', '=', id)
      .where('repository_id', '=', (eb) => eb.selectFrom('repositories as r').select('r.id').where('r.name', '=', repository))
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .returning('repository_id')
      .executeTakeFirst();
    if (row) return { repositoryId: Number(row.repository_id) };
    return (await this.uploadExists(repository, id)) ? false : null;
  }

  /** Extends a claim; false when it was lost (it expired and another request took the session). */
  async renewUpload(id: string, token: string, until: number): Promise<boolean> {
    const res = await this.db.updateTable('uploads').set({ lease_until: until }).where('id', '=', id).where('lease_token', '=', token).executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Drops every claim: at start-up of a single-machine (SQLite) registry, whose writers all died with it. */
  async releaseAllUploadClaims(): Promise<void> {
    await this.db.updateTable('uploads').set({ lease_token: null, lease_until: null }).where('lease_token', 'is not', null).execute();
  }

  /** Ends a claim and records the activity (uploads idle too long are purged). */
  async releaseUpload(id: string, token: string, now: number): Promise<void> {
    await this.db
      .updateTable('uploads')
      .set({ lease_token: null, lease_until: null, updated_at: now })
      .where('id', '=', id)
      .where('lease_token', '=', token)
      .execute();
  }

  /** Deletes the session row; false when it was already gone (a concurrent commit won). */
  async deleteUpload(tx: Tx, id: string): Promise<boolean> {
    const res = await tx.deleteFrom('uploads').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async staleUploads(before: number, limit: number): Promise<string[]> {
    const rows = await this.db.selectFrom('uploads').select('id').where('updated_at', '<', before).limit(limit).execute();
    return rows.map((r) => r.id);
  }

  // ---- manifests and tags ----

  async manifestByTag(repository: string, tag: string): Promise<ManifestRow | null> {
    const row = await this.db
      .selectFrom('tags as t')
      .innerJoin('repositories as r', 'r.id', 't.repository_id')
      .innerJoin('manifests as m', 'm.id', 't.manifest_id')
      .select(['m.id', 'm.digest', 'm.media_type', 'm.size'])
      .where('r.name', '=', repository)
      .where('t.name', '=', tag)
      .executeTakeFirst();
    return row ? { id: Number(row.id), digest: row.digest, mediaType: row.media_type, size: Number(row.size) } : null;
  }

  async manifestByDigest(repository: string, digest: string, tx: Tx = this.db): Promise<ManifestRow | null> {
    const row = await tx
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['m.id', 'm.digest', 'm.media_type', 'm.size'])
      .where('r.name', '=', repository)
      .where('m.digest', '=', digest)
      .executeTakeFirst();
    return row ? { id: Number(row.id), digest: row.digest, mediaType: row.media_type, size: Number(row.size) } : null;
  }

  /** Of `digests`, the manifests `repositoryId` does not hold. */
  async missingManifests(tx: Tx, repositoryId: number, digests: string[]): Promise<string[]> {
    if (digests.length === 0) return [];
    const found = new Set<string>();
    for (const chunk of chunks(unique(digests), 500)) {
      const rows = await tx.selectFrom('manifests').select('digest').where('repository_id', '=', repositoryId).where('digest', 'in', chunk).execute();
      for (const r of rows) found.add(r.digest);
    }
    return digests.filter((d) => !found.has(d));
  }

  /** Inserts the manifest unless the repository already has it; returns its id. */
  async putManifest(tx: Tx, repositoryId: number, m: NewManifest, now: number): Promise<number> {
    const inserted = await tx
      .insertInto('manifests')
      .values({
        repository_id: repositoryId,
        digest: m.digest,
        media_type: m.mediaType,
        size: m.size,
        artifact_type: m.artifactType ?? null,
        subject_digest: m.subjectDigest ?? null,
        annotations: m.annotations ? JSON.stringify(m.annotations) : null,
        created_at: now,
        untagged_at: m.untagged ? now : null,
      })
      .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
      .executeTakeFirst();
    const row = await tx
      .selectFrom('manifests')
      .select('id')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', m.digest)
      .executeTakeFirstOrThrow();
    const id = Number(row.id);
    if (m.untagged && Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0 && this.review.untagged)
      await this.queueManifestReview(tx, [id], now + this.review.restoreWindow);
    const refs = [
      ...unique(m.blobDigests).map((digest) => ({ manifest_id: id, digest, kind: 'blob' })),
      ...unique(m.childDigests).map((digest) => ({ manifest_id: id, digest, kind: 'manifest' })),
    ];
    for (const chunk of chunks(refs, 200)) {
      await tx
        .insertInto('manifest_references')
        .values(chunk)
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) {
      await this.quotas.addReferences(tx, await this.namespaceOf(tx, repositoryId), [m.digest, ...unique(m.blobDigests)], new Map([[m.digest, m.size]]));
    }
    return id;
  }

  /** Points the tag at the manifest; a move or a new tag goes to the tag's history (tag-history.ts). */
  async setTag(
    tx: Tx,
    repositoryId: number,
    tag: string,
    manifest: { id: number; digest: string },
    now: number,
    change: TagChange = { actor: null },
  ): Promise<void> {
    const current = await this.tagTarget(tx, repositoryId, tag);
    if (current && current.id === manifest.id) return;
    await tx
      .insertInto('tags')
      .values({ repository_id: repositoryId, name: tag, manifest_id: manifest.id, updated_at: now })
      .onConflict((oc) => oc.columns(['repository_id', 'name']).doUpdateSet({ manifest_id: manifest.id, updated_at: now }))
      .execute();
    const action = change.action ?? 'push';
    await recordTagChange(tx, { repositoryId, tag, action, digest: manifest.digest, previousDigest: current?.digest ?? null, actor: change.actor, at: now });
    await tx.updateTable('manifests').set({ untagged_at: null }).where('id', '=', manifest.id).where('untagged_at', 'is not', null).execute();
    if (current) await this.noteUntagged(tx, current.id, now);
  }

  async deleteTag(tx: Tx, repositoryId: number, tag: string, now: number, change: TagChange = { actor: null }): Promise<boolean> {
    const current = await this.tagTarget(tx, repositoryId, tag);
    if (!current) return false;
    await tx.deleteFrom('tags').where('repository_id', '=', repositoryId).where('name', '=', tag).execute();
    await recordTagChange(tx, { repositoryId, tag, action: 'delete', digest: null, previousDigest: current.digest, actor: change.actor, at: now });
    await this.noteUntagged(tx, current.id, now);
    return true;
  }

  private async tagTarget(tx: Tx, repositoryId: number, tag: string): Promise<{ id: number; digest: string } | null> {
    const row = await tx
      .selectFrom('tags as t')
      .innerJoin('manifests as m', 'm.id', 't.manifest_id')
      .select(['m.id', 'm.digest'])
      .where('t.repository_id', '=', repositoryId)
      .where('t.name', '=', tag)
      .executeTakeFirst();
    return row ? { id: Number(row.id), digest: row.digest } : null;
  }

  /**
   * Deletes a manifest and its tags (each recorded in the tag history as deleted by `change.actor`).
   * Its blobs and its own bytes are queued for garbage-collection review at `reviewAt` (by default
   * after the delay), and so are its referrers (which go with their subject) and the manifests it
   * lists (which an index no longer keeps).
   */
  async deleteManifest(
    tx: Tx,
    repositoryId: number,
    digest: string,
    now: number,
    reviewAt = now + this.review.delay,
    change: TagChange = { actor: null },
  ): Promise<boolean> {
    const m = await tx.selectFrom('manifests').select('id').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
    if (!m) return false;
    const id = Number(m.id);
    await this.releaseUsage(tx, repositoryId, id, digest);
    const tags = await tx.selectFrom('tags').select('name').where('manifest_id', '=', id).execute();
    for (const t of tags) await this.deleteTag(tx, repositoryId, t.name, now, change);
    const refs = await tx.selectFrom('manifest_references').select(['digest', 'kind']).where('manifest_id', '=', id).execute();
    const blobs = refs.filter((r) => r.kind === 'blob').map((r) => r.digest);
    const children = refs.filter((r) => r.kind === 'manifest').map((r) => r.digest);
    const affected = await tx
      .selectFrom('manifests')
      .select('id')
      .where('repository_id', '=', repositoryId)
      .where('id', '!=', id)
      .where((eb) => eb.or([eb('subject_digest', '=', digest), ...(children.length > 0 ? [eb('digest', 'in', children.slice(0, 1000))] : [])]))
      .execute();
    await tx.deleteFrom('manifest_references').where('manifest_id', '=', id).execute();
    await tx.deleteFrom('manifests').where('id', '=', id).execute();
    await this.queueBlobReview(tx, [digest, ...blobs], reviewAt);
    await this.queueManifestReview(
      tx,
      affected.map((a) => Number(a.id)),
      reviewAt,
    );
    return true;
  }

  /**
   * Removes a repository with its manifests, tags, blob links and upload sessions (the rows
   * cascade). Every blob it could read goes to garbage-collection review; returns the ids of
   * its upload sessions so their bytes can be dropped after the commit.
   */
  async deleteRepository(tx: Tx, repositoryId: number, now: number): Promise<string[]> {
    const blobs = await tx.selectFrom('repository_blobs').select('digest').where('repository_id', '=', repositoryId).execute();
    const manifests = await tx.selectFrom('manifests').select('digest').where('repository_id', '=', repositoryId).execute();
    const uploads = await tx.selectFrom('uploads').select('id').where('repository_id', '=', repositoryId).execute();
    await this.quotas.removeReferences(tx, await this.namespaceOf(tx, repositoryId), await this.manifestUses(tx, repositoryId));
    await this.queueBlobReview(
      tx,
      [...blobs, ...manifests].map((r) => r.digest),
      now + this.review.delay,
    );
    await tx.deleteFrom('repositories').where('id', '=', repositoryId).execute();
    return uploads.map((u) => u.id);
  }

  /** Takes a manifest's uses (its own bytes and the blobs it references) off its namespace's usage. */
  private async releaseUsage(tx: Tx, repositoryId: number, manifestId: number, digest: string): Promise<void> {
    const refs = await tx.selectFrom('manifest_references').select('digest').where('manifest_id', '=', manifestId).where('kind', '=', 'blob').execute();
    await this.quotas.removeReferences(tx, await this.namespaceOf(tx, repositoryId), [digest, ...refs.map((r) => r.digest)]);
  }

  private async namespaceOf(tx: Tx, repositoryId: number): Promise<string> {
    const row = await tx.selectFrom('repositories').select('namespace').where('id', '=', repositoryId).executeTakeFirstOrThrow();
    return row.namespace;
  }

  /** How many of the repository's manifests use each digest (reference it or are it). */
  private async manifestUses(tx: Tx, repositoryId: number): Promise<Map<string, number>> {
    const uses = new Map<string, number>();
    const refs = await tx
      .selectFrom('manifest_references as r')
      .innerJoin('manifests as m', 'm.id', 'r.manifest_id')
      .select(['r.digest', (eb) => eb.fn.countAll<number | string>().as('n')])
      .where('m.repository_id', '=', repositoryId)
      .where('r.kind', '=', 'blob')
      .groupBy('r.digest')
      .execute();
    for (const r of refs) uses.set(r.digest, Number(r.n));
    const bodies = await tx.selectFrom('manifests').select('digest').where('repository_id', '=', repositoryId).execute();
    for (const b of bodies) uses.set(b.digest, (uses.get(b.digest) ?? 0) + 1);
    return uses;
  }

  async listTags(repositoryId: number, limit: number, last?: string): Promise<string[]> {
    let q = this.db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).orderBy('name').limit(limit);
    if (last !== undefined) q = q.where('name', '>', last);
    return (await q.execute()).map((r) => r.name);
  }

  async referrers(repository: string, subject: string, artifactType?: string): Promise<ReferrerRow[]> {
    let q = this.db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['m.digest', 'm.media_type', 'm.size', 'm.artifact_type', 'm.annotations'])
      .where('r.name', '=', repository)
      .where('m.subject_digest', '=', subject)
      .orderBy('m.id');
    if (artifactType !== undefined) q = q.where('m.artifact_type', '=', artifactType);
    const rows = await q.execute();
    return rows.map((r) => ({ digest: r.digest, mediaType: r.media_type, size: Number(r.size), artifactType: r.artifact_type, annotations: r.annotations }));
  }
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
