// The one download of a blob, in the process that holds its claim (mirror/blob-fetch.ts): the upstream's
// body is hashed, handed to this process's readers as it arrives (a live feed each, bounded), and
// appended to an upload session in batches; after each batch the bytes are published (readable by every
// replica) and the count recorded in the claim row. Once the body is complete and its digest verified,
// the session becomes the blob and the blob is recorded, linked and the claim released in one
// transaction. Any failure aborts the session and deletes the claim: nothing is stored.
import { Readable } from 'node:stream';
import type { BlobGuard } from '../gc/blob-guard.js';
import type { MirrorFetchStore } from '../metadata/mirror-fetch-store.js';
import type { RegistryStore } from '../metadata/registry-store.js';
import { newHasher, type Digest } from '../oci/digest.js';
import type { StorageDriver } from '../storage/driver.js';
import { blobKey } from '../storage/layout.js';

export interface DownloadSettings {
  /** How long a claim holds unless renewed (ms); renewed every third of it. */
  leaseMs: number;
  /** Bytes gathered before an append (the driver's minChunkLength when larger). */
  batchBytes: number;
  /** A batch smaller than batchBytes is appended and published after this long (ms; drivers without a minimum chunk). */
  publishMs: number;
  /** An upstream that sends nothing this long (ms) fails the download. */
  idleMs: number;
}

export interface DownloadDeps {
  storage: StorageDriver;
  fetches: MirrorFetchStore;
  store: RegistryStore;
  guard: BlobGuard;
  now: () => number;
  settings: DownloadSettings;
}

/** A reader's share of the bytes as they arrive; dropped when the reader falls too far behind. */
export class Feed {
  private chunks: Buffer[] = [];
  private bytes = 0;
  /** Whether it fell behind by more than the limit: the reader continues from storage. */
  overflowed = false;

  constructor(
    /** Offset of the next byte the feed takes. */
    private next: number,
    private readonly limit: number,
  ) {}

  offer(chunk: Buffer, offset: number): void {
    if (this.overflowed || offset + chunk.length <= this.next) return;
    if (offset > this.next) {
      this.drop();
      return;
    }
    const part = chunk.subarray(this.next - offset);
    this.chunks.push(part);
    this.bytes += part.length;
    this.next += part.length;
    if (this.bytes > this.limit) this.drop();
  }

  /** The bytes held from `pos` on, at most up to offset `end` (exclusive); null when there are none. */
  take(pos: number, end: number): Buffer | null {
    if (this.overflowed || this.chunks.length === 0 || this.next - this.bytes !== pos || pos >= end) return null;
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const n = Math.min(all.length, end - pos);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.bytes = rest.length;
    return all.subarray(0, n);
  }

  private drop(): void {
    this.overflowed = true;
    this.chunks = [];
    this.bytes = 0;
  }
}

/** Keeps a claim's lease renewed, every third of it, until stopped; tells when another replica took the claim. */
export class LeaseKeeper {
  lost: Error | null = null;
  private readonly listeners: ((err: Error) => void)[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(fetches: MirrorFetchStore, digest: string, owner: string, now: () => number, leaseMs: number) {
    this.timer = setInterval(() => {
      fetches.progress(digest, owner, { until: now() + leaseMs }).then(
        (held) => {
          if (!held) this.lose(new Error(`the download of ${digest} was taken over by another replica`));
        },
        () => {}, // a database hiccup: the next renewal tries again
      );
    }, leaseMs / 3);
    this.timer.unref();
  }

  onLost(fn: (err: Error) => void): void {
    this.listeners.push(fn);
  }

  lose(err: Error): void {
    if (this.lost) return;
    this.lost = err;
    this.stop();
    for (const l of this.listeners) l(err);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Publications of one download at most, where each makes a piece the commit copies (S3 segments). */
const MAX_PUBLICATIONS = 5000;

/** Batches read ahead of the flush in progress before reading waits for it (bounds memory per download). */
const MAX_BATCHES_AHEAD = 4;

/** Per-reader live feed limit: a reader this far behind reads from storage instead. */
const FEED_LIMIT = 4 * 1024 * 1024;

export class Download {
  state: 'running' | 'stored' | 'failed' = 'running';
  error: Error | null = null;
  /** Bytes readable from the upload session by any process. */
  published = 0;
  /** Settles when the download is stored or failed (never rejects). */
  readonly finished: Promise<void>;
  private readonly feeds = new Set<Feed>();
  private wake: (() => void)[] = [];
  private finish!: () => void;

  constructor(
    private readonly deps: DownloadDeps,
    readonly digest: Digest,
    readonly owner: string,
    readonly uploadId: string,
    private readonly lease: LeaseKeeper,
    readonly size: number,
    private readonly body: Readable,
    readonly localRepository: string,
  ) {
    this.finished = new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  /** Resolves at the next change of state, publication or feed. Take it before looking, so no change is missed. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.wake.push(resolve));
  }

  subscribe(from: number): Feed {
    const feed = new Feed(from, FEED_LIMIT);
    this.feeds.add(feed);
    return feed;
  }

  unsubscribe(feed: Feed): void {
    this.feeds.delete(feed);
  }

  /** Runs the download in the background; `finished` says when it is over. */
  start(): void {
    this.run().then(
      () => this.settle('stored', null),
      (err: Error) => this.settle('failed', err),
    );
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = [];
    for (const w of wake) w();
  }

  private settle(state: 'stored' | 'failed', err: Error | null): void {
    this.state = state;
    this.error = err;
    this.notify();
    this.finish();
  }

  private async run(): Promise<void> {
    const { storage, fetches, settings } = this.deps;
    const { digest, owner, uploadId, size, body, lease } = this;
    const hash = newHasher(digest.algorithm);
    // Each publication on S3 completes a segment, and the commit copies each with one UploadPartCopy of
    // at most 10,000: a huge blob publishes in larger batches.
    const batch = Math.max(settings.batchBytes, storage.minChunkLength, storage.minChunkLength > 0 ? Math.ceil(size / MAX_PUBLICATIONS) : 0);
    lease.onLost((err) => body.destroy(err));
    let idle: NodeJS.Timeout | undefined;
    const watchIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => body.destroy(new Error(`upstream sent nothing for ${settings.idleMs / 1000} s`)), settings.idleMs);
      idle.unref();
    };
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let written = 0;
    let lastFlush = Date.now();
    // Appends what is pending (all of it at the end; else whole multiples of the driver's chunk), then publishes.
    const flush = async (final: boolean): Promise<void> => {
      const min = storage.minChunkLength;
      const n = final || min === 0 ? pendingBytes : pendingBytes - (pendingBytes % min);
      if (n > 0) {
        const all = Buffer.concat(pending, pendingBytes);
        pending = n < all.length ? [all.subarray(n)] : [];
        pendingBytes = all.length - n;
        written = await storage.uploadAppend(uploadId, written, Readable.from([all.subarray(0, n)]), { sync: final });
      }
      this.published = await storage.uploadPublish(uploadId);
      lastFlush = Date.now();
      if (!(await fetches.progress(digest.value, owner, { until: this.deps.now() + settings.leaseMs, published: this.published }))) {
        lease.lose(new Error(`the download of ${digest.value} was taken over by another replica`));
        throw lease.lost;
      }
      this.notify();
    };
    // One flush at a time, in the background: the body is read on while a batch is appended and
    // published (awaiting each flush stalled the upstream transfer for a quarter of a cold pull), and
    // only waits when a flush falls more than a few batches behind.
    let flushing: Promise<void> | null = null;
    let flushFailed: Error | null = null;
    const startFlush = () => {
      flushing = flush(false).then(
        () => {
          flushing = null;
        },
        (err: Error) => {
          flushing = null;
          flushFailed ??= err;
          body.destroy(err);
        },
      );
    };
    try {
      let received = 0;
      watchIdle();
      for await (const c of body) {
        watchIdle();
        const chunk = c as Buffer;
        if (received + chunk.length > size) throw new Error(`upstream sent more than the ${size} bytes it announced for ${digest.value}`);
        hash.update(chunk);
        for (const feed of this.feeds) feed.offer(chunk, received);
        received += chunk.length;
        this.notify();
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (flushing) {
          if (pendingBytes >= MAX_BATCHES_AHEAD * batch) await flushing;
        } else if (pendingBytes >= batch || (storage.minChunkLength === 0 && Date.now() - lastFlush >= settings.publishMs)) startFlush();
        if (flushFailed) throw flushFailed;
      }
      await flushing;
      if (flushFailed) throw flushFailed;
      if (received !== size) throw new Error(`upstream sent ${received} of the ${size} bytes it announced for ${digest.value}`);
      await flush(true);
      if (hash.digest('hex') !== digest.hex) throw new Error(`upstream sent content that does not match ${digest.value}`);
      await this.commit();
    } catch (err) {
      body.destroy();
      await flushing; // never rejects; the session must not be aborted under an append
      // The claim first (readers see the download gone and fail), then the bytes.
      if (!lease.lost) await fetches.meta.transaction((tx) => fetches.release(tx, digest.value, owner), { durable: false }).catch(() => {});
      await storage.uploadAbort(uploadId).catch(() => {});
      throw err;
    } finally {
      lease.stop();
      clearTimeout(idle);
    }
  }

  /** The verified session becomes the blob, recorded and linked with the claim's end in one transaction. */
  private async commit(): Promise<void> {
    const { storage, store, guard, fetches } = this.deps;
    const { digest, size } = this;
    // Protected before the bytes become the blob, as uploads do: garbage collection leaves the digest alone.
    const protection = await guard.protect(digest.value, size);
    try {
      const key = blobKey(digest);
      if (await storage.stat(key)) await storage.uploadAbort(this.uploadId);
      else await storage.uploadCommit(this.uploadId, key);
      const now = this.deps.now();
      await store.meta.transaction(async (tx) => {
        const repoId = await store.ensureRepository(tx, this.localRepository, now);
        await store.recordBlob(tx, digest.value, size, now);
        await guard.release(tx, protection);
        await store.linkBlob(tx, repoId, digest.value, now);
        await store.queueBlobReview(tx, [digest.value], guard.reviewAt(now));
        await fetches.release(tx, digest.value, this.owner);
      });
    } catch (err) {
      await guard.abandon(protection);
      throw err;
    }
  }
}
