// The registry's side of the blob lifecycle (docs/architecture.md#garbage-collection): writers
// protect a digest in the database before they write its bytes, so the collector never deletes
// bytes being put back; a writer that finds a deletion under way waits for it to finish. Readers
// that use a candidate blob renew its link, so a client that checked a blob can still use it.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryError } from '../errors/catalog.js';
import type { Tx } from '../metadata/database.js';
import type { GcStore } from '../metadata/gc-store.js';

/** How long a writer's protection holds (ms): longer than any storage write takes. */
export const WRITE_PROTECTION_MS = 3600_000;
/**
 * Whatever storage.gc.delay says, a blob a client used this recently (ms) is not collected unless an
 * operator asks so explicitly (`berth gc --delay`): a push uploads or HEADs its blobs and then PUTs
 * the manifest that uses them, which a delay of 0s would otherwise race.
 */
export const RECENT_USE_MS = 10_000;
/** How long a writer waits for a running deletion of the same digest (wall time, ms). */
export const DELETION_WAIT_MS = 30_000;

export interface Protection {
  token: string;
  digest: string;
}

export class BlobGuard {
  private waiters = 0;

  constructor(
    private readonly gc: GcStore,
    /** storage.gc.delay (ms). */
    private readonly delay: number,
    private readonly now: () => number,
    private readonly waitMs = DELETION_WAIT_MS,
  ) {}

  /**
   * Protects `digest` before its bytes are written. While a deletion of it runs, waits until the
   * deletion finished (then writes the bytes again); a deletion that does not finish in time
   * answers 503, which clients retry.
   */
  async protect(digest: string, size: number): Promise<Protection> {
    const token = randomUUID();
    const deadline = Date.now() + this.waitMs;
    let waiting = false;
    try {
      for (let pause = 10; ; pause = Math.min(pause * 2, 500)) {
        const now = this.now();
        const done = await this.gc.meta.transaction((tx) => this.gc.protect(tx, token, digest, size, now, now + WRITE_PROTECTION_MS, this.reviewAt(now)), {
          durable: false,
        });
        if (done) return { token, digest };
        if (Date.now() >= deadline) {
          throw new RegistryError('UNAVAILABLE', `blob ${digest} is being garbage-collected; try again`, { headers: { 'Retry-After': '5' } });
        }
        if (!waiting) this.waiters++;
        waiting = true;
        await sleep(pause);
      }
    } finally {
      if (waiting) this.waiters--;
    }
  }

  /** Writers of this process waiting for a deletion to finish now (tests watch it). */
  waiting(): number {
    return this.waiters;
  }

  /** Ends the protection in the writer's final transaction, which needs the blob still live. */
  async release(tx: Tx, p: Protection): Promise<void> {
    // Only a writer stalled past WRITE_PROTECTION_MS gets here with its blob collected.
    if (!(await this.gc.unprotect(tx, p.token, p.digest))) throw new Error(`blob ${p.digest} was garbage-collected while being written`);
  }

  /** Ends a protection after a failed write (best effort: it expires anyway). */
  async abandon(p: Protection): Promise<void> {
    await this.gc.meta.transaction((tx) => this.gc.unprotect(tx, p.token, p.digest), { durable: false }).catch(() => {});
  }

  /**
   * A reader used a blob: when it is a garbage-collection candidate whose link is past half the
   * delay (at least RECENT_USE_MS), the link is renewed, so the blob stays at least that half from
   * now (a client that HEADs a blob and then PUTs a manifest needs it). False when it is no longer
   * readable.
   */
  async used(blob: { repositoryId: number; linkedAt: number; queued: boolean }, digest: string): Promise<boolean> {
    const now = this.now();
    if (!blob.queued || blob.linkedAt > now - Math.max(this.delay, RECENT_USE_MS) / 2) return true;
    return this.gc.meta.transaction((tx) => this.gc.refreshLink(tx, blob.repositoryId, digest, now), { durable: false });
  }

  /** When a blob an upload or mount just linked is reviewed: not before it may go. */
  reviewAt(now: number): number {
    return now + Math.max(this.delay, RECENT_USE_MS);
  }
}
