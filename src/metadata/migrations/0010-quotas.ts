// Storage quotas per namespace (registry/quotas.ts, metadata/quota-store.ts): the limits
// administrators set, and the namespace's usage kept up to date in the transactions that
// add and remove manifests: every distinct digest (layer, config, manifest body) its
// manifests use, counted once however many manifests use it, and the sum of their sizes.
// Existing databases get their usage computed here from the manifests they already hold.
import { sql } from 'kysely';
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0010_quotas',
  async up(db, { textC }) {
    await db.schema
      .createTable('namespace_quotas')
      .addColumn('namespace', textC, (c) => c.primaryKey())
      .addColumn('limit_bytes', 'bigint')
      .addColumn('warning_bytes', 'bigint')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_by', 'text')
      .execute();

    await db.schema
      .createTable('namespace_blobs')
      .addColumn('namespace', textC, (c) => c.notNull())
      .addColumn('digest', textC, (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('refs', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('namespace_blobs_pk', ['namespace', 'digest'])
      .execute();

    await db.schema
      .createTable('namespace_usage')
      .addColumn('namespace', textC, (c) => c.primaryKey())
      .addColumn('bytes', 'bigint', (c) => c.notNull())
      .execute();

    // One use per (manifest, blob it references) and one per manifest for its own body; a
    // body's size is the manifest's, a blob's is its row's (0 if it has none, as the store does).
    await sql`
      insert into namespace_blobs (namespace, digest, size, refs)
      select u.namespace, u.digest, max(u.size), count(*)
      from (
        select p.namespace as namespace, r.digest as digest, coalesce(b.size, 0) as size
        from manifest_references r
        join manifests m on m.id = r.manifest_id
        join repositories p on p.id = m.repository_id
        left join blobs b on b.digest = r.digest
        where r.kind = 'blob'
        union all
        select p.namespace, m.digest, m.size
        from manifests m
        join repositories p on p.id = m.repository_id
      ) u
      group by u.namespace, u.digest`.execute(db);
    await sql`
      insert into namespace_usage (namespace, bytes)
      select namespace, sum(size) from namespace_blobs group by namespace`.execute(db);
  },
};
