// A StorageDriver that counts and times every call of another (metrics, app.ts wires it when they
// are on). It forwards every method; the optional ones exist exactly when the inner driver has them,
// so callers' feature checks (`driver.deleteMany`, `driver.redirectUrl`) answer as before.
import type { Readable } from 'node:stream';
import type { ByteRange, StorageDriver, StoredObject, StoredUpload } from './driver.js';

export interface StorageObserver {
  /** One call of `action` (the method's name) on `driver`, and whether it failed. */
  operation(driver: string, action: string, seconds: number, failed: boolean): void;
  /** Bytes stored (put, upload appends). */
  written(driver: string, bytes: number): void;
}

export function meteredStorage(inner: StorageDriver, observer: StorageObserver): StorageDriver {
  const driver = inner.name;
  async function timed<T>(action: string, call: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      const r = await call();
      observer.operation(driver, action, (performance.now() - start) / 1000, false);
      return r;
    } catch (err) {
      observer.operation(driver, action, (performance.now() - start) / 1000, true);
      throw err;
    }
  }
  /** A listing is one operation from the first page to the last (or to the caller's break). */
  async function* timedList<T>(action: string, list: () => AsyncIterable<T>): AsyncIterable<T> {
    const start = performance.now();
    let failed = false;
    try {
      yield* list();
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      observer.operation(driver, action, (performance.now() - start) / 1000, failed);
    }
  }
  const metered: StorageDriver = {
    get name() {
      return inner.name;
    },
    get minChunkLength() {
      return inner.minChunkLength;
    },
    stat: (key) => timed('stat', () => inner.stat(key)),
    read: (key: string, range?: ByteRange): Promise<Readable> => timed('read', () => inner.read(key, range)),
    put: async (key, body) => {
      await timed('put', () => inner.put(key, body));
      observer.written(driver, body.length);
    },
    delete: (key) => timed('delete', () => inner.delete(key)),
    list: (prefix): AsyncIterable<StoredObject> => timedList('list', () => inner.list(prefix)),
    listUploads: (): AsyncIterable<StoredUpload> => timedList('list_uploads', () => inner.listUploads()),
    removeDebris: (before, dryRun) => timed('remove_debris', () => inner.removeDebris(before, dryRun)),
    uploadCreate: (id) => timed('upload_create', () => inner.uploadCreate(id)),
    uploadAppend: async (id, offset, body, opts) => {
      const size = await timed('upload_append', () => inner.uploadAppend(id, offset, body, opts));
      observer.written(driver, size - offset);
      return size;
    },
    uploadSize: (id) => timed('upload_size', () => inner.uploadSize(id)),
    uploadRead: (id) => timed('upload_read', () => inner.uploadRead(id)),
    uploadPublish: (id) => timed('upload_publish', () => inner.uploadPublish(id)),
    uploadReadFrom: (id, range) => timed('upload_read_from', () => inner.uploadReadFrom(id, range)),
    uploadCommit: (id, key) => timed('upload_commit', () => inner.uploadCommit(id, key)),
    uploadAbort: (id) => timed('upload_abort', () => inner.uploadAbort(id)),
  };
  // The optional methods (deleteMany, redirectUrl, any added later): forwarded exactly when the inner
  // driver has them, timed under the method's name.
  for (const method of methodNames(inner)) {
    if (method in metered) continue;
    const fn = (inner as unknown as Record<string, (...args: unknown[]) => unknown>)[method];
    const action = method.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    (metered as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      const start = performance.now();
      const done = (failed: boolean) => observer.operation(driver, action, (performance.now() - start) / 1000, failed);
      let r: unknown;
      try {
        r = fn.apply(inner, args);
      } catch (err) {
        done(true);
        throw err;
      }
      if (!(r instanceof Promise)) {
        done(false);
        return r;
      }
      return r.then(
        (v) => {
          done(false);
          return v;
        },
        (err) => {
          done(true);
          throw err;
        },
      );
    };
  }
  return metered;
}

/** The methods an object has, own or inherited (classes keep theirs on the prototype). */
function methodNames(obj: object): Set<string> {
  const names = new Set<string>();
  for (let o: object | null = obj; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name !== 'constructor' && typeof (obj as Record<string, unknown>)[name] === 'function') names.add(name);
    }
  }
  return names;
}
