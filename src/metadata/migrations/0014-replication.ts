// Replication (src/replication/): policies that copy images to or from another OCI registry, their
// runs (status and history), and the queue of copies and deletes that pushes and deletes trigger
// (written by an event sink in the change's own transaction). A policy's lease keeps two replicas
// from running it at once. Types: src/replication/schema.ts.
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0014_replication',
  async up(db, { id, textC }) {
    await db.schema
      .createTable('replication_policies')
      .addColumn('id', 'integer', id)
      .addColumn('name', textC, (c) => c.notNull().unique())
      .addColumn('direction', 'text', (c) => c.notNull())
      .addColumn('remote_url', 'text', (c) => c.notNull())
      .addColumn('remote_username', 'text')
      // AES-256-GCM under a key derived from auth.token.signingkeysecret (src/replication/credentials.ts).
      .addColumn('remote_password_sealed', 'text')
      .addColumn('repositories', 'text', (c) => c.notNull())
      .addColumn('tags', 'text', (c) => c.notNull())
      .addColumn('exclude_repositories', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('exclude_tags', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('remote_prefix', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('trigger', 'text', (c) => c.notNull())
      .addColumn('interval_ms', 'bigint')
      .addColumn('replicate_deletes', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      // Scheduled policies: when the next run is due.
      .addColumn('next_run_at', 'bigint')
      // The replica running the policy now, and until when its claim holds (ms).
      .addColumn('lease_owner', 'text')
      .addColumn('lease_until', 'bigint')
      .execute();
    await db.schema
      .createTable('replication_runs')
      .addColumn('id', 'integer', id)
      .addColumn('policy_id', 'integer', (c) => c.notNull().references('replication_policies.id').onDelete('cascade'))
      .addColumn('trigger', 'text', (c) => c.notNull())
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .addColumn('finished_at', 'bigint')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('copied', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('skipped', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('failed', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('bytes', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('error', 'text')
      .execute();
    await db.schema.createIndex('replication_runs_policy').on('replication_runs').columns(['policy_id', 'id']).execute();
    await db.schema
      .createTable('replication_tasks')
      .addColumn('id', 'integer', id)
      .addColumn('policy_id', 'integer', (c) => c.notNull().references('replication_policies.id').onDelete('cascade'))
      .addColumn('repository', textC, (c) => c.notNull())
      // A tag or a digest; '' for a whole repository (a repository delete).
      .addColumn('reference', textC, (c) => c.notNull())
      // For a deleted tag: the digest it pointed at.
      .addColumn('digest', 'text')
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
      .addColumn('lease_until', 'bigint')
      .addColumn('last_error', 'text')
      .execute();
    await db.schema.createIndex('replication_tasks_due').on('replication_tasks').columns(['policy_id', 'next_attempt_at']).execute();
  },
};
