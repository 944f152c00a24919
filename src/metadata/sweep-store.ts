// The rows the leftover sweep (gc/sweep.ts) holds storage against: which digests have a blob row and
// which upload ids a session row. Bytes in storage without either are nobody's. Claiming a leftover
// uses the collector's blob lifecycle (gc-store.ts), so writers, readers and collectors treat it like
// any blob being deleted.
import type { MetadataDb } from './database.js';

const CHUNK = 200;

export class SweepStore {
  constructor(private readonly meta: MetadataDb) {}

  /** The digests among `digests` (at most a few thousand) that no blob row names. */
  async unknownBlobs(digests: readonly string[]): Promise<string[]> {
    if (digests.length === 0) return [];
    const rows = await this.meta.db
      .selectFrom('blobs')
      .select('digest')
      .where('digest', 'in', [...digests])
      .execute();
    const known = new Set(rows.map((r) => r.digest));
    return digests.filter((d) => !known.has(d));
  }

  /**
   * Claims leftover objects for deletion, in one transaction: each digest that still has no blob row gets
   * one in state 'deleting' (readers find nothing; a writer of the digest waits until the row is gone, then
   * writes the bytes again) and a review claimed by `token` until `until`. Should this process die, the
   * collector takes the claim over and finishes the deletion. Returns the digests claimed; a digest whose
   * row a writer created since it was listed is left alone.
   */
  async claimLeftovers(items: readonly { digest: string; size: number }[], token: string, now: number, until: number): Promise<string[]> {
    if (items.length === 0) return [];
    return this.meta.transaction(async (tx) => {
      const claimed: string[] = [];
      for (let i = 0; i < items.length; i += CHUNK) {
        const rows = await tx
          .insertInto('blobs')
          .values(items.slice(i, i + CHUNK).map((o) => ({ digest: o.digest, size: o.size, created_at: now, state: 'deleting' as const, deleting_since: now })))
          .onConflict((oc) => oc.column('digest').doNothing())
          .returning('digest')
          .execute();
        claimed.push(...rows.map((r) => r.digest));
      }
      for (let i = 0; i < claimed.length; i += CHUNK) {
        await tx
          .insertInto('gc_blob_review')
          .values(claimed.slice(i, i + CHUNK).map((digest) => ({ digest, review_after: now, claimed_by: token, claimed_until: until })))
          .onConflict((oc) => oc.column('digest').doUpdateSet({ review_after: now, claimed_by: token, claimed_until: until }))
          .execute();
      }
      return claimed;
    });
  }

  /** The ids among `ids` (at most a few thousand) that no upload session row names, nor a mirror's blob download. */
  async unknownUploads(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.meta.db
      .selectFrom('uploads')
      .select('id')
      .where('id', 'in', [...ids])
      .union((eb) =>
        eb
          .selectFrom('mirror_fetches')
          .select('upload_id as id')
          .where('upload_id', 'in', [...ids]),
      )
      .execute();
    const known = new Set(rows.map((r) => r.id));
    return ids.filter((id) => !known.has(id));
  }
}
