// Out of space: the one error for a full disk, a quota or a full database, whatever said so.
// Storage drivers and the metadata layer turn their own signals into it (storageFull below);
// src/http/error-response.ts answers 507 (OCI and REST code STORAGE_FULL) and logs `cause`.

/** Where space ran out. */
export type FullPart = 'storage' | 'database';

/**
 * The `code` of errors that mean a full filesystem, quota or database: Node's ENOSPC and EDQUOT,
 * better-sqlite3's SQLITE_FULL, PostgreSQL's SQLSTATE 53100 (disk_full).
 */
const FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL', '53100']);

/** S3 error names that mean the bucket or the cluster has no room (RGW and MinIO); HTTP 507 too. */
const FULL_S3_NAMES = new Set(['QuotaExceeded', 'XMinioStorageFull', 'InsufficientStorage']);

export class StorageFullError extends Error {
  /** The original error's code (ENOSPC, EDQUOT, SQLITE_FULL, 53100, an S3 error name), for logs. */
  readonly code: string;
  readonly part: FullPart;

  constructor(part: FullPart, code: string, cause: unknown) {
    super(`${part} is full: ${code} (${(cause as Error)?.message ?? String(cause)})`, { cause });
    this.name = 'StorageFullError';
    this.code = code;
    this.part = part;
  }
}

/** `err` as a StorageFullError when it says that space ran out, else null. */
export function storageFull(err: unknown, part: FullPart): StorageFullError | null {
  if (err instanceof StorageFullError) return err;
  const e = err as { code?: unknown; name?: unknown; $metadata?: { httpStatusCode?: number } } | null;
  if (!e || typeof e !== 'object') return null;
  if (typeof e.code === 'string' && FULL_CODES.has(e.code)) return new StorageFullError(part, e.code, err);
  if (typeof e.name === 'string' && FULL_S3_NAMES.has(e.name)) return new StorageFullError(part, e.name, err);
  if (e.$metadata?.httpStatusCode === 507) return new StorageFullError(part, typeof e.name === 'string' ? e.name : '507', err);
  return null;
}

/** Rethrows `err`, as a StorageFullError when it says that space ran out. */
export function rethrowFull(err: unknown, part: FullPart): never {
  throw storageFull(err, part) ?? err;
}

/** Runs `fn`; a rejection that says space ran out becomes a StorageFullError. */
export async function detectFull<T>(part: FullPart, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    rethrowFull(err, part);
  }
}
