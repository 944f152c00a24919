// The schema migrations, in the order they run: one file per migration (NNNN-name.ts), written
// once with Kysely's schema builder for SQLite and PostgreSQL. A new migration is a new file
// with the next number, added at the end of this list (docs/metadata.md).
import type { MigrationProvider } from 'kysely';
import type { Dialect } from '../schema.js';
import { columns, type BerthMigration } from './columns.js';
import { migration as registryCore } from './0001-registry-core.js';
import { migration as accounts } from './0002-accounts.js';
import { migration as index } from './0003-index.js';
import { migration as webhooks } from './0004-webhooks.js';
import { migration as sessions } from './0005-sessions.js';
import { migration as uploadLeases } from './0006-upload-leases.js';
import { migration as revocations } from './0007-revocations.js';
import { migration as gc } from './0008-gc.js';
import { migration as tagHistory } from './0009-tag-history.js';
import { migration as quotas } from './0010-quotas.js';
import { migration as retention } from './0011-retention.js';
import { migration as mirror } from './0012-mirror.js';
import { migration as mirrorFetches } from './0013-mirror-fetches.js';
import { migration as replication } from './0014-replication.js';
import { migration as trust } from './0015-trust.js';
import { migration as scans } from './0016-scans.js';
import { migration as networkRules } from './0017-network-rules.js';
import { migration as changeNotices } from './0018-change-notices.js';

export const migrations: readonly BerthMigration[] = [
  registryCore,
  accounts,
  index,
  webhooks,
  sessions,
  uploadLeases,
  revocations,
  gc,
  tagHistory,
  quotas,
  retention,
  mirror,
  mirrorFetches,
  replication,
  trust,
  scans,
  networkRules,
  changeNotices,
];

export function migrationProvider(dialect: Dialect): MigrationProvider {
  const cols = columns(dialect);
  return {
    async getMigrations() {
      return Object.fromEntries(migrations.map((m) => [m.name, { up: (db) => m.up(db, cols) }]));
    },
  };
}
