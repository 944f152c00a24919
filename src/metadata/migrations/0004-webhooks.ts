// Webhooks, their delivery outbox and attempts, watching and notifications (src/webhooks/).
// Repository and namespace names compare bytewise, as in the core tables.
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0004_webhooks',
  async up(db, { id, textC }) {
    await db.schema
      .createTable('webhooks')
      .addColumn('id', 'integer', id)
      .addColumn('scope_kind', 'text', (c) => c.notNull())
      .addColumn('scope', textC, (c) => c.notNull())
      .addColumn('namespace', textC, (c) => c.references('namespaces.name').onDelete('cascade'))
      .addColumn('config_name', 'text', (c) => c.unique())
      .addColumn('name', 'text')
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('secret', 'text', (c) => c.notNull())
      .addColumn('events', 'text', (c) => c.notNull())
      .addColumn('tag_pattern', 'text')
      .addColumn('format', 'text', (c) => c.notNull())
      .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('options', 'text')
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('webhooks_scope').on('webhooks').columns(['scope_kind', 'scope']).execute();
    await db.schema.createIndex('webhooks_namespace').on('webhooks').column('namespace').execute();

    await db.schema
      .createTable('webhook_deliveries')
      .addColumn('id', 'integer', id)
      .addColumn('uuid', 'text', (c) => c.notNull().unique())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('webhook_id', 'integer', (c) => c.notNull().references('webhooks.id').onDelete('cascade'))
      .addColumn('event_type', 'text', (c) => c.notNull())
      .addColumn('repository', textC, (c) => c.notNull())
      .addColumn('tag', 'text')
      .addColumn('digest', 'text')
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('content_type', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
      .addColumn('claimed_until', 'bigint')
      .addColumn('claim_token', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('finished_at', 'bigint')
      .addColumn('last_status_code', 'integer')
      .addColumn('last_error', 'text')
      .execute();
    await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
    await db.schema.createIndex('webhook_deliveries_webhook').on('webhook_deliveries').columns(['webhook_id', 'id']).execute();

    await db.schema
      .createTable('webhook_attempts')
      .addColumn('id', 'integer', id)
      .addColumn('delivery_id', 'integer', (c) => c.notNull().references('webhook_deliveries.id').onDelete('cascade'))
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('duration_ms', 'integer', (c) => c.notNull())
      .addColumn('status_code', 'integer')
      .addColumn('error', 'text')
      .addColumn('response_body', 'text')
      .addColumn('ok', 'integer', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('webhook_attempts_delivery').on('webhook_attempts').columns(['delivery_id', 'id']).execute();

    await db.schema
      .createTable('watches')
      .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('repository', textC, (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('watches_pk', ['user_id', 'repository'])
      .execute();
    await db.schema.createIndex('watches_repository').on('watches').column('repository').execute();

    await db.schema
      .createTable('watch_events')
      .addColumn('id', 'integer', id)
      .addColumn('repository', textC, (c) => c.notNull())
      .addColumn('tag', 'text', (c) => c.notNull())
      .addColumn('digest', 'text')
      .addColumn('actor', 'text')
      .addColumn('at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('watch_events_repository').on('watch_events').columns(['repository', 'id']).execute();

    await db.schema
      .createTable('notification_reads')
      .addColumn('user_id', 'integer', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
      .addColumn('seen_id', 'bigint', (c) => c.notNull())
      .execute();
  },
};
