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
  /** Runs `fn` in one write transaction (SQLite: BEGIN IMMEDIATE, so writers queue instead of failing on upgrade). */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function openSqlite(path: string): Promise<MetadataDb> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const raw = new SQLite(path);
  raw.pragma('journal_mode = WAL');
  // FULL: a commit is on disk before the client hears 201, even across power loss.
  raw.pragma('synchronous = FULL');
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 10000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) });
  await migrate(db, 'sqlite');
  return {
    dialect: 'sqlite',
    db,
    async transaction(fn) {
      return db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn);
        try {
          const result = await fn(conn);
          await sql`commit`.execute(conn);
          return result;
        } catch (err) {
          await sql`rollback`.execute(conn);
          throw err;
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
