// SQL of the mirror's single-flight blob downloads (mirror/blob-fetch.ts): one claim row per digest with
// a lease, the upload session the bytes go into, and how many of them every replica may read. Each
// change is one statement that names the owner it expects, so two replicas never both win.
import type { Selectable } from 'kysely';
import type { MetadataDb, Tx } from './database.js';
import type { MirrorFetchesTable } from './schema.js';

export interface FetchClaim {
  digest: string;
  owner: string;
  leaseUntil: number;
  uploadId: string;
  /** Bytes the upstream announced; null until its answer arrived. */
  size: number | null;
  /** Bytes readable from the upload session by any replica. */
  published: number;
}

const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toClaim(row: Selectable<MirrorFetchesTable>): FetchClaim {
  return {
    digest: row.digest,
    owner: row.owner,
    leaseUntil: Number(row.lease_until),
    uploadId: row.upload_id,
    size: numOrNull(row.size),
    published: Number(row.published),
  };
}

export class MirrorFetchStore {
  constructor(readonly meta: MetadataDb) {}

  private get db() {
    return this.meta.db;
  }

  async get(digest: string): Promise<FetchClaim | null> {
    const row = await this.db.selectFrom('mirror_fetches').selectAll().where('digest', '=', digest).executeTakeFirst();
    return row ? toClaim(row) : null;
  }

  /** Claims a digest nobody is fetching; false when another download holds it. */
  async claim(digest: string, owner: string, uploadId: string, now: number, until: number): Promise<boolean> {
    const rows = await this.db
      .insertInto('mirror_fetches')
      .values({ digest, owner, lease_until: until, upload_id: uploadId, started_at: now })
      .onConflict((oc) => oc.column('digest').doNothing())
      .returning('digest')
      .execute();
    return rows.length > 0;
  }

  /** Takes over the claim of `previous` when its lease expired before `now` (its download died); false when not taken. */
  async takeOver(digest: string, previous: string, owner: string, uploadId: string, now: number, until: number): Promise<boolean> {
    const res = await this.db
      .updateTable('mirror_fetches')
      .set({ owner, lease_until: until, upload_id: uploadId, size: null, published: 0, started_at: now })
      .where('digest', '=', digest)
      .where('owner', '=', previous)
      .where('lease_until', '<', now)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Renews the lease and records what the owner learnt; false when the claim is no longer the owner's. */
  async progress(digest: string, owner: string, p: { until: number; size?: number; published?: number }): Promise<boolean> {
    const res = await this.db
      .updateTable('mirror_fetches')
      .set({ lease_until: p.until, ...(p.size !== undefined ? { size: p.size } : {}), ...(p.published !== undefined ? { published: p.published } : {}) })
      .where('digest', '=', digest)
      .where('owner', '=', owner)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Ends the owner's claim (in the transaction that records the blob, or after a failure); false when it was not the owner's. */
  async release(tx: Tx, digest: string, owner: string): Promise<boolean> {
    const res = await tx.deleteFrom('mirror_fetches').where('digest', '=', digest).where('owner', '=', owner).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  /** The blob's size when it is recorded and live (stored, or being stored by a writer that protected it). */
  async liveBlobSize(digest: string, tx: Tx = this.db): Promise<number | null> {
    const row = await tx.selectFrom('blobs').select('size').where('digest', '=', digest).where('state', '=', 'live').executeTakeFirst();
    return row ? Number(row.size) : null;
  }

  /** Claims whose lease ran out before `before` (their downloads died and nobody asked for the blob since). */
  async expired(before: number, limit: number): Promise<FetchClaim[]> {
    const rows = await this.db.selectFrom('mirror_fetches').selectAll().where('lease_until', '<', before).limit(limit).execute();
    return rows.map(toClaim);
  }

  /** Deletes a claim only while it is still the one seen (owner and expired lease), so a live download keeps its row. */
  async dropExpired(digest: string, owner: string, now: number): Promise<boolean> {
    const res = await this.db
      .deleteFrom('mirror_fetches')
      .where('digest', '=', digest)
      .where('owner', '=', owner)
      .where('lease_until', '<', now)
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}
