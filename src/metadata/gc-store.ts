// SQL of online garbage collection: claims on the review queues (`FOR UPDATE SKIP LOCKED` on
// PostgreSQL, a lease on both), the blob lifecycle (live → deleting → gone), writers'
// protections, and the facts the collector decides on. Policy lives in src/gc/; no storage here.
import { sql, type ExpressionBuilder } from 'kysely';
import type { MetadataDb, Tx } from './database.js';
import type { Database } from './schema.js';

export interface BlobToDelete {
  digest: string;
  size: number;
}

export interface MarkResult {
  /** Blobs now 'deleting' under this claim (marked now, or left so by a collector that died). */
  deleting: BlobToDelete[];
  /** Repository links removed (stale and unused). */
  links: number;
}

/** What the collector decides a reviewed manifest's fate on. */
export interface ManifestFacts {
  id: number;
  repositoryId: number;
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string | null;
  untaggedAt: number | null;
  tagged: boolean;
  /** An index of the same repository lists it. */
  child: boolean;
  subjectDigest: string | null;
  /** Its subject is a manifest of the same repository. */
  subjectPresent: boolean;
}

/** Who may take over a claim before it expires: claimers (owner prefixes) known to be dead. */
export type ClaimTakeover = readonly string[];

type Queue = 'gc_blob_review' | 'gc_manifest_review';

const CHUNK = 500;
/** A requeued review comes back no sooner than this (ms), so a run does not spin on it. */
export const MIN_REQUEUE_MS = 1000;

const truthy = (v: unknown): boolean => v === true || Number(v) === 1;
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export class GcStore {
  constructor(readonly meta: MetadataDb) {}

  private get db() {
    return this.meta.db;
  }

  // ---- claims ----

  /**
   * Claims up to `limit` due rows of a review queue for `token` until `until`; returns how many.
   * A row is claimable when unclaimed, when its claim expired, or when its claimer is dead.
   */
  async claim(queue: Queue, token: string, now: number, until: number, dueBy: number, limit: number, takeover: ClaimTakeover = []): Promise<number> {
    const pg = this.meta.dialect === 'postgres';
    const claimable = (eb: ExpressionBuilder<Database, Queue>) =>
      eb.or([
        eb('claimed_until', 'is', null),
        eb('claimed_until', '<', now),
        ...takeover.map((owner) => eb(sql<string>`substr(claimed_by, 1, ${sql.lit(owner.length + 1)})`, '=', `${owner}/`)),
      ]);
    // A read first: an idle queue costs no write transaction (on SQLite, the database's one writer lock).
    const any = await this.db
      .selectFrom(queue)
      .select('review_after')
      .where('review_after', '<=', dueBy)
      .where((eb) => claimable(eb as unknown as ExpressionBuilder<Database, Queue>))
      .limit(1)
      .executeTakeFirst();
    if (!any) return 0;
    return this.meta.transaction(
      async (tx) => {
        if (queue === 'gc_blob_review') {
          let pick = tx
            .selectFrom('gc_blob_review')
            .select('digest')
            .where('review_after', '<=', dueBy)
            .where((eb) => claimable(eb as unknown as ExpressionBuilder<Database, Queue>))
            .orderBy('review_after')
            .limit(limit);
          if (pg) pick = pick.forUpdate().skipLocked();
          const res = await tx.updateTable('gc_blob_review').set({ claimed_by: token, claimed_until: until }).where('digest', 'in', pick).executeTakeFirst();
          return Number(res.numUpdatedRows);
        }
        let pick = tx
          .selectFrom('gc_manifest_review')
          .select('manifest_id')
          .where('review_after', '<=', dueBy)
          .where((eb) => claimable(eb as unknown as ExpressionBuilder<Database, Queue>))
          .orderBy('review_after')
          .limit(limit);
        if (pg) pick = pick.forUpdate().skipLocked();
        const res = await tx
          .updateTable('gc_manifest_review')
          .set({ claimed_by: token, claimed_until: until })
          .where('manifest_id', 'in', pick)
          .executeTakeFirst();
        return Number(res.numUpdatedRows);
      },
      { readCommitted: true, durable: false },
    );
  }

  /** Claimers holding unexpired claims (to find dead ones). */
  async claimers(queue: Queue, now: number): Promise<string[]> {
    const rows = await this.db.selectFrom(queue).select('claimed_by').distinct().where('claimed_until', '>=', now).execute();
    return rows.map((r) => r.claimed_by).filter((c): c is string => c !== null);
  }

  /** Whether `token` still holds `count` claims valid past `validUntil` (checked before deleting bytes). */
  async holds(queue: Queue, token: string, count: number, validUntil: number): Promise<boolean> {
    const row = await this.db
      .selectFrom(queue)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('claimed_by', '=', token)
      .where('claimed_until', '>', validUntil)
      .executeTakeFirstOrThrow();
    return Number(row.n) >= count;
  }

  /** Gives up a claim without doing the work (the rows stay due). */
  async release(queue: Queue, token: string): Promise<void> {
    await this.db.updateTable(queue).set({ claimed_by: null, claimed_until: null }).where('claimed_by', '=', token).execute();
  }

  /** Reviews due by `dueBy` in each queue (for progress). */
  async due(dueBy: number): Promise<{ blobs: number; manifests: number }> {
    const count = async (queue: Queue) =>
      Number(
        (
          await this.db
            .selectFrom(queue)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('review_after', '<=', dueBy)
            .executeTakeFirstOrThrow()
        ).n,
      );
    return { blobs: await count('gc_blob_review'), manifests: await count('gc_manifest_review') };
  }

  // ---- blobs ----

  /**
   * Inside the collector's first transaction, for the digests `token` claimed: removes repository
   * links older than `cutoff` that no manifest of their repository references; marks 'deleting'
   * the blobs nothing references, links, or protects; requeues the rest for when they may be
   * collectable, or drops them (a reference going queues them again). Every check runs here, in
   * the same transaction as the change, so a writer or reader racing it sees before or after.
   */
  async markBlobs(tx: Tx, token: string, o: { now: number; cutoff: number; delay: number; leaseUntil: number; requeueAfter: number }): Promise<MarkResult> {
    const claimed = tx.selectFrom('gc_blob_review').select('digest').where('claimed_by', '=', token);
    const links = await tx
      .deleteFrom('repository_blobs')
      .where('digest', 'in', claimed)
      .where('created_at', '<=', o.cutoff)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            // Driven by the reference's digest, then the manifest by id (not every manifest of the repository).
            selectFrom('manifest_references as mr')
              .select('mr.digest')
              .whereRef('mr.digest', '=', 'repository_blobs.digest')
              .where('mr.kind', '=', 'blob')
              .where(({ exists, selectFrom: from }) =>
                exists(
                  from('manifests as m')
                    .select('m.id')
                    .whereRef('m.id', '=', 'mr.manifest_id')
                    .whereRef('m.repository_id', '=', 'repository_blobs.repository_id'),
                ),
              ),
          ),
        ),
      )
      .executeTakeFirst();

    await tx
      .updateTable('blobs')
      .set({ state: 'deleting', deleting_since: o.now })
      .where('digest', 'in', claimed)
      .where('state', '=', 'live')
      .where(({ not, exists, selectFrom, and }) =>
        and([
          not(exists(selectFrom('repository_blobs as rb').select('rb.digest').whereRef('rb.digest', '=', 'blobs.digest'))),
          not(exists(selectFrom('manifest_references as mr').select('mr.digest').whereRef('mr.digest', '=', 'blobs.digest'))),
          not(exists(selectFrom('manifests as m').select('m.id').whereRef('m.digest', '=', 'blobs.digest'))),
          not(exists(selectFrom('gc_blob_protections as p').select('p.token').whereRef('p.digest', '=', 'blobs.digest').where('p.until', '>', o.now))),
        ]),
      )
      .execute();

    // The claimed digests that stay: why, and from when they may go.
    const rest = await tx
      .selectFrom('gc_blob_review as r')
      .leftJoin('blobs as b', 'b.digest', 'r.digest')
      .select((eb) => [
        'r.digest',
        'b.state',
        eb
          .or([
            eb.exists(eb.selectFrom('manifest_references as mr').select('mr.digest').whereRef('mr.digest', '=', 'r.digest')),
            eb.exists(eb.selectFrom('manifests as m').select('m.id').whereRef('m.digest', '=', 'r.digest')),
          ])
          .as('referenced'),
        eb
          .selectFrom('repository_blobs as rb')
          .select((e) => e.fn.max('rb.created_at').as('t'))
          .whereRef('rb.digest', '=', 'r.digest')
          .where(({ not, exists, selectFrom }) =>
            not(
              exists(
                selectFrom('manifest_references as mr2')
                  .select('mr2.digest')
                  .whereRef('mr2.digest', '=', 'rb.digest')
                  .where('mr2.kind', '=', 'blob')
                  .where(({ exists, selectFrom: from }) =>
                    exists(
                      from('manifests as m2').select('m2.id').whereRef('m2.id', '=', 'mr2.manifest_id').whereRef('m2.repository_id', '=', 'rb.repository_id'),
                    ),
                  ),
              ),
            ),
          )
          .as('unused_link'),
        eb
          .selectFrom('gc_blob_protections as p')
          .select((e) => e.fn.max('p.until').as('u'))
          .whereRef('p.digest', '=', 'r.digest')
          .where('p.until', '>', o.now)
          .as('protected_until'),
      ])
      .where('r.claimed_by', '=', token)
      .where((eb) => eb.or([eb('b.state', 'is', null), eb('b.state', '=', 'live')]))
      .execute();

    const drop: string[] = [];
    for (const r of rest) {
      const referenced = truthy(r.referenced);
      const unusedLink = numOrNull(r.unused_link);
      const protectedUntil = numOrNull(r.protected_until);
      let next = Number.NEGATIVE_INFINITY;
      if (r.state !== null) {
        if (unusedLink !== null) next = unusedLink + o.delay;
        if (!referenced && protectedUntil !== null) next = Math.max(next, protectedUntil);
      }
      if (next === Number.NEGATIVE_INFINITY) drop.push(r.digest);
      else
        await tx
          .updateTable('gc_blob_review')
          .set({ review_after: Math.max(next, o.now + MIN_REQUEUE_MS, o.requeueAfter), claimed_by: null, claimed_until: null })
          .where('digest', '=', r.digest)
          .where('claimed_by', '=', token)
          .execute();
    }
    for (let i = 0; i < drop.length; i += CHUNK) {
      await tx
        .deleteFrom('gc_blob_review')
        .where('claimed_by', '=', token)
        .where('digest', 'in', drop.slice(i, i + CHUNK))
        .execute();
    }
    // What is left under the claim is 'deleting': hold it for the storage deletes.
    await tx.updateTable('gc_blob_review').set({ claimed_until: o.leaseUntil }).where('claimed_by', '=', token).execute();
    const deleting = await tx
      .selectFrom('gc_blob_review as r')
      .innerJoin('blobs as b', 'b.digest', 'r.digest')
      .select(['r.digest', 'b.size'])
      .where('r.claimed_by', '=', token)
      .where('b.state', '=', 'deleting')
      .execute();
    return { deleting: deleting.map((d) => ({ digest: d.digest, size: Number(d.size) })), links: Number(links.numDeletedRows) };
  }

  /** The collector's second transaction, after the bytes are gone: the rows go. */
  async removeBlobs(tx: Tx, token: string): Promise<number> {
    const claimed = tx.selectFrom('gc_blob_review').select('digest').where('claimed_by', '=', token);
    const res = await tx.deleteFrom('blobs').where('state', '=', 'deleting').where('digest', 'in', claimed).executeTakeFirst();
    await tx.deleteFrom('gc_blob_protections').where('digest', 'in', claimed).execute();
    await tx.deleteFrom('gc_blob_review').where('claimed_by', '=', token).execute();
    return Number(res.numDeletedRows);
  }

  /** Protections whose writer died long ago. */
  async pruneProtections(before: number): Promise<void> {
    await this.db.deleteFrom('gc_blob_protections').where('until', '<', before).execute();
  }

  // ---- writers and readers ----

  /** The blob's lifecycle state, or null when there is no such blob. */
  async blobState(digest: string, tx: Tx = this.db): Promise<'live' | 'deleting' | null> {
    const row = await tx.selectFrom('blobs').select('state').where('digest', '=', digest).executeTakeFirst();
    return row?.state ?? null;
  }

  /**
   * A writer's protection of `digest` until `until`, before it writes the bytes: false while a
   * deletion of the digest runs (wait and try again). A blob unknown so far is recorded now and
   * queued for review at `reviewAt`, so bytes a crashed writer leaves behind are collected.
   */
  async protect(tx: Tx, token: string, digest: string, size: number, now: number, until: number, reviewAt: number): Promise<boolean> {
    const state = await this.blobState(digest, tx);
    if (state === 'deleting') return false;
    if (state === null) {
      await tx
        .insertInto('blobs')
        .values({ digest, size, created_at: now })
        .onConflict((oc) => oc.column('digest').doNothing())
        .execute();
      await tx
        .insertInto('gc_blob_review')
        .values({ digest, review_after: reviewAt })
        .onConflict((oc) => oc.column('digest').doUpdateSet({ review_after: reviewAt }))
        .execute();
    }
    await tx.insertInto('gc_blob_protections').values({ token, digest, until }).execute();
    return true;
  }

  /** Ends a protection in the writer's final transaction; false when the blob is no longer live. */
  async unprotect(tx: Tx, token: string, digest: string): Promise<boolean> {
    await tx.deleteFrom('gc_blob_protections').where('token', '=', token).execute();
    return (await this.blobState(digest, tx)) === 'live';
  }

  /** Moves a repository's link to a live blob to `now` (a client used the blob); false when there is none. */
  async refreshLink(tx: Tx, repositoryId: number, digest: string, now: number): Promise<boolean> {
    const res = await tx
      .updateTable('repository_blobs')
      .set({ created_at: now })
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .where(({ exists, selectFrom }) =>
        exists(selectFrom('blobs as b').select('b.digest').whereRef('b.digest', '=', 'repository_blobs.digest').where('b.state', '=', 'live')),
      )
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  // ---- manifests ----

  /** The facts about each manifest `token` claimed. */
  async manifestFacts(tx: Tx, token: string): Promise<ManifestFacts[]> {
    return this.facts(tx, (m) =>
      m.where(({ exists, selectFrom }) =>
        exists(selectFrom('gc_manifest_review as q').select('q.manifest_id').whereRef('q.manifest_id', '=', 'm.id').where('q.claimed_by', '=', token)),
      ),
    );
  }

  /** Facts about every manifest a collection might take now: untagged ones (when collected), referrers without subject. */
  async candidateManifests(untagged: boolean): Promise<ManifestFacts[]> {
    return this.facts(this.db, (m) =>
      m.where((e) =>
        e.or([
          ...(untagged ? [e('m.untagged_at', 'is not', null)] : []),
          e.and([
            e('m.subject_digest', 'is not', null),
            e.not(
              e.exists(
                e.selectFrom('manifests as s').select('s.id').whereRef('s.repository_id', '=', 'm.repository_id').whereRef('s.digest', '=', 'm.subject_digest'),
              ),
            ),
          ]),
        ]),
      ),
    );
  }

  /**
   * Blobs a collection with `cutoff` would take now (for a dry run): unused and unprotected ones,
   * and those only the manifests `going` use (their bytes included).
   */
  async collectableBlobs(going: { id: number; digest: string }[], cutoff: number, now: number, dueBy: number): Promise<BlobToDelete[]> {
    const out = new Map<string, number>();
    const unused = await this.db
      .selectFrom('blobs as b')
      .select(['b.digest', 'b.size'])
      .where('b.state', '=', 'live')
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('manifest_references as mr').select('mr.digest').whereRef('mr.digest', '=', 'b.digest'))))
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('manifests as m').select('m.id').whereRef('m.digest', '=', 'b.digest'))))
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('repository_blobs as rb').select('rb.digest').whereRef('rb.digest', '=', 'b.digest').where('rb.created_at', '>', cutoff))),
      )
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('gc_blob_protections as p').select('p.token').whereRef('p.digest', '=', 'b.digest').where('p.until', '>', now))),
      )
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('gc_blob_review as q').select('q.digest').whereRef('q.digest', '=', 'b.digest').where('q.review_after', '>', dueBy))),
      )
      .execute();
    for (const b of unused) out.set(b.digest, Number(b.size));
    const ids = new Set(going.map((m) => m.id));
    const freed = new Set(going.map((m) => m.digest));
    for (let i = 0; i < going.length; i += CHUNK) {
      const refs = await this.db
        .selectFrom('manifest_references')
        .select('digest')
        .where(
          'manifest_id',
          'in',
          going.slice(i, i + CHUNK).map((m) => m.id),
        )
        .execute();
      for (const r of refs) freed.add(r.digest);
    }
    const candidates = [...freed].filter((d) => !out.has(d));
    for (let i = 0; i < candidates.length; i += CHUNK) {
      const chunk = candidates.slice(i, i + CHUNK);
      const users = await this.db.selectFrom('manifest_references').select(['digest', 'manifest_id as id']).where('digest', 'in', chunk).execute();
      const own = await this.db.selectFrom('manifests').select(['digest', 'id']).where('digest', 'in', chunk).execute();
      const kept = new Set([...users, ...own].filter((u) => !ids.has(Number(u.id))).map((u) => u.digest));
      const recent = await this.db.selectFrom('repository_blobs').select('digest').where('digest', 'in', chunk).where('created_at', '>', cutoff).execute();
      const guarded = await this.db.selectFrom('gc_blob_protections').select('digest').where('digest', 'in', chunk).where('until', '>', now).execute();
      for (const r of [...recent, ...guarded]) kept.add(r.digest);
      const rows = await this.db.selectFrom('blobs').select(['digest', 'size']).where('digest', 'in', chunk).where('state', '=', 'live').execute();
      for (const b of rows) if (!kept.has(b.digest)) out.set(b.digest, Number(b.size));
    }
    return [...out].map(([digest, size]) => ({ digest, size }));
  }

  private async facts(tx: Tx, filter: (q: ReturnType<GcStore['factsBase']>) => ReturnType<GcStore['factsBase']>): Promise<ManifestFacts[]> {
    const rows = await filter(this.factsBase(tx)).orderBy('m.id').execute();
    return rows.map((r) => ({
      id: Number(r.id),
      repositoryId: Number(r.repository_id),
      repository: r.name,
      digest: r.digest,
      mediaType: r.media_type,
      size: Number(r.size),
      artifactType: r.artifact_type,
      untaggedAt: numOrNull(r.untagged_at),
      tagged: truthy(r.tagged),
      child: truthy(r.child),
      subjectDigest: r.subject_digest,
      subjectPresent: truthy(r.subject_present),
    }));
  }

  private factsBase(tx: Tx) {
    return tx
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select((eb) => [
        'm.id',
        'm.repository_id',
        'r.name',
        'm.digest',
        'm.media_type',
        'm.size',
        'm.artifact_type',
        'm.untagged_at',
        'm.subject_digest',
        eb.exists(eb.selectFrom('tags as t').select('t.manifest_id').whereRef('t.manifest_id', '=', 'm.id')).as('tagged'),
        eb
          .exists(
            eb
              .selectFrom('manifest_references as mr')
              .innerJoin('manifests as p', 'p.id', 'mr.manifest_id')
              .select('mr.digest')
              .whereRef('mr.digest', '=', 'm.digest')
              .where('mr.kind', '=', 'manifest')
              .whereRef('p.repository_id', '=', 'm.repository_id'),
          )
          .as('child'),
        eb
          .exists(
            eb.selectFrom('manifests as s').select('s.id').whereRef('s.repository_id', '=', 'm.repository_id').whereRef('s.digest', '=', 'm.subject_digest'),
          )
          .as('subject_present'),
      ]);
  }

  async requeueManifest(tx: Tx, token: string, id: number, at: number): Promise<void> {
    await tx
      .updateTable('gc_manifest_review')
      .set({ review_after: at, claimed_by: null, claimed_until: null })
      .where('manifest_id', '=', id)
      .where('claimed_by', '=', token)
      .execute();
  }

  /** Ends the reviews `token` still holds (deleted manifests' rows went with them). */
  async finishManifestReviews(tx: Tx, token: string): Promise<void> {
    await tx.deleteFrom('gc_manifest_review').where('claimed_by', '=', token).execute();
  }

  // ---- a full collection ----

  /**
   * Queues what a full collection looks at beyond the queues: blobs nothing references, manifests
   * without a tag (when untagged ones are collected), referrers whose subject is gone.
   */
  async queueEverything(now: number, untagged: boolean): Promise<void> {
    await this.meta.transaction(async (tx) => {
      await tx
        .insertInto('gc_blob_review')
        .columns(['digest', 'review_after'])
        .expression((eb) =>
          eb
            .selectFrom('blobs as b')
            .select(['b.digest', sql<number>`cast(${now} as bigint)`.as('review_after')])
            .where('b.state', '=', 'live')
            .where(({ not, exists, selectFrom }) =>
              not(exists(selectFrom('manifest_references as mr').select('mr.digest').whereRef('mr.digest', '=', 'b.digest'))),
            )
            .where(({ not, exists, selectFrom }) => not(exists(selectFrom('manifests as m').select('m.id').whereRef('m.digest', '=', 'b.digest')))),
        )
        .onConflict((oc) => oc.column('digest').doNothing())
        .execute();
      await tx
        .insertInto('gc_manifest_review')
        .columns(['manifest_id', 'review_after'])
        .expression((eb) =>
          eb
            .selectFrom('manifests as m')
            .select(['m.id', sql<number>`cast(${now} as bigint)`.as('review_after')])
            .where((e) =>
              e.or([
                ...(untagged ? [e('m.untagged_at', 'is not', null)] : []),
                e.and([
                  e('m.subject_digest', 'is not', null),
                  e.not(
                    e.exists(
                      e
                        .selectFrom('manifests as s')
                        .select('s.id')
                        .whereRef('s.repository_id', '=', 'm.repository_id')
                        .whereRef('s.digest', '=', 'm.subject_digest'),
                    ),
                  ),
                ]),
              ]),
            ),
        )
        .onConflict((oc) => oc.column('manifest_id').doNothing())
        .execute();
    });
  }
}
