// Opens the metadata database (SQLite embedded, PostgreSQL when scaled) and migrates it.
import { constants, fsyncSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, type KyselyPlugin, Migrator, SqliteDialect, sql, type Logger, type SqliteDatabase, type SqliteStatement, type Transaction } from 'kysely';
import { detectFull, storageFull } from '../errors/storage-full.js';
import { databaseUnavailable } from '../errors/unavailable.js';
import { changePlugin, LocalChanges, sqliteChanges, type DatabaseChanges } from './change-epoch.js';
import { migrationProvider } from './migrations/index.js';
import type { Database, Dialect } from './schema.js';

export type Db = Kysely<Database>;
export type Tx = Kysely<Database> | Transaction<Database>;

export interface TransactionOptions {
  durable?: boolean;
  readCommitted?: boolean;
  /**
   * PostgreSQL only (SQLite runs one writer at a time anyway): transactions naming the same key
   * run one after another, across replicas (a session advisory lock taken before BEGIN, so the
   * snapshot is taken after the wait). For writers that all update one row, such as a
   * namespace's storage usage: under SERIALIZABLE alone, many of them at once abort each other
   * until the retries run out.
   */
  serializeOn?: string;
}

export interface MetadataDb {
  readonly dialect: Dialect;
  readonly db: Db;
  /**
   * Runs `fn` in one write transaction (SQLite: BEGIN IMMEDIATE, so writers queue
   * instead of failing on upgrade). A durable transaction resolves only once its
   * commit is on disk (it survives power loss). `durable: false` is for state a
   * client can recreate (a new upload session): it skips the fsync, and the next
   * durable commit syncs it anyway.
   *
   * PostgreSQL (postgres.ts): SERIALIZABLE, and `fn` is run again from the start after a
   * serialization failure or deadlock. So `fn` must only read and write through `tx` (no
   * storage, network or in-process state changes), and must not catch database errors.
   * `readCommitted` (PostgreSQL only; SQLite's writers are serial anyway) is for claiming
   * queue rows with `FOR UPDATE SKIP LOCKED`, where SERIALIZABLE would make concurrent
   * claimers abort each other.
   */
  transaction<T>(fn: (tx: Tx) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  /** When the database may have changed, for read caches (change-epoch.ts); absent: cache nothing. */
  readonly changes?: DatabaseChanges;
  close(): Promise<void>;
  /** PostgreSQL: the connection pool's clients (metrics); absent on SQLite. */
  poolStats?(): { total: number; idle: number; waiting: number };
}

/** How a database is opened beyond its address. */
export interface OpenOptions {
  /** Kysely's query log (metrics: metered-plugin.ts); absent, Kysely times nothing. */
  log?: Logger;
  /** See every query, in and out of transactions (tracing: traced-plugin.ts). */
  plugins?: KyselyPlugin[];
  /** false: check the schema instead of migrating it (metadata.automigrate). */
  migrate?: boolean;
  /** Told the migrations this open applied (`berth migrate` prints them). */
  onMigrated?: (applied: string[]) => void;
}

export async function openSqlite(path: string, opts: OpenOptions = {}): Promise<MetadataDb> {
  const memory = path === ':memory:';
  if (!memory) mkdirSync(dirname(path), { recursive: true });
  const raw = new SQLite(path);
  raw.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a commit is written to the WAL without an fsync, which survives
  // process crashes. Durable transactions are made power-safe by an fsync of the WAL after
  // the commit (see WalSync): what synchronous = FULL would do, but on the thread pool
  // instead of the event loop, outside the write lock, and shared by concurrent commits.
  raw.pragma('synchronous = NORMAL');
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 10000');
  const local = new LocalChanges();
  const db = new Kysely<Database>({
    dialect: new SqliteDialect({ database: cachingStatements(raw) }),
    ...(opts.log ? { log: opts.log } : {}),
    plugins: [...(opts.plugins ?? []), changePlugin(local)],
  });
  const dataVersion = raw.prepare('pragma data_version').pluck();
  if (opts.migrate === false) await requireMigrated(db, 'sqlite');
  else {
    const applied = await migrate(db, 'sqlite');
    opts.onMigrated?.(applied);
  }
  const walSync = memory ? null : new WalSync(path);
  // The WAL file exists now; make its directory entry durable once, so later syncs of it suffice.
  if (!memory) syncDirSync(dirname(path));
  return {
    dialect: 'sqlite',
    db,
    async transaction(fn, opts) {
      const durable = opts?.durable ?? true;
      const result = await db.connection().execute(async (conn) => {
        await sql`begin immediate`.execute(conn);
        try {
          const result = await fn(conn);
          await sql`commit`.execute(conn);
          return result;
        } catch (err) {
          // SQLite ends the transaction itself after some failures (SQLITE_FULL or SQLITE_IOERR
          // in a statement or in COMMIT): a ROLLBACK then fails with "cannot rollback - no
          // transaction is active", which must not replace the error that matters.
          if (raw.inTransaction) await sql`rollback`.execute(conn).catch(() => {});
          throw err;
        }
      });
      if (durable && walSync) await detectFull('database', () => walSync.sync());
      return result;
    },
    changes: sqliteChanges(local, () => dataVersion.get() as number),
    close: async () => {
      await walSync?.close();
      await db.destroy();
    },
  };
}

/**
 * Group commit for SQLite in WAL mode. The WAL is append-only between checkpoints, and
 * a checkpoint syncs it before copying it into the database (which it then syncs too),
 * so one fdatasync of the WAL that starts after a commit returned makes that commit and
 * every earlier one durable. Callers that arrive while a sync runs share the next one.
 * The WAL stays open between syncs: SQLite resets it in place, and removes it only when
 * the last connection closes (never while this process's own is open).
 */
export class WalSync {
  /** Number of syncs started; a caller needs one that started after its commit. */
  private started = 0;
  private running: Promise<void> | null = null;
  private wal: FileHandle | null = null;
  private waiters: { target: number; resolve: () => void; reject: (err: unknown) => void }[] = [];

  /** `openFile`: how files are opened for the sync (tests record the calls). */
  constructor(
    private readonly dbPath: string,
    private readonly openFile: typeof open = open,
  ) {}

  sync(): Promise<void> {
    // A sync that is already running may have started before our commit: wait for the next.
    const target = this.started + 1;
    return new Promise((resolve, reject) => {
      this.waiters.push({ target, resolve, reject });
      if (!this.running) this.run();
    });
  }

  /** Closes the WAL handle (the database is closing). */
  async close(): Promise<void> {
    await this.running?.catch(() => {});
    const wal = this.wal;
    this.wal = null;
    await wal?.close();
  }

  private run(): void {
    this.started++;
    const generation = this.started;
    this.running = this.syncOnce().then(
      () => this.finish(generation, null),
      (err) => this.finish(generation, err ?? new Error('WAL sync failed')),
    );
  }

  private async syncOnce(): Promise<void> {
    if (!this.wal) {
      try {
        this.wal = await this.openFile(`${this.dbPath}-wal`, constants.O_RDWR);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        // No WAL (the last connection checkpointed and removed it): the database file holds every commit.
        return fdatasyncPath(this.dbPath, this.openFile);
      }
    }
    try {
      await this.wal.datasync();
    } catch (err) {
      // Opened again next time.
      const wal = this.wal;
      this.wal = null;
      await wal.close().catch(() => {});
      throw err;
    }
  }

  private finish(generation: number, err: unknown): void {
    this.running = null;
    const done = this.waiters.filter((w) => w.target <= generation);
    this.waiters = this.waiters.filter((w) => w.target > generation);
    for (const w of done) err ? w.reject(err) : w.resolve();
    if (this.waiters.length > 0) this.run();
  }
}

async function fdatasyncPath(file: string, openFile: typeof open): Promise<void> {
  const fh = await openFile(file, constants.O_RDWR);
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

function syncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY);
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on directories.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const STATEMENT_CACHE = 500;

/**
 * The database as Kysely's SQLite driver sees it, with prepared statements reused: the
 * driver prepares every query it runs, and preparing costs more than running the small
 * queries of the registry. Statements are looked up by SQL text (most recently used last).
 * A statement that fails for lack of space (SQLITE_FULL) throws a StorageFullError.
 */
function cachingStatements(raw: SQLite.Database): SqliteDatabase {
  const cache = new Map<string, { stmt: SQLite.Statement; wrapped: SqliteStatement }>();
  return {
    close: () => raw.close(),
    prepare(text: string): SqliteStatement {
      const hit = cache.get(text);
      if (hit && !hit.stmt.busy) {
        cache.delete(text);
        cache.set(text, hit);
        return hit.wrapped;
      }
      const entry = { stmt: raw.prepare(text), wrapped: undefined as unknown as SqliteStatement };
      entry.wrapped = fullAware(entry.stmt);
      // A statement still iterating (a streamed select) cannot run again; use a fresh one.
      if (!hit) {
        cache.set(text, entry);
        if (cache.size > STATEMENT_CACHE) cache.delete(cache.keys().next().value as string);
      }
      return entry.wrapped;
    },
  };
}

/** Out of space: StorageFullError (507); locked by another process beyond busy_timeout: DependencyUnavailableError (503). */
function rethrowDb(err: unknown): never {
  throw storageFull(err, 'database') ?? databaseUnavailable(err) ?? err;
}

function fullAware(stmt: SQLite.Statement): SqliteStatement {
  const s = stmt as unknown as SqliteStatement;
  return {
    reader: s.reader,
    all(parameters) {
      try {
        return s.all(parameters);
      } catch (err) {
        rethrowDb(err);
      }
    },
    run(parameters) {
      try {
        return s.run(parameters);
      } catch (err) {
        rethrowDb(err);
      }
    },
    *iterate(parameters) {
      try {
        yield* s.iterate(parameters);
      } catch (err) {
        rethrowDb(err);
      }
    },
  };
}

/**
 * Runs the pending migrations; `schema` (PostgreSQL) is where the migration tables live.
 * `through` stops after that migration (tests compare the schema it leaves).
 */
// biome-ignore lint/suspicious/noExplicitAny: migrations see the schema as it was then, not today's Database type (Kysely's advice)
export async function migrate(db: Kysely<any>, dialect: Dialect, schema?: string, through?: string): Promise<string[]> {
  const migrator = migratorFor(db, dialect, schema);
  // Nothing of ours left to run: done, even when a newer release has applied migrations this one does not
  // know (Kysely would call that corrupt), so a previous release keeps starting during a rolling update.
  if (!through && (await pending(migrator)).length === 0) return [];
  const { error, results } = await (through ? migrator.migrateTo(through) : migrator.migrateToLatest());
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`metadata migration ${failed ?? ''} failed: ${(error as Error).message ?? error}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * For `metadata.automigrate: false` (migrations run by `berth migrate`, e.g. a Kubernetes Job): refuses
 * a database that lacks a migration this release needs. Reads only.
 */
// biome-ignore lint/suspicious/noExplicitAny: as migrate()
export async function requireMigrated(db: Kysely<any>, dialect: Dialect, schema?: string): Promise<void> {
  const missing = await pending(migratorFor(db, dialect, schema));
  if (missing.length > 0)
    throw new Error(
      `the metadata database lacks ${missing.length} migration(s) this release needs (${missing[0]}${missing.length > 1 ? ` … ${missing.at(-1)}` : ''}): run \`berth migrate\` first (metadata.automigrate is off)`,
    );
}

// biome-ignore lint/suspicious/noExplicitAny: as migrate()
function migratorFor(db: Kysely<any>, dialect: Dialect, schema?: string): Migrator {
  return new Migrator({
    db,
    provider: migrationProvider(dialect),
    migrationTableName: 'berth_migrations',
    migrationLockTableName: 'berth_migrations_lock',
    // Names in code-point order (they are NNNN-ascii): Kysely's default, localeCompare, maps ICU's collation data (~3 MiB resident).
    nameComparator: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
}

async function pending(migrator: Migrator): Promise<string[]> {
  return (await migrator.getMigrations()).filter((m) => m.executedAt === undefined).map((m) => m.name);
}
