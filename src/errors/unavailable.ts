// A dependency that does not answer: the one error for a database or an object store that is
// down, unreachable, restarting or out of connections. The metadata layer and the storage
// health state turn their own signals into it; src/http/error-response.ts answers 503
// (OCI UNAVAILABLE, REST UNAVAILABLE) with Retry-After, never 500, and logs `cause`.

export type DependencyPart = 'database' | 'storage';

/** Seconds a client is asked to wait (Retry-After) while a dependency is down. */
export const RETRY_AFTER_S: Record<DependencyPart, number> = { database: 5, storage: 5 };

export class DependencyUnavailableError extends Error {
  /** The original error's code (ECONNREFUSED, 57P01, SQLITE_BUSY, timeout…), for logs. */
  readonly code: string;
  readonly part: DependencyPart;

  constructor(part: DependencyPart, code: string, cause: unknown) {
    super(`${part} unavailable: ${code} (${(cause as Error)?.message ?? String(cause)})`, { cause });
    this.name = 'DependencyUnavailableError';
    this.code = code;
    this.part = part;
  }
}

/** Node's socket errors: the peer refused, reset, could not be reached or resolved. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED']);

/**
 * PostgreSQL SQLSTATEs of a server that is not there for us: class 08 (connection exception),
 * 57P01-57P03 (admin or crash shutdown, cannot connect now: starting up, shutting down,
 * recovering), 53300 (too many connections).
 */
const PG_DOWN = /^(08[0-9A-Z]{3}|57P0[1-3]|53300)$/;

/** Errors node-postgres and its pool raise without a code. */
const PG_DOWN_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Query read timeout',
  'Connection terminated due to connection timeout',
];

/** The code under which `err` says the database is unreachable, or null for any other error. */
function databaseDownCode(err: unknown): string | null {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return null;
  if (typeof e.code === 'string') {
    if (SOCKET_CODES.has(e.code) || PG_DOWN.test(e.code)) return e.code;
    // SQLite: another process holds the write lock beyond busy_timeout (10 s).
    if (e.code === 'SQLITE_BUSY' || e.code.startsWith('SQLITE_BUSY_')) return e.code;
  }
  const message = typeof e.message === 'string' ? e.message : '';
  if (PG_DOWN_MESSAGES.some((m) => message.startsWith(m))) return 'connection';
  return null;
}

/** `err` as a DependencyUnavailableError('database') when it says the database cannot be reached, else null. */
export function databaseUnavailable(err: unknown): DependencyUnavailableError | null {
  if (err instanceof DependencyUnavailableError) return err;
  const code = databaseDownCode(err);
  return code === null ? null : new DependencyUnavailableError('database', code, err);
}

/** Rethrows `err`, as a DependencyUnavailableError when it says the database cannot be reached. */
export function rethrowDatabaseDown(err: unknown): never {
  throw databaseUnavailable(err) ?? err;
}

/** The AWS SDK's names for a request that never got an answer, and S3 answers that mean "later". */
const S3_DOWN_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'ServiceUnavailable', 'SlowDown', 'InternalError', 'RequestTimeTooSkewed']);

/** `err` as a DependencyUnavailableError('storage') when it says the object store cannot be reached or is failing, else null. */
export function storageUnavailable(err: unknown): DependencyUnavailableError | null {
  if (err instanceof DependencyUnavailableError) return err.part === 'storage' ? err : null;
  const e = err as { code?: unknown; name?: unknown; $metadata?: { httpStatusCode?: number } } | null;
  if (!e || typeof e !== 'object') return null;
  if (typeof e.code === 'string' && SOCKET_CODES.has(e.code)) return new DependencyUnavailableError('storage', e.code, err);
  if (typeof e.name === 'string' && S3_DOWN_NAMES.has(e.name)) return new DependencyUnavailableError('storage', e.name, err);
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500 && status !== 507 && status !== 501) return new DependencyUnavailableError('storage', String(status), err);
  return null;
}
