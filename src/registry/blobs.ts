// Reading, deleting and mounting blobs. A repository sees only the blobs it
// uploaded, mounted or references; the bytes themselves are shared.
import type { Readable } from 'node:stream';
import { RegistryError } from '../errors/catalog.js';
import type { BlobGuard } from '../gc/blob-guard.js';
import type { RegistryStore } from '../metadata/registry-store.js';
import type { Digest } from '../oci/digest.js';
import { NotFoundError, type ByteRange, type StorageDriver } from '../storage/driver.js';
import { blobKey } from '../storage/layout.js';
import type { LookupCache } from './lookup-cache.js';

/** Manifests named in a refused blob delete. */
const MAX_USERS = 10;

export class BlobService {
  constructor(
    private readonly storage: StorageDriver,
    private readonly store: RegistryStore,
    private readonly guard: BlobGuard,
    private readonly now: () => number = Date.now,
    /** Pulls' lookups, remembered until the database changes (lookup-cache.ts); none: always the database. */
    private readonly lookups: Pick<LookupCache, 'readableBlob'> = store,
  ) {}

  /**
   * Size of a blob the repository may read (HEAD, GET); BLOB_UNKNOWN otherwise, also while
   * garbage collection deletes it (the client then uploads it again). Using a candidate for
   * collection keeps it (BlobGuard.used).
   */
  async size(repository: string, digest: Digest): Promise<number> {
    const blob = await this.lookups.readableBlob(repository, digest.value);
    if (blob === null || !(await this.guard.used(blob, digest.value))) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: digest.value } });
    return blob.size;
  }

  /** The size of the blob's bytes in storage, or null when they are not there (no database involved). */
  async storedSize(digest: Digest): Promise<number | null> {
    return (await this.storage.stat(blobKey(digest)))?.size ?? null;
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    try {
      return await this.storage.read(blobKey(digest), range);
    } catch (err) {
      // The database says it exists but the bytes are gone: report it rather than crash.
      if (err instanceof NotFoundError) throw new RegistryError('BLOB_UNKNOWN', 'blob content is missing from storage', { detail: { digest: digest.value } });
      throw err;
    }
  }

  /** A URL the client may GET the blob from directly (presigned S3), or null to serve it here. */
  async redirectUrl(digest: Digest): Promise<string | null> {
    return (await this.storage.redirectUrl?.(blobKey(digest))) ?? null;
  }

  /**
   * Removes the repository's link to the blob; the bytes go when garbage collection finds them
   * unused. Refused (409 DENIED) while a manifest of the repository references the blob: every
   * manifest, tagged or not, can be pulled by digest and would lose a layer or its config.
   *
   * The check and the unlink are one transaction, as are a manifest PUT's "every blob is
   * readable here" check and its insert, so a PUT racing this DELETE cannot both succeed:
   * SQLite runs one writer at a time, and on PostgreSQL the two transactions read what the
   * other writes, so SERIALIZABLE aborts one and its retry sees the other's outcome.
   */
  async delete(repository: string, digest: Digest): Promise<void> {
    const users = await this.store.meta.transaction(async (tx): Promise<string[] | null> => {
      const repoId = await this.store.repositoryId(repository, tx);
      if (repoId === null || !(await this.store.blobLinked(tx, repoId, digest.value))) return null;
      const using = await this.store.manifestsUsingBlob(tx, repoId, digest.value, MAX_USERS);
      if (using.length === 0) await this.store.unlinkBlob(tx, repoId, digest.value, this.now());
      return using;
    });
    if (users === null) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: digest.value } });
    if (users.length > 0) {
      const others = users.length > 1 ? ` and ${users.length - 1}${users.length === MAX_USERS ? '+' : ''} more` : '';
      throw new RegistryError('DENIED', `blob ${digest.value} is in use by manifest ${users[0]}${others} in this repository; delete the manifests first`, {
        status: 409,
        detail: { digest: digest.value, manifests: users },
      });
    }
  }

  /**
   * Links a blob from `from` into `repository` when `from` may read it.
   * Returns false when the mount is not possible (the caller then starts an upload).
   */
  async mount(repository: string, from: string, digest: Digest): Promise<boolean> {
    if ((await this.store.repositoryBlobSize(from, digest.value)) === null) return false;
    const now = this.now();
    // The source is checked again in the transaction that links: garbage collection may have
    // begun deleting the blob since (then the client uploads it).
    return this.store.meta.transaction(async (tx) => {
      if ((await this.store.repositoryBlobSize(from, digest.value, tx)) === null) return false;
      const repoId = await this.store.ensureRepository(tx, repository, now);
      await this.store.linkBlob(tx, repoId, digest.value, now);
      // Linked but unused until a manifest references it: reviewed after the delay.
      await this.store.queueBlobReview(tx, [digest.value], this.guard.reviewAt(now));
      return true;
    });
  }
}
