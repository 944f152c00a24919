// Filesystem storage driver. Objects are written to a temporary file, fsynced
// and renamed into place, so a crash never leaves a partial object visible.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FileReadStream } from './file-read-stream.js';
import { NotFoundError, OffsetMismatchError, type ByteRange, type StorageDriver } from './driver.js';

const KEY_RE = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;
const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const TMP_MARK = '.tmp-';

export class FilesystemDriver implements StorageDriver {
  readonly name = 'filesystem';
  readonly minChunkLength = 0;

  constructor(private readonly root: string) {}

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
    let fh;
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
    await mkdir(dirname(target), { recursive: true });
    const tmp = `${target}${TMP_MARK}${randomBytes(6).toString('hex')}`;
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
    await syncDir(dirname(target));
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async *list(prefix: string): AsyncIterable<string> {
    const base = join(this.root, prefix);
    let entries;
    try {
      entries = await readdir(base, { recursive: true, withFileTypes: true });
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    for (const e of entries) {
      if (!e.isFile() || e.name.includes(TMP_MARK)) continue;
      // Node 20 names the directory `parentPath` (newer) or `path` (older releases).
      const parent = (e as unknown as { parentPath?: string; path: string }).parentPath ?? e.path;
      yield relative(this.root, join(parent, e.name)).split(sep).join('/');
    }
  }

  async uploadCreate(id: string): Promise<void> {
    const file = this.uploadPath(id);
    await mkdir(dirname(file), { recursive: true });
    await (await open(file, 'wx', 0o644)).close();
  }

  async uploadAppend(id: string, offset: number, body: Readable): Promise<number> {
    const file = this.uploadPath(id);
    let fh;
    try {
      fh = await open(file, 'r+');
    } catch (err) {
      if (isNotFound(err)) throw new NotFoundError(`upload ${id}`);
      throw err;
    }
    let written = 0;
    try {
      const { size } = await fh.stat();
      if (size !== offset) throw new OffsetMismatchError(size, offset);
      // Through the FileHandle, not its raw fd: pipeline destroys `out` when the body fails, and a
      // raw-fd stream closes the fd on destroy even with autoClose: false. The fh.close() below
      // would then close the number a second time, by then possibly reused by another socket or
      // file (libuv aborts the process on that). The stream owns the handle (autoClose: a
      // FileHandle stream that never closes holds a ref, and fh.close() would wait forever);
      // FileHandle closes are idempotent, so the close below is only for the early-throw paths.
      const out = fh.createWriteStream({ start: offset, highWaterMark: 1024 * 1024 });
      body.on('data', (chunk: Buffer) => {
        written += chunk.length;
      });
      await pipeline(body, out);
    } finally {
      await fh.close();
    }
    return offset + written;
  }

  async uploadSize(id: string): Promise<number | null> {
    try {
      return (await stat(this.uploadPath(id))).size;
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

  async uploadCommit(id: string, key: string): Promise<void> {
    const file = this.uploadPath(id);
    const target = this.path(key);
    const fh = await open(file, 'r+');
    try {
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await mkdir(dirname(target), { recursive: true });
    // Content-addressed: if the object already exists it holds the same bytes.
    await rename(file, target);
    await syncDir(dirname(target));
    await rm(dirname(file), { recursive: true, force: true });
  }

  async uploadAbort(id: string): Promise<void> {
    await rm(dirname(this.uploadPath(id)), { recursive: true, force: true });
  }

  private path(key: string): string {
    if (!KEY_RE.test(key) || key.split('/').some((p) => p === '..' || p === '.')) {
      throw new Error(`storage: invalid key "${key}"`);
    }
    return join(this.root, key);
  }

  private uploadPath(id: string): string {
    if (!ID_RE.test(id)) throw new Error(`storage: invalid upload id "${id}"`);
    return join(this.root, 'uploads', id, 'data');
  }
}

async function syncDir(dir: string): Promise<void> {
  // fsync on the directory makes the rename itself durable.
  let fh;
  try {
    fh = await open(dir, constants.O_RDONLY);
    await fh.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the data itself is synced.
  } finally {
    await fh?.close();
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT' || (err as NodeJS.ErrnoException)?.code === 'ENOTDIR';
}
