// Whether the object store works, as one state shared by the readiness check, a periodic check
// and the errors of real storage calls (docs/operations.md). While it is failing, blob GETs are
// not redirected to it (a presigned URL to a store that does not answer fails the client): they
// answer 503 with Retry-After, and the state is checked again at most every `recheckMs`.
import { Readable } from 'node:stream';
import type { StorageDriver } from '../storage/driver.js';
import { wrapMethods } from '../storage/wrap-methods.js';
import { storageUnavailable } from '../errors/unavailable.js';
import { CHECK_TIMEOUT_MS, runCheck, storageProbe, type CheckResult } from './checks.js';

export interface StorageHealthOptions {
  now?: () => number;
  /** While failing, how often a request may trigger a new check. */
  recheckMs?: number;
  timeoutMs?: number;
  /** Consecutive failed periodic checks before the store counts as failing (others count at once). */
  threshold?: number;
}

export class StorageHealth {
  private failingSince: number | null = null;
  private lastCheck = 0;
  private inFlight: Promise<CheckResult> | null = null;
  private periodicFailures = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(
    private readonly probe: () => Promise<unknown>,
    private readonly opts: StorageHealthOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
  }

  static of(storage: StorageDriver, opts: StorageHealthOptions = {}): StorageHealth {
    return new StorageHealth(storageProbe(storage), opts);
  }

  get failing(): boolean {
    return this.failingSince !== null;
  }

  /** Checks now (one check at a time; concurrent callers share it) and records the outcome. */
  check(): Promise<CheckResult> {
    this.inFlight ??= runCheck(this.probe, this.opts.timeoutMs ?? CHECK_TIMEOUT_MS).then((r) => {
      this.inFlight = null;
      this.lastCheck = this.now();
      if (r.status === 'ok') this.failingSince = null;
      else this.failingSince ??= this.now();
      return r;
    });
    return this.inFlight;
  }

  /** A storage call failed: an error that says the store is down or unreachable makes it failing. */
  report(err: unknown): void {
    if (!storageUnavailable(err)) return;
    this.failingSince ??= this.now();
    this.lastCheck = this.now();
  }

  /** True when the store may be used (and redirected to); while failing, checks again at most every recheckMs. */
  async usable(): Promise<boolean> {
    if (this.failingSince === null) return true;
    if (this.now() - this.lastCheck >= (this.opts.recheckMs ?? 2000)) await this.check();
    return this.failingSince === null;
  }

  /** A check every `intervalMs` in the background, so a store nobody reads from directly (redirects) is noticed. */
  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      if (this.inFlight) return;
      const wasFailing = this.failing;
      void this.check().then((r) => {
        if (r.status === 'ok') this.periodicFailures = 0;
        else if (!wasFailing && ++this.periodicFailures < (this.opts.threshold ?? 1)) this.failingSince = null;
      });
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** An argument that is a stream which errored or was aborted before the storage call failed. */
function callersStreamFailed(arg: unknown): boolean {
  return arg instanceof Readable && (arg.errored !== null || arg.readableAborted);
}

/** The driver with its failures reported to `health`: each method forwarded (the optional ones exactly when present). */
export function reportingFailures(inner: StorageDriver, health: StorageHealth): StorageDriver {
  const note = (err: unknown) => {
    health.report(err);
    // Tagged, so the error mapping answers 503 "storage unavailable" rather than 500.
    throw storageUnavailable(err) ?? err;
  };
  return wrapMethods(inner, (_name, fn) => (...args: unknown[]) => {
    const result = fn.apply(inner, args);
    if (result instanceof Promise) {
      return result.then(
        (v) => {
          // A stream that fails later (a read cut short) is a failure too.
          if (v && typeof (v as NodeJS.ReadableStream).on === 'function' && typeof (v as NodeJS.ReadableStream).pipe === 'function')
            (v as NodeJS.ReadableStream).on('error', (err) => health.report(err));
          return v;
        },
        (err) => {
          // A body the caller streamed in failed (a client that went away mid-PATCH: ECONNRESET): the
          // store is not to blame, and marking it failing would refuse every blob GET for a while. (A store
          // that fails mid-append also errors that stream; the next read, stat or check notices it.)
          if (args.some(callersStreamFailed)) throw err;
          return note(err);
        },
      );
    }
    if (result && typeof (result as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
      return iterateReporting(result as AsyncIterable<unknown>, note);
    return result;
  });
}

async function* iterateReporting<T>(source: AsyncIterable<T>, note: (err: unknown) => never): AsyncGenerator<T> {
  try {
    yield* source;
  } catch (err) {
    note(err);
  }
}
