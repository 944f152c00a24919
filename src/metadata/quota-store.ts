// SQL for storage quotas: the limits administrators set per namespace, and each namespace's
// usage, kept in the transactions that add and remove manifests (registry-store.ts calls
// addReferences/removeReferences). A namespace uses a digest (layer, config, manifest
// body) while any of its manifests references it or is it; `refs` counts those uses, so
// the digest's size is counted once and leaves the total with its last use. Reading the
// usage is one row; a push costs one lookup per digest it references.
import { sql } from 'kysely';
import { chunks } from './chunks.js';
import type { Db, Tx } from './database.js';

/** A namespace's quota as administrators set it; null fields fall back to the defaults. */
export interface QuotaRow {
  namespace: string;
  /** null: no limit of its own (the server's default applies, if any). */
  limitBytes: number | null;
  /** null: the server's warning percentage of the limit. */
  warningBytes: number | null;
  updatedAt: number;
  updatedBy: string | null;
}

interface NamespaceBlobsTable {
  namespace: string;
  digest: string;
  size: number;
  /** Manifests of the namespace that reference the digest or are it. */
  refs: number;
}

interface NamespaceUsageTable {
  namespace: string;
  bytes: number;
}

interface NamespaceQuotasTable {
  namespace: string;
  limit_bytes: number | null;
  warning_bytes: number | null;
  updated_at: number;
  updated_by: string | null;
}

declare module './schema.js' {
  interface Database {
    namespace_blobs: NamespaceBlobsTable;
    namespace_usage: NamespaceUsageTable;
    namespace_quotas: NamespaceQuotasTable;
  }
}

const CHUNK = 500;

export class QuotaStore {
  constructor(private readonly db: Db) {}

  // ---- usage, maintained ----

  /** Bytes the namespace uses (0 when it holds nothing). */
  async usage(namespace: string, tx: Tx = this.db): Promise<number> {
    const row = await tx.selectFrom('namespace_usage').select('bytes').where('namespace', '=', namespace).executeTakeFirst();
    return row ? Number(row.bytes) : 0;
  }

  /** Whether a manifest of the namespace uses the digest. */
  async uses(namespace: string, digest: string, tx: Tx = this.db): Promise<boolean> {
    const row = await tx.selectFrom('namespace_blobs').select('refs').where('namespace', '=', namespace).where('digest', '=', digest).executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Of `digests`, the total size of those the namespace does not use yet (what using them
   * would add). Sizes come from `sizes` where the caller knows them (a manifest's own body),
   * otherwise from the blobs table.
   */
  async unusedBytes(tx: Tx, namespace: string, digests: string[], sizes: ReadonlyMap<string, number> = new Map()): Promise<number> {
    let total = 0;
    for (const chunk of chunks([...new Set(digests)], CHUNK)) {
      const fresh = await this.unused(tx, namespace, chunk);
      for (const size of (await this.sizesOf(tx, fresh, sizes)).values()) total += size;
    }
    return total;
  }

  /**
   * One more use of each digest (a digest listed twice is used twice); returns the bytes newly
   * counted. Sizes as for unusedBytes; a digest without a blob row (only in tests that write
   * manifests straight into the store) counts 0 bytes but is still tracked.
   */
  async addReferences(tx: Tx, namespace: string, digests: string[], sizes: ReadonlyMap<string, number> = new Map()): Promise<number> {
    const counts = countsOf(digests);
    let added = 0;
    for (const chunk of chunks([...counts.keys()], CHUNK)) {
      // Few round trips, since every push pays them: the digests already used gain their use
      // in one UPDATE (most manifests use each digest once), the rest are inserted with their
      // sizes straight from the blobs table.
      const once = chunk.filter((d) => counts.get(d) === 1);
      const known = new Set<string>();
      if (once.length > 0) {
        const rows = await tx
          .updateTable('namespace_blobs')
          .set((eb) => ({ refs: eb('refs', '+', 1) }))
          .where('namespace', '=', namespace)
          .where('digest', 'in', once)
          .returning('digest')
          .execute();
        for (const r of rows) known.add(r.digest);
      }
      const rest = chunk.filter((d) => counts.get(d) !== 1);
      const fresh = [...once.filter((d) => !known.has(d)), ...(rest.length > 0 ? await this.unused(tx, namespace, rest) : [])];
      for (const [n, group] of byCount(
        rest.filter((d) => !fresh.includes(d)),
        counts,
      )) {
        await tx
          .updateTable('namespace_blobs')
          .set((eb) => ({ refs: eb('refs', '+', n) }))
          .where('namespace', '=', namespace)
          .where('digest', 'in', group)
          .execute();
      }
      if (fresh.length === 0) continue;
      const values = await this.sizesOf(tx, fresh, sizes);
      await tx
        .insertInto('namespace_blobs')
        .values(fresh.map((digest) => ({ namespace, digest, size: values.get(digest) ?? 0, refs: counts.get(digest) ?? 1 })))
        .execute();
      for (const size of values.values()) added += size;
    }
    if (added > 0) await this.addBytes(tx, namespace, added);
    return added;
  }

  /** Of `digests`, those the namespace does not use. */
  private async unused(tx: Tx, namespace: string, digests: string[]): Promise<string[]> {
    const rows = await tx.selectFrom('namespace_blobs').select('digest').where('namespace', '=', namespace).where('digest', 'in', digests).execute();
    const used = new Set(rows.map((r) => r.digest));
    return digests.filter((d) => !used.has(d));
  }

  private async sizesOf(tx: Tx, digests: string[], known: ReadonlyMap<string, number>): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const lookup: string[] = [];
    for (const d of digests) {
      const size = known.get(d);
      if (size === undefined) lookup.push(d);
      else out.set(d, size);
    }
    if (lookup.length > 0) {
      for (const b of await tx.selectFrom('blobs').select(['digest', 'size']).where('digest', 'in', lookup).execute()) out.set(b.digest, Number(b.size));
    }
    return out;
  }

  /** One use less of each digest (per listing); digests nothing uses any more leave the total. Returns the bytes freed. */
  async removeReferences(tx: Tx, namespace: string, digests: string[] | Map<string, number>): Promise<number> {
    const counts = digests instanceof Map ? digests : countsOf(digests);
    let freed = 0;
    for (const chunk of chunks([...counts.keys()], CHUNK)) {
      const rows = await tx
        .selectFrom('namespace_blobs')
        .select(['digest', 'size', 'refs'])
        .where('namespace', '=', namespace)
        .where('digest', 'in', chunk)
        .execute();
      const gone = rows.filter((r) => Number(r.refs) <= (counts.get(r.digest) ?? 0));
      if (gone.length > 0) {
        await tx
          .deleteFrom('namespace_blobs')
          .where('namespace', '=', namespace)
          .where(
            'digest',
            'in',
            gone.map((r) => r.digest),
          )
          .execute();
        for (const r of gone) freed += Number(r.size);
      }
      const goneSet = new Set(gone.map((r) => r.digest));
      for (const [n, group] of byCount(
        rows.map((r) => r.digest).filter((d) => !goneSet.has(d)),
        counts,
      )) {
        await tx
          .updateTable('namespace_blobs')
          .set((eb) => ({ refs: eb('refs', '-', n) }))
          .where('namespace', '=', namespace)
          .where('digest', 'in', group)
          .execute();
      }
    }
    if (freed > 0) await this.addBytes(tx, namespace, -freed);
    return freed;
  }

  private async addBytes(tx: Tx, namespace: string, delta: number): Promise<void> {
    await tx
      .insertInto('namespace_usage')
      .values({ namespace, bytes: delta })
      .onConflict((oc) => oc.column('namespace').doUpdateSet((eb) => ({ bytes: eb('namespace_usage.bytes', '+', delta) })))
      .execute();
  }

  /**
   * The namespace's usage computed from the manifests themselves, ignoring the maintained
   * tables: what those must always equal (tests compare; `berth` could repair with it).
   * Reads every manifest of the namespace, so it is slow for large ones.
   */
  async computeUsage(namespace: string, tx: Tx = this.db): Promise<{ bytes: number; digests: number }> {
    const r = await sql<{ bytes: number | string | null; digests: number | string }>`
      select sum(size) as bytes, count(*) as digests from (
        select digest, max(size) as size from (
          select r.digest as digest, b.size as size from manifest_references r
          join manifests m on m.id = r.manifest_id
          join repositories p on p.id = m.repository_id
          left join blobs b on b.digest = r.digest
          where r.kind = 'blob' and p.namespace = ${namespace}
          union all
          select m.digest, m.size from manifests m
          join repositories p on p.id = m.repository_id
          where p.namespace = ${namespace}
        ) u group by digest
      ) d`.execute(tx);
    return { bytes: Number(r.rows[0]?.bytes ?? 0), digests: Number(r.rows[0]?.digests ?? 0) };
  }

  // ---- limits ----

  async quota(namespace: string, tx: Tx = this.db): Promise<QuotaRow | null> {
    const r = await tx.selectFrom('namespace_quotas').selectAll().where('namespace', '=', namespace).executeTakeFirst();
    return r ? toQuota(r) : null;
  }

  async setQuota(tx: Tx, q: QuotaRow): Promise<void> {
    const values = { limit_bytes: q.limitBytes, warning_bytes: q.warningBytes, updated_at: q.updatedAt, updated_by: q.updatedBy };
    await tx
      .insertInto('namespace_quotas')
      .values({ namespace: q.namespace, ...values })
      .onConflict((oc) => oc.column('namespace').doUpdateSet(values))
      .execute();
  }

  async deleteQuota(tx: Tx, namespace: string): Promise<boolean> {
    const res = await tx.deleteFrom('namespace_quotas').where('namespace', '=', namespace).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  /** Namespaces that use storage or have a quota, by name after `last`, with their usage and quota. */
  async list(limit: number, last?: string): Promise<{ namespace: string; used: number; quota: QuotaRow | null }[]> {
    let names = this.db
      .selectFrom('namespace_usage')
      .select('namespace')
      .where('bytes', '>', 0)
      .union(this.db.selectFrom('namespace_quotas').select('namespace'));
    if (last !== undefined)
      names = this.db
        .selectFrom('namespace_usage')
        .select('namespace')
        .where('bytes', '>', 0)
        .where('namespace', '>', last)
        .union(this.db.selectFrom('namespace_quotas').select('namespace').where('namespace', '>', last));
    const page = (await names.orderBy('namespace').limit(limit).execute()).map((r) => r.namespace);
    if (page.length === 0) return [];
    const [usage, quotas] = await Promise.all([
      this.db.selectFrom('namespace_usage').selectAll().where('namespace', 'in', page).execute(),
      this.db.selectFrom('namespace_quotas').selectAll().where('namespace', 'in', page).execute(),
    ]);
    const used = new Map(usage.map((u) => [u.namespace, Number(u.bytes)]));
    const q = new Map(quotas.map((r) => [r.namespace, toQuota(r)]));
    return page.map((namespace) => ({ namespace, used: used.get(namespace) ?? 0, quota: q.get(namespace) ?? null }));
  }
}

function toQuota(r: NamespaceQuotasTable): QuotaRow {
  return {
    namespace: r.namespace,
    limitBytes: r.limit_bytes === null ? null : Number(r.limit_bytes),
    warningBytes: r.warning_bytes === null ? null : Number(r.warning_bytes),
    updatedAt: Number(r.updated_at),
    updatedBy: r.updated_by,
  };
}

function countsOf(digests: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const d of digests) m.set(d, (m.get(d) ?? 0) + 1);
  return m;
}

/** Digests grouped by how many uses they gain or lose, so each group is one statement. */
function byCount(digests: string[], counts: Map<string, number>): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const d of digests) {
    const n = counts.get(d) ?? 1;
    out.set(n, [...(out.get(n) ?? []), d]);
  }
  return out;
}
