// The index's tables (search, descriptions, stars, pull counts, platforms, comments).
// Types: src/index/schema.ts.
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0003_index',
  async up(db, { id }) {
    await db.schema
      .createTable('index_repositories')
      .addColumn('repository_id', 'integer', (c) => c.primaryKey().references('repositories.id').onDelete('cascade'))
      .addColumn('description', 'text')
      .addColumn('description_source', 'text')
      .addColumn('readme', 'text')
      .addColumn('comments_enabled', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('star_count', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('pull_count', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('last_pull_at', 'bigint')
      .addColumn('last_push_at', 'bigint')
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('index_stars')
      .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('index_stars_pk', ['user_id', 'repository_id'])
      .execute();
    await db.schema.createIndex('index_stars_repository').on('index_stars').column('repository_id').execute();

    await db.schema
      .createTable('index_platforms')
      .addColumn('manifest_id', 'integer', (c) => c.notNull().references('manifests.id').onDelete('cascade'))
      .addColumn('platform', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('index_platforms_pk', ['manifest_id', 'platform'])
      .execute();
    await db.schema.createIndex('index_platforms_platform').on('index_platforms').column('platform').execute();

    await db.schema
      .createTable('index_platform_queue')
      .addColumn('manifest_id', 'integer', (c) => c.primaryKey().references('manifests.id').onDelete('cascade'))
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('index_comments')
      .addColumn('id', 'integer', id)
      .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
      .addColumn('author_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('report_count', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('edited_at', 'bigint')
      .addColumn('moderated_by', 'integer', (c) => c.references('users.id').onDelete('set null'))
      .addColumn('moderated_at', 'bigint')
      .execute();
    await db.schema.createIndex('index_comments_repository').on('index_comments').columns(['repository_id', 'id']).execute();
    await db.schema.createIndex('index_comments_author').on('index_comments').columns(['author_id', 'status']).execute();
    await db.schema.createIndex('index_comments_status').on('index_comments').columns(['status', 'id']).execute();

    await db.schema
      .createTable('index_comment_reports')
      .addColumn('comment_id', 'integer', (c) => c.notNull().references('index_comments.id').onDelete('cascade'))
      .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('reason', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('index_comment_reports_pk', ['comment_id', 'user_id'])
      .execute();

    await db.schema
      .createTable('index_rate_events')
      .addColumn('id', 'integer', id)
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('index_rate_events_key').on('index_rate_events').columns(['key', 'at']).execute();
  },
};
