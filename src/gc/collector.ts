// The online garbage collector. Work comes from the review queues that the registry's changes fill
// (gc_manifest_review, gc_blob_review); each batch is claimed in the database, so any number of
// replicas (and `berth gc`) collect at once without doing the same work twice. A blob goes in
// three steps: one transaction checks it is still unused and marks it 'deleting' (readers stop
// seeing it, its stale links go), then its bytes are deleted, then a second transaction removes
// its row. Several blob batches are in flight at once (storage.gc.deleteconcurrency): while one
// batch's bytes are being deleted, the next is claimed and marked, so storage is never idle waiting
// for the database. See docs/architecture.md#garbage-collection.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostname } from 'node:os';
import type { MetadataDb } from '../metadata/database.js';
import type { BlobToDelete, GcStore } from '../metadata/gc-store.js';
import type { RegistryStore } from '../metadata/registry-store.js';
import { parseDigest } from '../oci/digest.js';
import type { RegistryEventSink } from '../registry/events.js';
import type { StorageDriver } from '../storage/driver.js';
import { blobKey } from '../storage/layout.js';
import { RECENT_USE_MS } from './blob-guard.js';
import { manifestVerdict, type ManifestPolicy } from './manifest-policy.js';
import { Serial, Slots, forEachConcurrently } from './concurrency.js';

export interface GcSettings extends ManifestPolicy {
  /** storage.gc.delay (ms). */
  delay: number;
  /** storage.gc.deleteconcurrency: storage delete requests in flight, and blob batches between claim and removal (default 4). */
  deleteConcurrency?: number;
}

/** storage.gc.deleteconcurrency when not given. */
export const DEFAULT_DELETE_CONCURRENCY = 4;

export interface CollectOptions {
  /** Overrides the configured delay (`berth gc --delay`), down to 0: also blobs used a moment ago go. */
  delay?: number;
  /** Review everything queued now, whenever it was due, and queue whatever nothing uses (`berth gc`). */
  full?: boolean;
  /** Called after each batch. */
  onProgress?: (p: CollectProgress) => void;
}

export interface CollectProgress {
  /** Reviews done so far, and due when the run started (a rough total: work found meanwhile adds to it). */
  reviewed: number;
  total: number;
  manifests: number;
  blobs: number;
  bytes: number;
}

export interface CollectResult {
  manifests: number;
  blobs: number;
  bytes: number;
  /** Repository links removed (unused, older than the delay). */
  links: number;
  seconds: number;
}

export interface PlannedManifest {
  id: number;
  repository: string;
  digest: string;
  size: number;
  reason: 'orphan-referrer' | 'untagged';
}

/** A dry run: what would go (one level: manifests that would go make their blobs go, not their children). */
export interface CollectPlan {
  manifests: PlannedManifest[];
  blobs: BlobToDelete[];
  /** Bytes of the blobs (manifest bodies included). */
  bytes: number;
}

export interface CollectorDeps {
  storage: StorageDriver;
  meta: MetadataDb;
  store: RegistryStore;
  gc: GcStore;
  events: RegistryEventSink;
  now: () => number;
  settings: GcSettings;
}

/** Rows per claim. Smaller on PostgreSQL, where a big SERIALIZABLE batch collides with pushes more often. */
const BLOB_BATCH = { sqlite: 5000, postgres: 250 } as const;
const MANIFEST_BATCH = 100;
/** How long a claim holds (ms); a collector that dies mid-batch is taken over after this. */
export const CLAIM_MS = 5 * 60_000;
/** A claim must still hold this long (ms) when the bytes are deleted. */
const CLAIM_MARGIN_MS = 60_000;
/** Keys per deleteMany call (S3: one DeleteObjects request): at most 1,000, and at least 100 when a batch is split to fill the slots. */
const DELETE_MANY_KEYS = { max: 1000, min: 100 } as const;
/** Single deletes in flight per group (drivers without deleteMany). */
const SINGLE_DELETES = 16;

/**
 * A batch whose transaction kept losing to the registry's own (PostgreSQL serialization failures
 * past the retries): background work gives way, releases its claim and ends the run.
 */
const YIELDED = -1;

function contended(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === '40001' || code === '40P01';
}

/** This process as a claimer: host and pid, so a claim of a dead process on this host is taken over at once. */
export const CLAIM_OWNER = `${hostname()}/${process.pid}`;

export class Collector {
  /** Its own write transactions, one at a time. */
  private readonly serial = new Serial();
  /** Storage deletes in flight (deleteMany calls, or single deletes for drivers without it). */
  private readonly slots: Slots;

  constructor(private readonly deps: CollectorDeps) {
    this.slots = new Slots(this.lanes);
  }

  private get lanes(): number {
    return Math.max(1, this.deps.settings.deleteConcurrency ?? DEFAULT_DELETE_CONCURRENCY);
  }

  get settings(): GcSettings {
    return this.deps.settings;
  }

  /** Collects until no due work is left; returns what went. */
  async collect(opts: CollectOptions = {}): Promise<CollectResult> {
    const { gc, now } = this.deps;
    const started = Date.now();
    const delay = opts.delay ?? Math.max(this.deps.settings.delay, RECENT_USE_MS);
    const result: CollectResult = { manifests: 0, blobs: 0, bytes: 0, links: 0, seconds: 0 };
    // Changes queue their reviews for the configured delay after them: with a shorter delay, due earlier.
    const shift = Math.max(0, this.deps.settings.delay - delay);
    const runStart = now();
    if (opts.full) await gc.queueEverything(runStart, this.deps.settings.untagged);
    const due = opts.onProgress ? await gc.due(runStart + shift) : { blobs: 0, manifests: 0 };
    let reviewed = 0;
    const progress = (n: number) => {
      reviewed += n;
      opts.onProgress?.({ reviewed, total: Math.max(reviewed, due.blobs + due.manifests), ...result });
    };
    progress(0);
    for (;;) {
      const m = await this.manifestBatch(shift, result);
      if (m === YIELDED) break;
      if (m > 0) progress(m);
      if (m > 0) continue; // manifests first: the blobs they free join the blob queue
      const b = await this.blobBatches(delay, shift, result, progress);
      if (b === YIELDED || b === 0) break;
    }
    await gc.pruneProtections(now() - 24 * 3600_000);
    result.seconds = (Date.now() - started) / 1000;
    return result;
  }

  /** What a full collection with `delay` would take now, changing nothing (`berth gc --dry-run`). */
  async plan(opts: { delay?: number } = {}): Promise<CollectPlan> {
    const { gc, now, settings } = this.deps;
    const at = now();
    const delay = opts.delay ?? Math.max(settings.delay, RECENT_USE_MS);
    const manifests: PlannedManifest[] = [];
    for (const m of await gc.candidateManifests(settings.untagged)) {
      const v = manifestVerdict(m, settings, at);
      if (v.action === 'delete') manifests.push({ id: m.id, repository: m.repository, digest: m.digest, size: m.size, reason: v.reason });
    }
    const blobs = (await gc.collectableBlobs(manifests, at - delay, at, at + Math.max(0, settings.delay - delay))).sort((a, b) =>
      a.digest < b.digest ? -1 : 1,
    );
    return { manifests, blobs, bytes: blobs.reduce((sum, b) => sum + b.size, 0) };
  }

  private async takeover(queue: 'gc_blob_review' | 'gc_manifest_review'): Promise<string[]> {
    const mine = `${hostname()}/`;
    const dead: string[] = [];
    for (const claimer of await this.deps.gc.claimers(queue, this.deps.now())) {
      if (!claimer.startsWith(mine)) continue;
      const owner = claimer.split('/').slice(0, 2).join('/');
      const pid = Number(owner.split('/')[1]);
      if (owner !== CLAIM_OWNER && Number.isInteger(pid) && !processAlive(pid) && !dead.includes(owner)) dead.push(owner);
    }
    return dead;
  }

  /** One claimed batch of manifest reviews; returns how many were reviewed. */
  private async manifestBatch(shift: number, result: CollectResult): Promise<number> {
    const { gc, meta, store, events, now, settings } = this.deps;
    const token = `${CLAIM_OWNER}/${randomUUID()}`;
    const t = now();
    const claimed = await gc.claim('gc_manifest_review', token, t, t + CLAIM_MS, t + shift, MANIFEST_BATCH, await this.takeover('gc_manifest_review'));
    if (claimed === 0) return 0;
    try {
      const deleted = await meta.transaction(async (tx) => {
        const at = now();
        let n = 0;
        for (const m of await gc.manifestFacts(tx, token)) {
          const v = manifestVerdict(m, settings, at);
          // Never due again in this run (its claims reach `shift` ahead).
          if (v.action === 'later') await gc.requeueManifest(tx, token, m.id, Math.max(v.at, at + shift + 1));
          if (v.action !== 'delete') continue;
          // Its blobs are reviewed at once (the delay still applies to their links).
          await store.deleteManifest(tx, m.repositoryId, m.digest, at, at);
          await events.record(tx, [{ type: 'manifest.delete', repository: m.repository, digest: m.digest, actor: null, at }]);
          n++;
        }
        await gc.finishManifestReviews(tx, token);
        return n;
      });
      result.manifests += deleted;
    } catch (err) {
      await gc.release('gc_manifest_review', token).catch(() => {});
      if (contended(err)) return YIELDED;
      throw err;
    }
    return claimed;
  }

  /**
   * Blob batches, storage.gc.deleteconcurrency of them in flight, until none is due; returns how
   * many reviews were done, or YIELDED. While some batches wait for storage, another is claimed and
   * marked. A lane that finds nothing to claim ends; the others finish their batch and find nothing either.
   */
  private async blobBatches(delay: number, shift: number, result: CollectResult, progress: (n: number) => void): Promise<number> {
    let reviewed = 0;
    let stop = false;
    let yielded = false;
    // Once per pass, not per batch: a query over the whole queue.
    const dead = await this.takeover('gc_blob_review');
    const lane = async () => {
      while (!stop) {
        const b = await this.blobBatch(delay, shift, dead, result).catch((err: unknown) => {
          stop = true;
          throw err;
        });
        if (b === YIELDED) yielded = true;
        if (b === YIELDED || b === 0) stop = true;
        else {
          reviewed += b;
          progress(b);
        }
      }
    };
    // Every lane settles before an error is thrown: none is left deleting behind the caller's back.
    const failed = (await Promise.allSettled(Array.from({ length: this.lanes }, lane))).find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return yielded ? YIELDED : reviewed;
  }

  /** One claimed batch of blob reviews; returns how many were reviewed. */
  private async blobBatch(delay: number, shift: number, dead: string[], result: CollectResult): Promise<number> {
    const { gc, meta, now } = this.deps;
    const token = `${CLAIM_OWNER}/${randomUUID()}`;
    const t = now();
    const batch = BLOB_BATCH[meta.dialect];
    const claimed = await gc.claim('gc_blob_review', token, t, t + CLAIM_MS, t + shift, batch, dead);
    if (claimed === 0) return 0;
    let marked: { deleting: BlobToDelete[]; links: number };
    try {
      marked = await this.serial.run(() =>
        meta.transaction((tx) => {
          const at = now();
          return gc.markBlobs(tx, token, { now: at, cutoff: at - delay, delay, leaseUntil: at + CLAIM_MS, requeueAfter: at + shift + 1 });
        }),
      );
    } catch (err) {
      await gc.release('gc_blob_review', token).catch(() => {});
      if (contended(err)) return YIELDED;
      throw err;
    }
    result.links += marked.links;
    if (marked.deleting.length === 0) return claimed;
    const keys = marked.deleting.map((b) => blobKey(parseDigest(b.digest)));
    if (!(await this.deleteBytes(token, keys))) return claimed;
    // The rows must go soon (writers of these digests wait meanwhile): insist a little under contention.
    let removed = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        removed = await this.serial.run(() => meta.transaction((tx) => gc.removeBlobs(tx, token)));
        break;
      } catch (err) {
        if (!contended(err) || attempt >= 5) throw err;
        await sleep(100 * attempt);
      }
    }
    result.blobs += removed;
    result.bytes += marked.deleting.reduce((sum, b) => sum + b.size, 0);
    return claimed;
  }

  /**
   * Deletes the batch's bytes in groups that share the collector's slots (a small batch is split so
   * that it fills them); false when the claim no longer surely holds. Checked before each request:
   * past the claim, another collector may have finished these deletions and a writer put the bytes back.
   */
  private async deleteBytes(token: string, keys: string[]): Promise<boolean> {
    const { storage, gc, now } = this.deps;
    const holds = () => gc.holds('gc_blob_review', token, keys.length, now() + CLAIM_MARGIN_MS);
    const size = Math.min(DELETE_MANY_KEYS.max, Math.max(DELETE_MANY_KEYS.min, Math.ceil(keys.length / this.lanes)));
    const groups: string[][] = [];
    for (let i = 0; i < keys.length; i += size) groups.push(keys.slice(i, i + size));
    let lost = false;
    const settled = await Promise.allSettled(
      groups.map((group) =>
        this.slots.run(async () => {
          if (lost || !(await holds())) {
            lost = true;
            return;
          }
          if (storage.deleteMany) await storage.deleteMany(group);
          else await forEachConcurrently(group, SINGLE_DELETES, (key) => storage.delete(key));
        }),
      ),
    );
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return !lost;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
