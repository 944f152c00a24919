// Network rules that administrators set per namespace through the API (src/net/rule-store.ts,
// docs/network-rules.md); the configuration file's rules never live here.
import type { BerthMigration } from './columns.js';

export const migration: BerthMigration = {
  name: '0017_network_rules',
  async up(db, { textC }) {
    await db.schema
      .createTable('network_rules')
      .addColumn('namespace', textC, (c) => c.primaryKey())
      // {"pull":{"allow":[…],"deny":[…]},"push":…,"api":…,"ui":…}: validated entries, as written.
      .addColumn('rules', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_by', 'text')
      .execute();
  },
};
