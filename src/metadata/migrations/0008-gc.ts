// Online garbage collection (src/gc/): a blob's lifecycle state, writers' protections, claims on
// the review queues, when a manifest lost its last tag, and the manifest review queue.
// Types: src/metadata/schema.ts.
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0008_gc',
  async up(db, { textC }) {
    // 'live' blobs exist for readers; 'deleting' ones are being removed from storage.
    await db.schema
      .alterTable('blobs')
      .addColumn('state', 'text', (c) => c.notNull().defaultTo('live'))
      .execute();
    await db.schema.alterTable('blobs').addColumn('deleting_since', 'bigint').execute();

    // One row per writer putting a blob's bytes into storage; the collector leaves the digest alone until it expires.
    await db.schema
      .createTable('gc_blob_protections')
      .addColumn('token', 'text', (c) => c.primaryKey())
      .addColumn('digest', textC, (c) => c.notNull())
      .addColumn('until', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('gc_blob_protections_digest').on('gc_blob_protections').columns(['digest', 'until']).execute();

    // Claims (a lease) on review rows, so replicas never review the same digest at once.
    await db.schema.alterTable('gc_blob_review').addColumn('claimed_by', 'text').execute();
    await db.schema.alterTable('gc_blob_review').addColumn('claimed_until', 'bigint').execute();
    await db.schema.createIndex('gc_blob_review_due').on('gc_blob_review').column('review_after').execute();
    await db.schema.createIndex('gc_blob_review_claim').on('gc_blob_review').column('claimed_by').execute();

    await db.schema.alterTable('manifests').addColumn('untagged_at', 'bigint').execute();
    await db.schema.createIndex('manifests_untagged').on('manifests').column('untagged_at').execute();
    // Manifests without a tag today lost it (or never had one) before this migration: they count from now.
    const now = Date.now();
    await db
      .updateTable('manifests')
      .set({ untagged_at: now })
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('tags').select('tags.manifest_id').whereRef('tags.manifest_id', '=', 'manifests.id'))))
      .execute();

    // Manifests that may have become collectable: untagged, or whose index or subject went.
    await db.schema
      .createTable('gc_manifest_review')
      .addColumn('manifest_id', 'integer', (c) => c.primaryKey().references('manifests.id').onDelete('cascade'))
      .addColumn('review_after', 'bigint', (c) => c.notNull())
      .addColumn('claimed_by', 'text')
      .addColumn('claimed_until', 'bigint')
      .execute();
    await db.schema.createIndex('gc_manifest_review_due').on('gc_manifest_review').column('review_after').execute();
    await db.schema.createIndex('gc_manifest_review_claim').on('gc_manifest_review').column('claimed_by').execute();
    await db
      .insertInto('gc_manifest_review')
      .columns(['manifest_id', 'review_after'])
      .expression((eb) => eb.selectFrom('manifests').select(['id', 'untagged_at']).where('untagged_at', 'is not', null))
      .execute();
  },
};
