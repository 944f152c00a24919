// The revocations table (see auth/revocations.ts for what reads it): rows are written in
// the transaction of the change that takes rights away, and read by every process.
import { sql } from 'kysely';
import type { MetadataDb, Tx } from '../database.js';
import type { RevocationsTable } from '../schema.js';

export type RevocationKind = RevocationsTable['kind'];

export interface RevocationRow {
  id: number;
  kind: RevocationKind;
  key: string;
  at: number;
}

export class RevocationStore {
  constructor(private readonly meta: MetadataDb) {}

  /**
   * Adds rows in the caller's transaction. Ids must become visible in id order, or a
   * token's mark (the highest id visible when it was issued) could pass over a change
   * still being committed under a smaller id: on PostgreSQL, whose sequence values commit
   * out of order, writers therefore queue for a table lock held until their commit
   * (selects do not wait for it). SQLite has one writer at a time anyway. Rows older than
   * `keepMs` go at the same time, except the newest, which holds the mark.
   */
  async insert(tx: Tx, rows: { kind: RevocationKind; key: string }[], now: number, keepMs: number): Promise<void> {
    if (rows.length === 0) return;
    if (this.meta.dialect === 'postgres') await sql`lock table revocations in share row exclusive mode`.execute(tx);
    await tx
      .deleteFrom('revocations')
      .where('at', '<', now - keepMs)
      .where(
        'id',
        '<',
        tx.selectFrom('revocations').select((eb) => eb.fn.max('id').as('m')),
      )
      .execute();
    await tx
      .insertInto('revocations')
      .values(rows.map((r) => ({ kind: r.kind, key: r.key, at: now })))
      .execute();
  }

  /** The highest id committed (0 for none). */
  async mark(): Promise<number> {
    const r = await this.meta.db
      .selectFrom('revocations')
      .select((eb) => eb.fn.max('id').as('m'))
      .executeTakeFirst();
    return Number(r?.m ?? 0);
  }

  /** Rows with an id above `id`, in order. */
  async after(id: number): Promise<RevocationRow[]> {
    const rows = await this.meta.db.selectFrom('revocations').selectAll().where('id', '>', id).orderBy('id').execute();
    return rows.map((r) => ({ id: Number(r.id), kind: r.kind, key: r.key, at: Number(r.at) }));
  }

  /** The first id of the rows written since `at` (for a process starting up); the next id when there are none. */
  async firstSince(at: number): Promise<number> {
    const r = await this.meta.db
      .selectFrom('revocations')
      .select((eb) => eb.fn.min('id').as('m'))
      .where('at', '>=', at)
      .executeTakeFirst();
    return r?.m == null ? (await this.mark()) + 1 : Number(r.m);
  }
}
