// Single-flight, cross-replica, streaming fetch of a blob from an upstream registry (docs/mirror.md).
//
// A claim row per digest (metadata/mirror-fetch-store.ts) makes one download of a blob at a time across
// replicas. The replica that wins the claim downloads (blob-fetch-download.ts): its readers get the bytes
// as they arrive, and every batch appended to the upload session is published, so readers on any replica
// stream what is there so far and poll the row for more. The last byte goes out only once the digest is
// verified and the blob stored: a broken or wrong download ends every stream early, never as a complete
// wrong blob. The owner renews its lease while it downloads; a reader that finds it expired (the owner
// died) takes the claim over and downloads again, its own stream carrying on where it was.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryError } from '../errors/catalog.js';
import type { BlobGuard } from '../gc/blob-guard.js';
import type { MetadataDb } from '../metadata/database.js';
import { MirrorFetchStore, type FetchClaim } from '../metadata/mirror-fetch-store.js';
import type { RegistryStore } from '../metadata/registry-store.js';
import type { Digest } from '../oci/digest.js';
import type { StorageDriver } from '../storage/driver.js';
import { blobKey } from '../storage/layout.js';
import { Download, type DownloadSettings, type Feed, LeaseKeeper } from './blob-fetch-download.js';

/** What the fetch needs of the upstream client (src/upstream/): UpstreamClient has it. */
export interface BlobUpstream {
  /** `verify: false`: the download hashes the bytes itself (and holds the last ones back until they match). */
  getBlob(repo: string, digest: string, opts?: { verify?: boolean }): Promise<{ size: number | null; body: Readable }>;
}

export interface BlobSource {
  upstream: BlobUpstream;
  upstreamName: string;
  /** The repository's name on the upstream. */
  repository: string;
}

export interface FetchLog {
  warn(obj: object, msg: string): void;
}

export interface BlobFetcherDeps {
  storage: StorageDriver;
  meta: MetadataDb;
  store: RegistryStore;
  guard: BlobGuard;
  now: () => number;
  log: FetchLog;
  /** Tests shorten these. */
  settings?: Partial<FetchSettings>;
}

export interface FetchSettings extends DownloadSettings {
  /** How often a reader on another replica looks for more published bytes (ms). */
  pollMs: number;
}

export const DEFAULT_FETCH_SETTINGS: FetchSettings = {
  leaseMs: 15_000,
  batchBytes: 4 * 1024 * 1024,
  publishMs: 250,
  idleMs: 60_000,
  pollMs: 100,
};

interface Want {
  source: BlobSource;
  localRepository: string;
  digest: Digest;
}

export class BlobFetcher {
  readonly fetches: MirrorFetchStore;
  private readonly settings: FetchSettings;
  /** Downloads this process owns, by digest. */
  private readonly running = new Map<string, Download>();
  /** The latest look at each claim that readers here follow: one query per digest per half poll, however many readers. */
  private readonly polls = new Map<string, { at: number; row: Promise<FetchClaim | null> }>();

  constructor(private readonly deps: BlobFetcherDeps) {
    this.fetches = new MirrorFetchStore(deps.meta);
    this.settings = { ...DEFAULT_FETCH_SETTINGS, ...deps.settings };
  }

  /**
   * Streams a blob not yet in the cache to the caller while it is fetched, or joins the fetch in progress
   * on any replica, and links it into `localRepository` once stored and verified. Rejects with the
   * upstream's error when the download cannot start; a download that fails later ends the stream with an error.
   */
  async fetch(source: BlobSource, localRepository: string, digest: Digest): Promise<{ size: number; body: Readable }> {
    const want: Want = { source, localRepository, digest };
    let seen: FetchClaim | null = null;
    for (;;) {
      const local = this.running.get(digest.value);
      if (local?.state === 'running') return { size: local.size, body: this.stream(this.followLocal(local, 0, want)) };
      const row = await this.fetches.get(digest.value);
      if (!row) {
        const size = await this.linkStored(want);
        if (size !== null) return { size, body: await this.deps.storage.read(blobKey(digest)) };
        // A download we were waiting for ended without the blob: it failed (its error went to its owner).
        if (seen) throw new RegistryError('UNAVAILABLE', `the upstream download of ${digest.value} failed; try again`, { headers: { 'Retry-After': '1' } });
        const mine = await this.claim(want, null, 0);
        if (mine) return { size: mine.d.size, body: this.stream(this.followLocal(mine.d, 0, want, mine.feed)) };
        continue;
      }
      if (row.leaseUntil < this.deps.now()) {
        const mine = await this.claim(want, row, 0);
        if (mine) return { size: mine.d.size, body: this.stream(this.followLocal(mine.d, 0, want, mine.feed)) };
        continue;
      }
      seen = row;
      if (row.size !== null) return { size: row.size, body: this.stream(this.followRemote(row.size, 0, want)) };
      await sleep(this.settings.pollMs); // the owner is waiting for the upstream's answer
    }
  }

  /** Removes claims whose download died before `before` and nobody asked for since, with their bytes. */
  async reapExpired(before: number): Promise<number> {
    let n = 0;
    for (const c of await this.fetches.expired(before, 100)) {
      if (!(await this.fetches.dropExpired(c.digest, c.owner, this.deps.now()))) continue;
      await this.deps.storage.uploadAbort(c.uploadId);
      n++;
    }
    return n;
  }

  private poll(digest: string): Promise<FetchClaim | null> {
    const hit = this.polls.get(digest);
    if (hit && Date.now() - hit.at < this.settings.pollMs / 2) return hit.row;
    const row = this.fetches.get(digest);
    this.polls.set(digest, { at: Date.now(), row });
    row.catch(() => {}); // each reader awaits it
    setTimeout(() => {
      if (this.polls.get(digest)?.row === row) this.polls.delete(digest);
    }, this.settings.pollMs).unref();
    return row;
  }

  private stream(gen: AsyncGenerator<Buffer>): Readable {
    // Room to read ahead of the socket: at the default 16 KiB each live chunk waited for the previous to drain.
    return Readable.from(gen, { objectMode: false, highWaterMark: 1 << 20 });
  }

  /**
   * Claims the digest (a new claim, or `expired`'s taken over) and starts downloading, with a live feed
   * from `from` on for the caller's reader; null when another replica won. Rejects with the upstream's
   * error when it does not answer with the blob (the claim goes).
   */
  private async claim(want: Want, expired: FetchClaim | null, from: number): Promise<{ d: Download; feed: Feed } | null> {
    const { storage, now } = this.deps;
    const owner = randomUUID();
    const uploadId = randomUUID();
    const until = now() + this.settings.leaseMs;
    const digest = want.digest.value;
    if (expired) {
      if (!(await this.fetches.takeOver(digest, expired.owner, owner, uploadId, now(), until))) return null;
      await storage.uploadAbort(expired.uploadId).catch(() => {}); // the dead download's bytes
    } else if (!(await this.fetches.claim(digest, owner, uploadId, now(), until))) {
      return null;
    }
    // Renewed from now on: the upstream may take a while to answer.
    const lease = new LeaseKeeper(this.fetches, digest, owner, now, this.settings.leaseMs);
    let body: Readable | undefined;
    lease.onLost((err) => body?.destroy(err));
    try {
      await storage.uploadCreate(uploadId);
      const res = await want.source.upstream.getBlob(want.source.repository, digest, { verify: false });
      body = res.body;
      if (res.size === null) throw new RegistryError('UNAVAILABLE', `upstream ${want.source.upstreamName} sent ${digest} without its length`);
      if (expired?.size != null && res.size !== expired.size)
        throw new RegistryError('UNAVAILABLE', `upstream ${want.source.upstreamName} changed the size of ${digest}`);
      if (lease.lost || !(await this.fetches.progress(digest, owner, { until: now() + this.settings.leaseMs, size: res.size }))) {
        throw new RegistryError('UNAVAILABLE', `the download of ${digest} was taken over by another replica; try again`);
      }
      const d = new Download(
        { ...this.deps, fetches: this.fetches, settings: this.settings },
        want.digest,
        owner,
        uploadId,
        lease,
        res.size,
        res.body,
        want.localRepository,
      );
      this.running.set(digest, d);
      d.finished.then(() => {
        if (this.running.get(digest) === d) this.running.delete(digest);
        if (d.error) this.deps.log.warn({ err: d.error, digest, upstream: want.source.upstreamName }, 'mirror: blob download failed');
      });
      // Subscribed before the first byte arrives: the caller's reader gets every byte as it comes.
      const feed = d.subscribe(from);
      d.start();
      return { d, feed };
    } catch (err) {
      lease.stop();
      body?.destroy();
      await this.fetches.meta.transaction((tx) => this.fetches.release(tx, digest, owner), { durable: false }).catch(() => {});
      await storage.uploadAbort(uploadId).catch(() => {});
      throw err;
    }
  }

  /** Reads a download this process owns: its live feed while the reader keeps up, else published bytes. */
  private async *followLocal(d: Download, from: number, want: Want, feed = d.subscribe(from)): AsyncGenerator<Buffer> {
    let pos = from;
    try {
      for (;;) {
        const changed = d.changed();
        if (d.state === 'failed') throw d.error ?? new Error('download failed');
        // The last byte waits for the digest: a wrong or broken download never reaches a reader complete.
        const end = d.state === 'stored' ? d.size : d.size - 1;
        const live = feed.take(pos, end);
        if (live) {
          pos += live.length;
          yield live;
          continue;
        }
        if (d.state === 'stored') {
          if (d.localRepository !== want.localRepository) await this.linkStored(want);
          if (pos < d.size) yield* this.readBlob(want.digest, pos, d.size);
          return;
        }
        const readable = Math.min(d.published, end);
        if (feed.overflowed && readable > pos) {
          try {
            for await (const c of await this.deps.storage.uploadReadFrom(d.uploadId, { start: pos, end: readable - 1 })) {
              pos += (c as Buffer).length;
              yield c as Buffer;
            }
            continue;
          } catch {
            // Committed meanwhile, or (S3) bytes in a part until the next publication: wait for the next change.
          }
        }
        await changed;
      }
    } finally {
      d.unsubscribe(feed);
    }
  }

  /** Reads a download another replica owns, from the bytes it published; takes it over if its owner died. */
  private async *followRemote(size: number, from: number, want: Want): AsyncGenerator<Buffer> {
    const { storage, now } = this.deps;
    let pos = from;
    for (;;) {
      const local = this.running.get(want.digest.value);
      if (local?.state === 'running' && local.size === size) {
        yield* this.followLocal(local, pos, want);
        return;
      }
      const row = await this.poll(want.digest.value);
      if (!row) {
        // Done: stored (the rest comes from the blob), or failed.
        if ((await this.linkStored(want)) === null) throw new Error(`the upstream download of ${want.digest.value} failed`);
        if (pos < size) yield* this.readBlob(want.digest, pos, size);
        return;
      }
      const readable = row.size === size ? Math.min(row.published, size - 1) : 0;
      if (readable > pos) {
        try {
          for await (const c of await storage.uploadReadFrom(row.uploadId, { start: pos, end: readable - 1 })) {
            pos += (c as Buffer).length;
            yield c as Buffer;
          }
          continue;
        } catch {
          // The session was committed, aborted or taken over meanwhile, or (S3) its newest bytes are in
          // a part not yet published again: look at the claim again.
        }
      } else if (row.leaseUntil < now()) {
        const mine = await this.claim(want, row, pos);
        if (mine) {
          yield* this.followLocal(mine.d, pos, want, mine.feed);
          return;
        }
        continue;
      }
      await sleep(this.settings.pollMs);
    }
  }

  private async *readBlob(digest: Digest, start: number, size: number): AsyncGenerator<Buffer> {
    for await (const c of await this.deps.storage.read(blobKey(digest), { start, end: size - 1 })) yield c as Buffer;
  }

  /** When the blob is stored, links it into the reader's repository and resolves to its size; null otherwise. */
  private async linkStored(want: Want): Promise<number | null> {
    const { storage, store, guard, now } = this.deps;
    const digest = want.digest.value;
    // A live row alone may be a writer's protection before its bytes: the bytes must be there too.
    if ((await this.fetches.liveBlobSize(digest)) === null || !(await storage.stat(blobKey(want.digest)))) return null;
    const at = now();
    // Linked in a transaction that sees the blob still live (garbage collection may have begun deleting it).
    return store.meta.transaction(async (tx) => {
      const size = await this.fetches.liveBlobSize(digest, tx);
      if (size === null) return null;
      const repoId = await store.ensureRepository(tx, want.localRepository, at);
      await store.linkBlob(tx, repoId, digest, at);
      await store.queueBlobReview(tx, [digest], guard.reviewAt(at));
      return size;
    });
  }
}
