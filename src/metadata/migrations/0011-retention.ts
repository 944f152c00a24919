// Retention policies (src/retention/): per namespace, optionally one repository, their rules as
// JSON, the lease a replica holds while it runs one, and the last run's summary; and when each
// manifest was last pulled (written by the index's batched pull flush). Types: src/metadata/schema.ts.
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0011_retention',
  async up(db, { id, textC }) {
    await db.schema
      .createTable('retention_policies')
      .addColumn('id', 'integer', id)
      // A deleted user or organisation takes its policies along, like its immutable-tag rules.
      .addColumn('namespace', textC, (c) => c.notNull().references('namespaces.name').onDelete('cascade'))
      .addColumn('name', textC, (c) => c.notNull())
      .addColumn('repository', textC)
      .addColumn('enabled', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('rules', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      // The replica running the policy now, and until when its claim holds (ms).
      .addColumn('lease_token', 'text')
      .addColumn('lease_until', 'bigint')
      .addColumn('last_run_at', 'bigint')
      .addColumn('last_run', 'text')
      .addUniqueConstraint('retention_policies_namespace_name', ['namespace', 'name'])
      .execute();
    await db.schema.alterTable('manifests').addColumn('last_pulled_at', 'bigint').execute();
  },
};
