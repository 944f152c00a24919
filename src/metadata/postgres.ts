// PostgreSQL metadata backend: the same schema, migrations and SQL as SQLite (Kysely),
// for several replicas sharing one database. See docs/metadata.md for the design.
//
// Writers: every transaction runs at SERIALIZABLE and is retried on serialization
// failures and deadlocks, so the read-then-write code written for SQLite's one-writer-
// at-a-time model (BEGIN IMMEDIATE) stays correct across processes, with no locks held
// in any one process.
import { setTimeout as sleep } from 'node:timers/promises';
import { Kysely, PostgresDialect, sql, type DatabaseIntrospector, type PostgresPool, type PostgresPoolClient, type TableMetadata } from 'kysely';
import pg from 'pg';
import { storageFull } from '../errors/storage-full.js';
import { databaseUnavailable, rethrowDatabaseDown } from '../errors/unavailable.js';
import { changePlugin, LocalChanges } from './change-epoch.js';
import { migrate, requireMigrated, type MetadataDb, type OpenOptions } from './database.js';
import { postgresChanges } from './postgres-changes.js';
import type { Database } from './schema.js';

/** SQLSTATEs after which the whole transaction is run again: serialization_failure, deadlock_detected. */
const RETRYABLE = new Set(['40001', '40P01']);
/** Attempts before a serialization failure reaches the caller (as a 500). */
export const MAX_ATTEMPTS = 30;

export class TransactionAbortedError extends Error {
  constructor() {
    super('a statement in the transaction failed and its error was caught; PostgreSQL rolled the transaction back');
    this.name = 'TransactionAbortedError';
  }
}

export interface PostgresOptions extends OpenOptions {
  /** Called once per retried attempt (tests count them). */
  onRetry?: (err: unknown, attempt: number) => void;
  /**
   * How long a query waits for a connection (a new one to the server, or a free one of the pool)
   * before it fails as "database unavailable" (503): 0 waits forever. Default 5 s.
   */
  connectTimeoutMs?: number;
}

export async function openPostgres(url: string, poolsize: number, opts: PostgresOptions = {}): Promise<MetadataDb> {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolsize,
    application_name: 'berth',
    // A server that is down or unreachable fails requests within this (503, not a hang); the
    // pool drops clients whose connection broke, so it reconnects by itself when the server is back.
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    keepAlive: true,
    // BIGINT (timestamps in ms, sizes, counts) arrives as a string by default; every value
    // Berth stores is far below 2^53, and the schema types promise numbers.
    types: {
      getTypeParser: (oid: number, format?: string) => (oid === pg.types.builtins.INT8 ? toSafeNumber : pg.types.getTypeParser(oid, format as 'text')),
    } as pg.CustomTypesConfig,
  });
  // An idle client losing its connection (server restart, failover) must not crash the
  // process; the pool replaces it and the next query reports any persisting problem.
  pool.on('error', () => {});
  const local = new LocalChanges();
  const db = new Kysely<Database>({
    dialect: new BerthPostgresDialect({ pool: guardCommits(pool) }),
    ...(opts.log ? { log: opts.log } : {}),
    plugins: [...(opts.plugins ?? []), changePlugin(local)],
  });
  try {
    const [{ schema }] = (await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db)).rows;
    if (!schema) throw new Error('no schema to create tables in: check search_path of the PostgreSQL role or URL');
    // Migrations take a PostgreSQL advisory lock and run in one transaction: replicas
    // starting together wait for the first, then find nothing left to do. The migration
    // tables are looked up in the current schema only (Kysely would otherwise find them
    // in any schema of the database).
    if (opts.migrate === false) await requireMigrated(db, 'postgres', schema);
    else {
      const applied = await migrate(db, 'postgres', schema);
      opts.onMigrated?.(applied);
    }
  } catch (err) {
    await db.destroy().catch(() => {});
    throw err;
  }

  const changes = postgresChanges(url, local);
  return {
    dialect: 'postgres',
    db,
    async transaction(fn, txOpts) {
      const durable = txOpts?.durable ?? true;
      // Non-durable: the commit returns before its WAL record is flushed (a crash may lose
      // the last few hundred ms of such commits, never corrupt anything).
      const isolation = txOpts?.readCommitted ? 'read committed' : 'serializable';
      const begin = durable ? `begin isolation level ${isolation}` : `begin isolation level ${isolation}; set local synchronous_commit = off`;
      for (let attempt = 1; ; attempt++) {
        try {
          return await db.connection().execute(async (conn) => {
            const key = txOpts?.serializeOn;
            if (key !== undefined) await sql`select pg_advisory_lock(hashtext(${key}))`.execute(conn);
            try {
              await sql.raw(begin).execute(conn);
              try {
                const result = await fn(conn);
                await sql`commit`.execute(conn);
                return result;
              } catch (err) {
                await sql`rollback`.execute(conn).catch(() => {});
                throw err;
              }
            } finally {
              // A failed unlock means a broken connection, whose session (and lock) ends with it.
              if (key !== undefined) await sql`select pg_advisory_unlock(hashtext(${key}))`.execute(conn).catch(() => {});
            }
          });
        } catch (err) {
          if (attempt >= MAX_ATTEMPTS || !RETRYABLE.has((err as { code?: string }).code ?? '')) throw err;
          opts.onRetry?.(err, attempt);
          // Full jitter, growing to ~100 ms: racing replicas spread out instead of colliding again.
          await sleep(Math.random() * Math.min(100, 2 ** attempt));
        }
      }
    },
    changes,
    close: async () => {
      await changes.close();
      await db.destroy();
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
  };
}

/**
 * Kysely's PostgreSQL introspector (which the Migrator uses to find its tables) reads the
 * columns of every schema in the database and calls has_schema_privilege() on each: slow
 * with many schemas, and it fails with 3F000 when another session drops a schema during
 * the scan. The Migrator only needs table names, so look in the current schema alone.
 */
export class BerthPostgresDialect extends PostgresDialect {
  // biome-ignore lint/suspicious/noExplicitAny: Kysely's own signature; the introspector reads whatever schema is there
  override createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    const getTables = async (): Promise<TableMetadata[]> => {
      const r = await sql<{ name: string; schema: string; kind: string }>`
        select c.relname as name, n.nspname as schema, c.relkind as kind
        from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where n.nspname = current_schema() and c.relkind in ('r', 'v', 'p')`.execute(db);
      return r.rows.map((t) => ({ name: t.name, schema: t.schema, isView: t.kind === 'v', columns: [] }));
    };
    return {
      getSchemas: async () => (await sql<{ name: string }>`select nspname as name from pg_catalog.pg_namespace`.execute(db)).rows,
      getTables,
      getMetadata: async () => ({ tables: await getTables() }),
    };
  }
}

function toSafeNumber(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`BIGINT ${text} does not fit a JavaScript number`);
  return n;
}

/**
 * The pool as Kysely sees it, with two checks added. PostgreSQL answers COMMIT with
 * ROLLBACK (and no error) when a statement of the transaction failed. SQLite carries on
 * after a failed statement, so a transaction function that catches a database error
 * would silently lose its writes here; it gets an error instead. A server out of disk
 * space (SQLSTATE 53100) fails with the registry's StorageFullError, and one that cannot be
 * reached (refused, terminated, shutting down, pool wait over) with DependencyUnavailableError.
 */
function guardCommits(pool: pg.Pool): PostgresPool {
  const wrapped = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  return {
    async connect() {
      // A server that is down, restarting or out of connections: DependencyUnavailableError (503).
      const client = await pool.connect().catch(rethrowDatabaseDown);
      let w = wrapped.get(client);
      if (!w) {
        // A connection lost while checked out (between a transaction's statements) is emitted as
        // 'error' on the client, which the pool only listens for while it is idle: unheard, it would
        // crash the process. Its next query fails instead, and the pool drops it on release.
        client.on('error', () => {});
        w = {
          query: ((...args: unknown[]) => {
            const res = (client.query as (...a: unknown[]) => unknown)(...args);
            if (!(res instanceof Promise)) return res;
            const checked = res.catch((err: unknown) => {
              throw storageFull(err, 'database') ?? databaseUnavailable(err) ?? err;
            });
            if (args[0] !== 'commit') return checked;
            return (checked as Promise<pg.QueryResult>).then((r) => {
              if (r.command === 'ROLLBACK') throw new TransactionAbortedError();
              return r;
            });
          }) as PostgresPoolClient['query'],
          release: () => client.release(),
        };
        wrapped.set(client, w);
      }
      return w;
    },
    end: () => pool.end(),
  };
}
