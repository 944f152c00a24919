// One "replica" of the blob fetch for the tests: its own metadata connection, storage driver, stores,
// guard and BlobFetcher over a shared database and storage, as a Berth process has them. The tests run
// several in one process (test/mirror/fetch.test.ts) or each in its own (fetch-worker.ts).
import type { S3Config } from '../../src/config/index.js';
import { BlobGuard } from '../../src/gc/blob-guard.js';
import { openSqlite, type MetadataDb } from '../../src/metadata/database.js';
import { GcStore } from '../../src/metadata/gc-store.js';
import { openPostgres } from '../../src/metadata/postgres.js';
import { RegistryStore } from '../../src/metadata/registry-store.js';
import { BlobFetcher, type FetchSettings } from '../../src/mirror/blob-fetch.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { FilesystemDriver } from '../../src/storage/filesystem.js';

export interface ReplicaOptions {
  /** A PostgreSQL URL, or a SQLite file. */
  db: { postgres: string } | { sqlite: string };
  storage: { filesystem: string } | { s3: S3Config };
  settings?: Partial<FetchSettings>;
}

export interface Replica {
  fetcher: BlobFetcher;
  meta: MetadataDb;
  storage: StorageDriver;
  store: RegistryStore;
  warnings: unknown[];
  close(): Promise<void>;
}

export async function openReplica(o: ReplicaOptions): Promise<Replica> {
  const meta = 'postgres' in o.db ? await openPostgres(o.db.postgres, 8) : await openSqlite(o.db.sqlite);
  let storage: StorageDriver;
  if ('s3' in o.storage) {
    const { S3Driver } = await import('../../src/storage/s3.js');
    storage = new S3Driver(o.storage.s3);
  } else {
    storage = new FilesystemDriver(o.storage.filesystem);
  }
  const store = new RegistryStore(meta);
  const guard = new BlobGuard(new GcStore(meta), 0, Date.now);
  const warnings: unknown[] = [];
  const fetcher = new BlobFetcher({
    storage,
    meta,
    store,
    guard,
    now: Date.now,
    log: { warn: (obj) => void warnings.push(obj) },
    settings: o.settings,
  });
  return { fetcher, meta, storage, store, warnings, close: () => meta.close() };
}
