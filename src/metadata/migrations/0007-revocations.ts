// Rights taken away, for registry tokens already issued (auth/revocations.ts). The id orders
// revocations against the mark in each token, so it must never be reused: AUTOINCREMENT on
// SQLite (not the largest rowid + 1, which repeats once the newest rows are deleted).
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0007_revocations',
  async up(db, { id }) {
    await db.schema
      .createTable('revocations')
      .addColumn('id', 'integer', id)
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('revocations_at').on('revocations').column('at').execute();
  },
};
