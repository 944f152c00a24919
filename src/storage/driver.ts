// The storage driver contract: a dumb, content-agnostic byte store. Keys come
// from storage/layout.ts only. Every driver passes test/storage/driver-suite.ts.
import type { Readable } from 'node:stream';

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/** An object found by listing storage. */
export interface StoredObject {
  key: string;
  size: number;
  /** When the object was last written or moved into place (ms since the epoch, the backend's clock). */
  modified: number;
}

/** An upload session's bytes found in storage, whatever the database says about it. */
export interface StoredUpload {
  id: string;
  /** When the session was last written (ms since the epoch, the backend's clock). */
  modified: number;
}

export interface StorageDriver {
  readonly name: string;
  /** Smallest PATCH chunk (except the last) the driver can append efficiently; 0 = any. */
  readonly minChunkLength: number;

  /** Size of a stored object, or null when absent. */
  stat(key: string): Promise<{ size: number } | null>;
  /** Streams an object, or the inclusive byte range of it. Rejects with NotFoundError. */
  read(key: string, range?: ByteRange): Promise<Readable>;
  /** Atomically stores a whole object: readers see the old state or all of the new bytes. */
  put(key: string, body: Buffer): Promise<void>;
  /** Removes an object; absent objects are not an error. */
  delete(key: string): Promise<void>;
  /**
   * Lists the objects under a prefix, with sizes and times, in no particular order (garbage collection, import).
   * Streams: one page or directory at a time is held, never the whole listing. Upload sessions are not objects.
   */
  list(prefix: string): AsyncIterable<StoredObject>;
  /** Removes several objects in as few requests as the backend allows (optional; else delete() each). */
  deleteMany?(keys: readonly string[]): Promise<void>;
  /**
   * Lists the upload sessions held in storage (the leftover sweep compares them with the database's rows).
   * An id may appear more than once; streams like list().
   */
  listUploads(): AsyncIterable<StoredUpload>;
  /**
   * Removes the driver's own debris last written before `before` (ms): what a crash leaves inside a write
   * that is not an upload session (the filesystem's temporary files of put(); S3 multipart uploads of a
   * commit's copy). With `dryRun` only counts. Resolves to how many pieces and bytes (where known).
   */
  removeDebris(before: number, dryRun?: boolean): Promise<{ pieces: number; bytes: number }>;
  /**
   * Places a local file at `key` without copying its bytes (`berth import --link` / `--move`): a hard link
   * or a rename, durable when it resolves (the file's data and the directory entry fsynced). The file must
   * hold the key's bytes (the caller verified them). Only drivers on a local filesystem have it; rejects
   * with an EXDEV error when the file is on another filesystem.
   */
  adoptFile?(path: string, key: string, how: 'link' | 'move'): Promise<void>;
  /** A URL clients may GET the object from directly (presigned), or null; absent = never redirect. */
  redirectUrl?(key: string): Promise<string | null>;

  /** Upload sessions: append-only byte sequences that later become objects. */
  uploadCreate(id: string): Promise<void>;
  /**
   * Appends a stream at `offset` (which must equal the current size); resolves to the new size.
   * `sync`: the caller will commit next, so the driver may make the bytes durable now
   * (uploadCommit must still be durable either way).
   */
  uploadAppend(id: string, offset: number, body: Readable, opts?: { sync?: boolean }): Promise<number>;
  /** Current size of an upload, or null when it does not exist. */
  uploadSize(id: string): Promise<number | null>;
  /** Streams an upload's bytes so far (to hash them when no hash state survived). */
  uploadRead(id: string): Promise<Readable>;
  /**
   * Makes the bytes appended so far readable by every process with uploadReadFrom, until the session is
   * committed or aborted; resolves to how many there are. Only the session's one writer calls it, between
   * appends (a blob fetched from an upstream registry is read by other clients while it arrives).
   * Rejects with NotFoundError when the session does not exist.
   */
  uploadPublish(id: string): Promise<number>;
  /**
   * Streams the inclusive byte range of an upload's published bytes. Rejects with NotFoundError when the
   * session is gone (committed or aborted), and with another error when the range is not readable (yet).
   */
  uploadReadFrom(id: string, range: ByteRange): Promise<Readable>;
  /** Durably turns an upload into the object `key` and removes the session. */
  uploadCommit(id: string, key: string): Promise<void>;
  /** Removes an upload session; absent sessions are not an error. */
  uploadAbort(id: string): Promise<void>;
}

export class NotFoundError extends Error {
  constructor(key: string) {
    super(`storage: ${key} not found`);
    this.name = 'NotFoundError';
  }
}

/** An append whose offset did not match the upload's size. */
export class OffsetMismatchError extends Error {
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`storage: append at ${actual}, upload size is ${expected}`);
    this.name = 'OffsetMismatchError';
  }
}
