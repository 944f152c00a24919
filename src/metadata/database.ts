// Opens the metadata database (SQLite embedded, PostgreSQL when scaled) and migrates it.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, sql, type Transaction } from 'kysely';
import { migrationProvider, type Dialect } from './migrations.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;
export type Tx = Kysely<Database> | Transaction<Database>;

export interface MetadataDb {
  readonly dialect: Dialect;
  readonly db: Db;
  /**
   * Runs `fn` in one write transaction (SQLite: BEGIN IMMEDIATE, so writers queue
   * instead of failing on upgrade). `durable: false` is for state a client can
   * recreate (a new upload session): it skips the commit's fsync, and the next
   * durable commit syncs it anyway.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>, opts?: { durable?: boolean }): Promise<T>;
  close(): Promise<void>;
}

export async function openSqlite(path: string): Promise<MetadataDb> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const raw = new SQLite(path);
  raw.pragma('journal_mode = WAL');
  // Durable transactions switch to FULL: a commit is on disk before the client hears
  // 201, even across power loss. NORMAL (WAL) survives process crashes and is the
  // default for everything else.
  raw.pragma('synchronous = NORMAL');
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 10000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) });
  await migrate(db, 'sqlite');
  return {
    dialect: 'sqlite',
    db,
    async transaction(fn, opts) {
      const durable = opts?.durable ?? true;
      return db.connection().execute(async (conn) => {
        // Inside the connection's lock, so no other statement sees the setting.
        if (durable) raw.pragma('synchronous = FULL');
        try {
          await sql`begin immediate`.execute(conn);
          try {
            const result = await fn(conn);
            await sql`commit`.execute(conn);
            return result;
          } catch (err) {
            await sql`rollback`.execute(conn);
            throw err;
          }
        } finally {
          if (durable) raw.pragma('synchronous = NORMAL');
        }
      });
    },
    close: () => db.destroy(),
  };
}

async function migrate(db: Kysely<any>, dialect: Dialect): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider(dialect), migrationTableName: 'berth_migrations', migrationLockTableName: 'berth_migrations_lock' });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`metadata migration ${failed ?? ''} failed: ${(error as Error).message ?? error}`);
  }
}
