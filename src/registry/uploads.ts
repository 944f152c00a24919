// Blob upload sessions: start, append (streamed or chunked), status, commit, cancel.
// The session lives in the database and storage, so it survives restarts and can
// move between replicas; the running hash is only an in-process shortcut.
import { randomUUID, type Hash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { RegistryError } from '../errors/catalog.js';
import type { BlobGuard } from '../gc/blob-guard.js';
import type { RegistryStore } from '../metadata/registry-store.js';
import { newHasher, type Digest } from '../oci/digest.js';
import type { ByteRange } from '../oci/range.js';
import { NotFoundError, OffsetMismatchError, type StorageDriver } from '../storage/driver.js';
import { blobKey } from '../storage/layout.js';
import type { QuotaService } from './quotas.js';

interface HashState {
  hash: Hash;
  offset: number;
}

const MAX_HASH_STATES = 10_000;
/** How long a writer's claim on a session holds without renewal (see claim()). */
const LEASE_MS = 15_000;

export class UploadService {
  /** Running sha256 of uploads this process has seen from byte 0; safe to lose. */
  private readonly hashes = new Map<string, HashState>();

  constructor(
    private readonly storage: StorageDriver,
    private readonly store: RegistryStore,
    private readonly guard: BlobGuard,
    private readonly now: () => number = Date.now,
    private readonly quotas: Pick<QuotaService, 'admitBlob'> | null = null,
  ) {}

  get minChunkLength(): number {
    return this.storage.minChunkLength;
  }

  async start(repository: string): Promise<string> {
    const id = randomUUID();
    await this.storage.uploadCreate(id);
    const now = this.now();
    try {
      await this.store.meta.transaction(
        async (tx) => {
          const repoId = await this.store.ensureRepository(tx, repository, now);
          await this.store.createUpload(tx, id, repoId, now);
        },
        { durable: false },
      );
    } catch (err) {
      // No session row (a full database, say): nothing will ever purge these bytes.
      await this.storage.uploadAbort(id).catch(() => {});
      throw err;
    }
    this.remember(id, { hash: newHasher('sha256'), offset: 0 });
    return id;
  }

  /** Bytes received so far. */
  async status(repository: string, id: string): Promise<number> {
    await this.requireSession(repository, id);
    const size = await this.storage.uploadSize(id);
    if (size === null) throw unknownUpload();
    return size;
  }

  /**
   * Appends a request body. With `range` (a chunked PATCH's Content-Range) the
   * chunk must start where the upload ends; `length` is the declared Content-Length.
   */
  async append(repository: string, id: string, body: Readable, range?: ByteRange, length?: number): Promise<number> {
    const { token } = await this.claim(repository, id);
    try {
      return await this.write(id, token, body, range, length);
    } finally {
      await this.store.releaseUpload(id, token, this.now());
    }
  }

  /**
   * Makes this request the session's only writer, on every replica, for LEASE_MS at a time (renewed while
   * the body streams). A second request meanwhile gets 416 and the session's size, as an out-of-order
   * chunk would; a claim whose holder died expires.
   */
  private async claim(repository: string, id: string): Promise<{ token: string; repositoryId: number }> {
    const token = randomUUID();
    const now = this.now();
    const claimed = await this.store.claimUpload(repository, id, token, now, now + LEASE_MS);
    if (claimed === null) throw unknownUpload();
    if (!claimed) {
      const size = (await this.storage.uploadSize(id)) ?? 0;
      throw new RegistryError('RANGE_INVALID', 'another request is writing to this upload', { detail: { size } });
    }
    return { token, repositoryId: claimed.repositoryId };
  }

  /** Streams a body onto the upload, feeding the running hash; resolves to the new size. */
  private async write(id: string, token: string, body: Readable, range?: ByteRange, length?: number, sync = false): Promise<number> {
    const offset = await this.storage.uploadSize(id);
    if (offset === null) throw unknownUpload();
    if (range) {
      if (range.start !== offset) {
        throw new RegistryError('RANGE_INVALID', `chunk starts at ${range.start}, upload has ${offset} bytes`, { detail: { size: offset } });
      }
      if (length !== undefined && range.end - range.start + 1 !== length) {
        throw new RegistryError('RANGE_INVALID', 'Content-Range does not match Content-Length', { detail: { size: offset } });
      }
    }
    // Take the hash state out while we write: a write that fails leaves none behind.
    const state = this.hashes.get(id);
    this.hashes.delete(id);
    // From byte 0 any process can hash: a monolithic PUT need not reach the process that took the POST.
    const hash = state && state.offset === offset ? state.hash : offset === 0 ? newHasher('sha256') : undefined;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash?.update(chunk);
        cb(null, chunk);
      },
    });
    // A client that disconnected while we awaited above: the request was destroyed with no
    // 'error' listener, so nothing was emitted and piping it would wait forever.
    if (body.destroyed && !body.readableEnded) throw new RegistryError('BLOB_UPLOAD_INVALID', 'request body ended early');
    // Storage attaches its own listeners only after some awaits; until then an abort
    // forwarded to `tap` would be an uncaught 'error' that takes the process down.
    tap.on('error', () => {});
    body.on('error', (err) => tap.destroy(err));
    body.pipe(tap);
    // Keep the claim while the body streams; if it was lost (this process stalled past LEASE_MS and another
    // request took the session), stop writing.
    const renew = setInterval(() => {
      this.store.renewUpload(id, token, this.now() + LEASE_MS).then(
        (held) => held || tap.destroy(new RegistryError('BLOB_UPLOAD_INVALID', 'the upload was taken over by another request')),
        () => {},
      );
    }, LEASE_MS / 3);
    renew.unref();
    let size: number;
    try {
      size = await this.storage.uploadAppend(id, offset, tap, { sync });
    } catch (err) {
      if (err instanceof OffsetMismatchError) throw new RegistryError('RANGE_INVALID', 'concurrent write to the upload', { detail: { size: err.expected } });
      if (err instanceof NotFoundError) throw unknownUpload();
      throw err;
    } finally {
      clearInterval(renew);
    }
    if (range && size !== range.end + 1) {
      // The body ended early; the received bytes stay and the client can resume from `size`.
      throw new RegistryError('SIZE_INVALID', 'chunk shorter than its Content-Range', { detail: { size } });
    }
    if (hash) this.remember(id, { hash, offset: size });
    return size;
  }

  /** Verifies the digest and turns the upload into a blob the repository may read. */
  async commit(repository: string, id: string, digest: Digest, body?: Readable, range?: ByteRange, length?: number): Promise<number> {
    const { token, repositoryId } = await this.claim(repository, id);
    try {
      // A commit deletes the session row, and the claim with it.
      return await this.finish(repository, repositoryId, id, token, digest, body, range, length);
    } catch (err) {
      await this.store.releaseUpload(id, token, this.now());
      throw err;
    }
  }

  private async finish(
    repository: string,
    repositoryId: number,
    id: string,
    token: string,
    digest: Digest,
    body?: Readable,
    range?: ByteRange,
    length?: number,
  ): Promise<number> {
    const size = body ? await this.write(id, token, body, range, length, true) : await this.storage.uploadSize(id);
    if (size === null) throw unknownUpload();

    const actual = await this.computeDigest(id, size, digest);
    if (actual !== digest.hex) {
      await this.cancel(repository, id);
      throw new RegistryError('DIGEST_INVALID', undefined, { detail: { expected: digest.value } });
    }
    // A blob the namespace's quota has no room for: refused now, its bytes dropped.
    await this.quotas?.admitBlob(repository, digest.value, size).catch(async (err) => {
      await this.cancel(repository, id);
      throw err;
    });
    // Protected before the bytes are written: garbage collection leaves the digest alone
    // (or, when it is deleting it right now, finishes first and the bytes are written after).
    const protection = await this.guard.protect(digest.value, size);
    try {
      const key = blobKey(digest);
      if (await this.storage.stat(key)) await this.storage.uploadAbort(id);
      else await this.storage.uploadCommit(id, key);

      const now = this.now();
      await this.store.meta.transaction(async (tx) => {
        // The session row names the repository (claimed above); a session gone since (its repository
        // deleted) has nowhere to link the blob.
        if (!(await this.store.deleteUpload(tx, id))) throw unknownUpload();
        // The protection made the blob's row; released, it is live.
        await this.guard.release(tx, protection);
        await this.store.linkBlob(tx, repositoryId, digest.value, now);
        // A blob no manifest comes to use is collected after the delay.
        await this.store.queueBlobReview(tx, [digest.value], this.guard.reviewAt(now));
      });
    } catch (err) {
      await this.guard.abandon(protection);
      throw err;
    }
    this.hashes.delete(id);
    return size;
  }

  async cancel(repository: string, id: string): Promise<void> {
    await this.requireSession(repository, id);
    this.hashes.delete(id);
    await this.store.meta.transaction((tx) => this.store.deleteUpload(tx, id), { durable: false });
    await this.storage.uploadAbort(id);
  }

  /** Removes sessions idle since before `cutoff`; returns how many. */
  async purge(cutoff: number): Promise<number> {
    const ids = await this.store.staleUploads(cutoff, 1000);
    for (const id of ids) {
      this.hashes.delete(id);
      await this.store.meta.transaction((tx) => this.store.deleteUpload(tx, id));
      await this.storage.uploadAbort(id);
    }
    return ids.length;
  }

  private async computeDigest(id: string, size: number, digest: Digest): Promise<string> {
    const state = this.hashes.get(id);
    if (state && state.offset === size && digest.algorithm === 'sha256') {
      this.hashes.delete(id);
      return state.hash.digest('hex');
    }
    // No usable running hash (another replica, a restart, sha512): re-read the bytes.
    const hash = newHasher(digest.algorithm);
    for await (const chunk of await this.storage.uploadRead(id)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  private async requireSession(repository: string, id: string): Promise<void> {
    if (!(await this.store.uploadExists(repository, id))) throw unknownUpload();
  }

  private remember(id: string, state: HashState): void {
    if (this.hashes.size >= MAX_HASH_STATES) {
      const oldest = this.hashes.keys().next().value;
      if (oldest !== undefined) this.hashes.delete(oldest);
    }
    this.hashes.set(id, state);
  }
}

function unknownUpload(): RegistryError {
  return new RegistryError('BLOB_UPLOAD_UNKNOWN');
}
