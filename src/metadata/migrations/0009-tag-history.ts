// Tag history with who moved a tag from which digest to which (restores included), and the
// per-namespace rules that make tags immutable (src/registry/tag-rules.ts). Types:
// src/metadata/schema.ts.
import { sql } from 'kysely';
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0009_tag_history',
  async up(db, { id, textC }) {
    await db.schema.alterTable('tag_history').addColumn('previous_digest', textC).execute();
    await db.schema.alterTable('tag_history').addColumn('actor', 'text').execute();
    await db.schema
      .alterTable('tag_history')
      .addColumn('action', 'text', (c) => c.notNull().defaultTo('push'))
      .execute();
    // Rows from before this migration: a null digest was a delete.
    await sql`update tag_history set action = 'delete' where digest is null`.execute(db);
    // A repository's history, newest first.
    await db.schema.createIndex('tag_history_repo_id').on('tag_history').columns(['repository_id', 'id']).execute();

    await db.schema
      .createTable('immutable_tag_rules')
      .addColumn('id', 'integer', id)
      // A deleted user or organisation takes its rules along, so a name reused later inherits none.
      .addColumn('namespace', textC, (c) => c.notNull().references('namespaces.name').onDelete('cascade'))
      .addColumn('name', textC, (c) => c.notNull())
      .addColumn('repositories', 'text', (c) => c.notNull())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('exclude_repositories', 'text', (c) => c.notNull())
      .addColumn('exclude_tags', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addUniqueConstraint('immutable_tag_rules_namespace_name', ['namespace', 'name'])
      .execute();
  },
};
