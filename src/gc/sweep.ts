// The crash-leftover sweep: bytes in storage that the database does not know, older than a grace period.
//   - objects under blobs/ with no `blobs` row: bytes of earlier versions, which wrote an object before any
//     row named it (writers now record the blob, protected, before its bytes: garbage collection takes what
//     they leave), a store copied without its database;
//   - upload sessions in storage with no `uploads` row: a crash between creating the session's bytes and
//     its row, or between deleting the row (cancel, purge) and the bytes.
// It streams the listing in pages and works in batches of up to 1,000 keys (one DeleteObjects request on
// S3), storage.gc.deleteconcurrency batches in flight, so millions of objects cost neither memory nor hours.
//
// Why a grace period: bytes may be in storage before the row that names them (docs/architecture.md,
// "Write ordering"). A new upload session's bytes come before its row; writers of earlier versions (and
// of replicas not yet upgraded, in a rolling update) renamed or copied an upload to blobs/<digest> before
// the transaction that recorded it. In between, the bytes look exactly like a leftover. The grace period
// must outlast that window on every replica: the copy of a multi-GiB blob on S3 (tens of seconds), a
// transaction queued behind others or retried, a paused process, and the difference between the storage's
// clock (S3's LastModified) and ours. An hour covers all of it with a wide margin; nothing is lost by
// waiting longer. The listed time is when the object appeared at its key (the filesystem driver takes the
// later of mtime and ctime, because a rename keeps the mtime of the last append), so a long upload does
// not age its blob.
//
// The grace period is not enough on its own: a writer that finds the bytes already at the key (an old
// leftover) uses them instead of writing its own (registry/uploads.ts, registry/manifests.ts). So a leftover is claimed in the database first, like
// any blob the collector deletes: a blob row in state 'deleting' and a claimed review (SweepStore
// .claimLeftovers). A writer that protected the digest first keeps it (the claim skips digests with a
// row); one that comes after waits for the deletion to finish and writes the bytes again. If the sweep
// dies, the collector takes the claim over and finishes.
import { randomUUID } from 'node:crypto';
import type { GcStore } from '../metadata/gc-store.js';
import type { SweepStore } from '../metadata/sweep-store.js';
import type { StorageDriver } from '../storage/driver.js';
import { BLOBS_PREFIX, digestFromBlobKey } from '../storage/layout.js';
import { CLAIM_MS, CLAIM_OWNER, DEFAULT_DELETE_CONCURRENCY } from './collector.js';
import { Serial } from './concurrency.js';

/** Default grace period: see above. */
export const DEFAULT_SWEEP_GRACE_MS = 60 * 60 * 1000;
/** How often the background job sweeps: each sweep lists all of storage. */
export const SWEEP_EVERY_MS = 24 * 60 * 60 * 1000;
const BATCH = 1000;
const ABORTS_IN_FLIGHT = 8;
/** A claim must still hold this long (ms) when the bytes are deleted (as in the collector). */
const CLAIM_MARGIN_MS = 60_000;

export interface SweepOptions {
  /** Only bytes older than this (ms) are leftovers. */
  graceMs: number;
  /** Report what would go, remove nothing. */
  dryRun?: boolean;
  /** Called for each leftover found (removed unless dryRun). */
  onLeftover?: (leftover: Leftover) => void;
}

export type Leftover = { kind: 'blob'; key: string; digest: string; size: number; modified: number } | { kind: 'upload'; id: string; modified: number };

export interface SweepResult {
  /** Objects listed under blobs/. */
  scanned: number;
  /** Leftover objects found (and removed unless dry-run), and their bytes. */
  blobs: number;
  bytes: number;
  /** Leftover upload sessions found (and removed unless dry-run). */
  uploads: number;
  /** The driver's own debris: temporary files, multipart uploads of copies (and their bytes where known). */
  debris: number;
  debrisBytes: number;
  seconds: number;
}

export class LeftoverSweep {
  /** Its own write transactions, one at a time. */
  private readonly serial = new Serial();

  constructor(
    private readonly storage: StorageDriver,
    private readonly store: SweepStore,
    private readonly gc: GcStore,
    private readonly now: () => number = Date.now,
    /** Batches claimed and deleted at once (storage.gc.deleteconcurrency). */
    private readonly batchesInFlight = DEFAULT_DELETE_CONCURRENCY,
  ) {}

  async run(opts: SweepOptions): Promise<SweepResult> {
    const started = performance.now();
    const cutoff = this.now() - opts.graceMs;
    const result: SweepResult = { scanned: 0, blobs: 0, bytes: 0, uploads: 0, debris: 0, debrisBytes: 0, seconds: 0 };
    await this.sweepObjects(cutoff, opts, result);
    await this.sweepUploads(cutoff, opts, result);
    const debris = await this.storage.removeDebris(cutoff, opts.dryRun);
    result.debris = debris.pieces;
    result.debrisBytes = debris.bytes;
    result.seconds = (performance.now() - started) / 1000;
    return result;
  }

  private async sweepObjects(cutoff: number, opts: SweepOptions, result: SweepResult): Promise<void> {
    const pool = new Pool(this.batchesInFlight);
    let batch: Extract<Leftover, { kind: 'blob' }>[] = [];
    const flush = async (items: typeof batch): Promise<void> => {
      const unknown = new Set(await this.store.unknownBlobs(items.map((i) => i.digest)));
      let leftovers = items.filter((i) => unknown.has(i.digest));
      if (leftovers.length > 0 && !opts.dryRun) leftovers = await this.remove(leftovers);
      for (const l of leftovers) {
        result.blobs++;
        result.bytes += l.size;
        opts.onLeftover?.(l);
      }
    };
    for await (const o of this.storage.list(BLOBS_PREFIX)) {
      result.scanned++;
      const digest = digestFromBlobKey(o.key);
      // Keys the layout did not make are not ours to judge; new objects may be a commit in progress.
      if (!digest || o.modified >= cutoff) continue;
      batch.push({ kind: 'blob', key: o.key, digest, size: o.size, modified: o.modified });
      if (batch.length >= BATCH) {
        await pool.add(flush(batch));
        batch = [];
      }
    }
    if (batch.length > 0) await pool.add(flush(batch));
    await pool.drain();
  }

  private async sweepUploads(cutoff: number, opts: SweepOptions, result: SweepResult): Promise<void> {
    const pool = new Pool(ABORTS_IN_FLIGHT);
    let batch: Extract<Leftover, { kind: 'upload' }>[] = [];
    const seen = new Set<string>(); // per batch only: a driver may list an id twice, close together
    const flush = async (items: typeof batch): Promise<void> => {
      const unknown = new Set(await this.store.unknownUploads(items.map((i) => i.id)));
      for (const l of items.filter((i) => unknown.has(i.id))) {
        if (!opts.dryRun) await this.storage.uploadAbort(l.id);
        result.uploads++;
        opts.onLeftover?.(l);
      }
    };
    for await (const u of this.storage.listUploads()) {
      if (u.modified >= cutoff || seen.has(u.id)) continue;
      seen.add(u.id);
      batch.push({ kind: 'upload', id: u.id, modified: u.modified });
      if (batch.length >= BATCH / 10) {
        await pool.add(flush(batch));
        batch = [];
        seen.clear();
      }
    }
    if (batch.length > 0) await pool.add(flush(batch));
    await pool.drain();
  }

  /** Claims the leftovers, deletes their bytes, then their rows; returns those removed. */
  private async remove<T extends { key: string; digest: string; size: number }>(leftovers: T[]): Promise<T[]> {
    const token = `${CLAIM_OWNER}/${randomUUID()}`;
    const at = this.now();
    const claimed = new Set(await this.serial.run(() => this.store.claimLeftovers(leftovers, token, at, at + CLAIM_MS)));
    const mine = leftovers.filter((l) => claimed.has(l.digest));
    if (mine.length === 0) return [];
    // Past the claim another collector may have finished these deletions and a writer put the bytes back.
    if (!(await this.gc.holds('gc_blob_review', token, mine.length, this.now() + CLAIM_MARGIN_MS))) return [];
    await this.deleteObjects(mine.map((l) => l.key));
    await this.serial.run(() => this.gc.meta.transaction((tx) => this.gc.removeBlobs(tx, token)));
    return mine;
  }

  private async deleteObjects(keys: string[]): Promise<void> {
    if (this.storage.deleteMany) await this.storage.deleteMany(keys);
    else for (const k of keys) await this.storage.delete(k);
  }
}

/** At most `limit` promises in flight; add() waits for room, drain() for all; the first failure is thrown. */
class Pool {
  private readonly running = new Set<Promise<void>>();
  private failure: { err: unknown } | undefined;

  constructor(private readonly limit: number) {}

  async add(p: Promise<void>): Promise<void> {
    const tracked = p.then(
      () => {
        this.running.delete(tracked);
      },
      (err: unknown) => {
        this.running.delete(tracked);
        this.failure ??= { err };
      },
    );
    this.running.add(tracked);
    while (this.running.size >= this.limit) await Promise.race(this.running);
    if (this.failure) throw this.failure.err;
  }

  async drain(): Promise<void> {
    await Promise.all(this.running);
    if (this.failure) throw this.failure.err;
  }
}
