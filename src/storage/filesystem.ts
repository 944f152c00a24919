// Filesystem storage driver. Objects are written to a temporary file, fsynced
// and renamed into place, so a crash never leaves a partial object visible.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { constants } from 'node:fs';
import type { Dir, Stats } from 'node:fs';
import { link, mkdir, open, opendir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { detectFull, storageFull } from '../errors/storage-full.js';
import { acquireStages, DirectWriter } from './direct-writer.js';
import { FileReadStream } from './file-read-stream.js';
import { isNotFound, walkFiles } from './file-tree.js';
import { NotFoundError, OffsetMismatchError, type ByteRange, type StorageDriver, type StoredObject, type StoredUpload } from './driver.js';

const KEY_RE = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;
const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** A listing prefix: whole path segments, ending in '/'. */
const PREFIX_RE = /^([a-z0-9][a-z0-9._-]*\/)+$/;
const TMP_MARK = '.tmp-';
/** Upload bytes are gathered into writes of at least this size. */
const WRITE_BATCH = 1024 * 1024;

export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  readonly minChunkLength = 0;
  /** Uploads whose bytes this process appended and fdatasynced, with no append since. */
  private readonly synced = new Set<string>();

  /** Upload bytes bypass the page cache (see direct-writer.ts); off where the filesystem refuses O_DIRECT. */
  private directio: boolean;

  constructor(
    private readonly root: string,
    opts: { directio?: boolean } = {},
  ) {
    this.directio = (opts.directio ?? true) && constants.O_DIRECT !== undefined;
  }

  async stat(key: string): Promise<{ size: number } | null> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { size: s.size } : null;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    let fh: FileHandle;
    try {
      fh = await open(this.path(key), constants.O_RDONLY);
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(key);
      throw err;
    }
    try {
      const { size } = await fh.stat();
      return new FileReadStream(fh, range?.start ?? 0, range ? Math.min(range.end + 1, size) : size);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async put(key: string, body: Buffer): Promise<void> {
    const target = this.path(key);
    const tmp = `${target}${TMP_MARK}${randomBytes(6).toString('hex')}`;
    await detectFull('storage', async () => {
      const fh = await withParentDir(tmp, () => open(tmp, 'w', 0o644));
      try {
        try {
          await fh.writeFile(body);
          await fh.datasync();
        } finally {
          await fh.close();
        }
        await rename(tmp, target);
      } catch (err) {
        await rm(tmp, { force: true }).catch(() => {}); // a full disk keeps no half-written object
        throw err;
      }
      await syncDir(dirname(target));
    });
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    if (prefix !== '' && !PREFIX_RE.test(prefix)) throw new Error(`storage: invalid prefix "${prefix}"`);
    for await (const files of walkFiles(join(this.root, prefix))) {
      // One directory's page of files stat'ed at once: the thread pool works on them together.
      const stats = await Promise.all(files.map((f) => (f.includes(TMP_MARK) ? null : statIfPresent(f))));
      for (const [i, s] of stats.entries()) {
        if (s?.isFile()) yield { key: relative(this.root, files[i]).split(sep).join('/'), size: s.size, modified: changed(s) };
      }
    }
  }

  /** Unlinks up to 32 objects at a time (a directory entry each; there is no batch call). */
  async deleteMany(keys: readonly string[]): Promise<void> {
    const paths = keys.map((k) => this.path(k));
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < paths.length) {
        await unlink(paths[next++]).catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(32, paths.length) }, worker));
  }

  /** A hard link or rename of a verified local file into place (import); the source may never have been fsynced. */
  async adoptFile(path: string, key: string, how: 'link' | 'move'): Promise<void> {
    const target = this.path(key);
    await detectFull('storage', async () => {
      const fh = await open(path, 'r');
      try {
        await fh.datasync();
      } finally {
        await fh.close();
      }
      if (how === 'move') {
        await withParentDir(target, () => rename(path, target));
        await syncDir(dirname(path));
      } else {
        // Content-addressed: an object already there holds the same bytes.
        await withParentDir(target, () => link(path, target)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
        });
      }
      await syncDir(dirname(target));
    });
  }

  /** put()'s temporary files under blobs/ (a crash between writing one and its rename). */
  async removeDebris(before: number, dryRun = false): Promise<{ pieces: number; bytes: number }> {
    const found = { pieces: 0, bytes: 0 };
    for await (const files of walkFiles(join(this.root, 'blobs'))) {
      const tmp = files.filter((f) => f.includes(TMP_MARK));
      for (const f of tmp) {
        const s = await statIfPresent(f);
        // The mtime: a temporary file is written, never renamed onto, until it is renamed away.
        if (!s?.isFile() || s.mtimeMs >= before) continue;
        if (!dryRun) await rm(f, { force: true });
        found.pieces++;
        found.bytes += s.size;
      }
    }
    return found;
  }

  async *listUploads(): AsyncIterable<StoredUpload> {
    let dir: Dir;
    try {
      dir = await opendir(join(this.root, 'uploads'), { bufferSize: 256 });
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    for await (const e of dir) {
      if (!ID_RE.test(e.name)) continue;
      // A directory is a session of an earlier version (uploads/<id>/data): its data file holds the last write.
      const s = (await statIfPresent(join(dir.path, e.name, 'data'))) ?? (await statIfPresent(join(dir.path, e.name)));
      if (s) yield { id: e.name, modified: changed(s) };
    }
  }

  async uploadCreate(id: string): Promise<void> {
    const file = this.uploadPath(id);
    await detectFull('storage', async () => (await withParentDir(file, () => open(file, 'wx', 0o644))).close());
  }

  async uploadAppend(id: string, offset: number, body: Readable, opts?: { sync?: boolean }): Promise<number> {
    const file = this.uploadPath(id);
    this.synced.delete(id);
    let fh: FileHandle;
    try {
      fh = await open(file, 'r+');
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(`upload ${id}`);
      throw err;
    }
    try {
      const { size } = await fh.stat();
      if (size !== offset) throw new OffsetMismatchError(size, offset);
      // Through the FileHandle, never its raw fd (a raw-fd stream closes the fd on destroy, and
      // the close below would then close a number possibly reused by then). The writer never
      // closes the handle; FileHandle.close waits for writes still in flight.
      const stages = this.directio ? acquireStages() : null;
      const out = stages ? new DirectWriter(fh, () => this.openDirect(file), offset, stages) : new BatchWriter(fh, offset);
      try {
        await pipeline(body, out);
      } finally {
        // A failed pipeline may settle before the writer has flushed what arrived; the handle stays open till then.
        if (!out.closed) await once(out, 'close');
      }
      if (opts?.sync) {
        await fh.datasync();
        this.synced.add(id);
      }
      return offset + out.written;
    } catch (err) {
      const full = storageFull(err, 'storage');
      if (!full) throw err;
      // Out of space: undo this append, so a full disk does not fill up further with partial
      // uploads. The upload is as it was; the client may send the chunk again.
      await fh.truncate(offset).catch(() => {});
      throw full;
    } finally {
      await fh.close();
    }
  }

  async uploadSize(id: string): Promise<number | null> {
    try {
      const s = await stat(this.uploadPath(id));
      // A directory is a session of an earlier version (uploads/<id>/data): restart it.
      return s.isFile() ? s.size : null;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async uploadRead(id: string): Promise<Readable> {
    try {
      const fh = await open(this.uploadPath(id), constants.O_RDONLY);
      return fh.createReadStream({ highWaterMark: 1024 * 1024 });
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(`upload ${id}`);
      throw err;
    }
  }

  /** Appended bytes are in the file, and readable, once uploadAppend resolves. */
  async uploadPublish(id: string): Promise<number> {
    const size = await this.uploadSize(id);
    if (size === null) throw new NotFoundError(`upload ${id}`);
    return size;
  }

  async uploadReadFrom(id: string, range: ByteRange): Promise<Readable> {
    let fh: FileHandle;
    try {
      fh = await open(this.uploadPath(id), constants.O_RDONLY);
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(`upload ${id}`);
      throw err;
    }
    try {
      const { size } = await fh.stat();
      if (range.end >= size) throw new Error(`storage: upload ${id} has ${size} bytes, not ${range.end + 1}`);
      // A commit renames the file into place: the open handle reads on whatever its name.
      return new FileReadStream(fh, range.start, range.end + 1);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  async uploadCommit(id: string, key: string): Promise<void> {
    const file = this.uploadPath(id);
    const target = this.path(key);
    await detectFull('storage', async () => {
      // Bytes this process appended with `sync` and nobody appended since are on disk already.
      if (!this.synced.delete(id)) {
        const fh = await open(file, 'r+');
        try {
          await fh.datasync();
        } finally {
          await fh.close();
        }
      }
      // Content-addressed: if the object already exists it holds the same bytes.
      await withParentDir(target, () => rename(file, target));
      await syncDir(dirname(target));
    });
  }

  async uploadAbort(id: string): Promise<void> {
    this.synced.delete(id);
    // Recursive: sessions of earlier versions kept their bytes in a directory, uploads/<id>/data.
    await rm(this.uploadPath(id), { recursive: true, force: true });
  }

  /** A second, O_DIRECT handle on an upload file; null (and direct I/O off) where unsupported. */
  private async openDirect(file: string): Promise<FileHandle | null> {
    try {
      return await open(file, constants.O_WRONLY | constants.O_DIRECT);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      this.directio = false; // tmpfs and some network filesystems
      return null;
    }
  }

  private path(key: string): string {
    if (!KEY_RE.test(key) || key.split('/').some((p) => p === '..' || p === '.')) {
      throw new Error(`storage: invalid key "${key}"`);
    }
    return join(this.root, key);
  }

  private uploadPath(id: string): string {
    if (!ID_RE.test(id)) throw new Error(`storage: invalid upload id "${id}"`);
    return join(this.root, 'uploads', id);
  }
}

/** Runs `fn` (which creates `file`), creating the parent directory first if it is missing. */
async function withParentDir<T>(file: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await mkdir(dirname(file), { recursive: true });
    return fn();
  }
}

/**
 * Writes a stream to a FileHandle from `position` on, in writes of about WRITE_BATCH bytes
 * (a socket delivers 64 KiB at a time): a tenth of the write system calls and thread-pool
 * round trips. Bytes received before a failure are still written.
 */
class BatchWriter extends Writable {
  written = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly fh: FileHandle,
    private position: number,
  ) {
    super({ highWaterMark: 2 * WRITE_BATCH });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.add(chunk);
    if (this.pendingBytes >= WRITE_BATCH) this.flush().then(() => cb(), cb);
    else cb();
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    for (const { chunk } of chunks) this.add(chunk);
    if (this.pendingBytes >= WRITE_BATCH) this.flush().then(() => cb(), cb);
    else cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.flush().then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Keep what arrived: a client resuming a chunked upload asks where it ended.
    this.flush().then(
      () => cb(err),
      () => cb(err),
    );
  }

  private add(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  /** Flushes run one after another: _destroy may call flush while a _write's flush is in flight. */
  private flush(): Promise<void> {
    const next = this.flushing.then(() => this.flushNow());
    this.flushing = next.catch(() => {});
    return next;
  }

  private async flushNow(): Promise<void> {
    let bufs = this.pending;
    let bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    while (bytes > 0) {
      const { bytesWritten } = await this.fh.writev(bufs, this.position);
      this.position += bytesWritten;
      this.written += bytesWritten;
      bytes -= bytesWritten;
      if (bytes > 0) bufs = [Buffer.concat(bufs).subarray(bytesWritten)];
    }
  }
}

async function statIfPresent(path: string): Promise<Stats | null> {
  try {
    return await stat(path);
  } catch (err) {
    if (isNotFound(err)) return null; // removed since the directory was read
    throw err;
  }
}

/**
 * When a file last changed at its path: a commit renames an upload file into place, and rename keeps the
 * mtime of the last append but sets the ctime, so the later of the two is when the object appeared.
 */
function changed(s: Stats): number {
  return Math.floor(Math.max(s.mtimeMs, s.ctimeMs));
}

async function syncDir(dir: string): Promise<void> {
  // fsync on the directory makes the rename itself durable.
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, constants.O_RDONLY);
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the data itself is synced.
  } finally {
    await fh?.close();
  }
}
