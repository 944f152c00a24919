// PostgreSQL: a notice on channel `berth_changes` whenever a table that registry lookups read
// changes, sent in the writing transaction (so it arrives once that commits, and not at all if it
// rolls back). Each replica listens and drops its lookup cache (metadata/postgres-changes.ts).
// One statement-level trigger per table; PostgreSQL folds a transaction's identical notices into
// one. The payload is the schema, so installations sharing a database in different schemas do not
// empty each other's caches. SQLite needs nothing: other connections' commits show in PRAGMA data_version.
import { sql } from 'kysely';
import type { BerthMigration } from './columns.js';

/** What manifest lookups by tag and digest and blob lookups read (registry/lookup-cache.ts). */
const WATCHED = ['repositories', 'tags', 'manifests', 'blobs', 'repository_blobs', 'gc_blob_review'];

export const migration: BerthMigration = {
  name: '0018_change_notices',
  async up(db, { dialect }) {
    if (dialect !== 'postgres') return;
    await sql`
      create function berth_notify_change() returns trigger language plpgsql as $$
      begin
        perform pg_notify('berth_changes', current_schema());
        return null;
      end $$`.execute(db);
    for (const table of WATCHED) {
      await sql`
        create trigger ${sql.id(`berth_changes_${table}`)}
        after insert or update or delete or truncate on ${sql.table(table)}
        for each statement execute function berth_notify_change()`.execute(db);
    }
  },
};
