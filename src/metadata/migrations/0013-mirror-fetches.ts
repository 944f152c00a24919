// Blobs a mirror is fetching from an upstream registry (src/mirror/blob-fetch.ts): one row per digest
// while one replica downloads it, so concurrent pulls on any replica make one upstream download and
// read the bytes it has published so far. Types: src/metadata/schema.ts.
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0013_mirror_fetches',
  async up(db, { textC }) {
    await db.schema
      .createTable('mirror_fetches')
      .addColumn('digest', textC, (c) => c.primaryKey())
      // The download holding the claim, and until when (ms) unless renewed: a waiter takes an expired claim over.
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('lease_until', 'bigint', (c) => c.notNull())
      // The storage upload session the bytes go into; `published` of them are readable by every replica.
      .addColumn('upload_id', 'text', (c) => c.notNull())
      .addColumn('size', 'bigint')
      .addColumn('published', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('mirror_fetches_upload').on('mirror_fetches').column('upload_id').execute();
  },
};
