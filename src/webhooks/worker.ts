// The delivery worker: polls the outbox, claims each due delivery with one conditional
// UPDATE (so any number of processes and replicas can run it; nothing is locked in
// process), POSTs it, and records the attempt. Failures are retried with exponential
// backoff and jitter up to a maximum number of attempts, then the delivery is dead
// until someone redelivers it. A worker that dies mid-delivery holds its claim only
// until `claimed_until`; then another worker takes the delivery again (at-least-once).
import { randomUUID } from 'node:crypto';
import { databaseUnavailable } from '../errors/unavailable.js';
import type { MetadataDb } from '../metadata/database.js';
import type { OutboundGuard } from '../net/outbound-connect.js';
import { post, type PostResult } from './post.js';
import type { DeliveryStatus } from './schema.js';
import { signatureHeader } from './signing.js';
import type { Delivery, Webhook, WebhookStore } from './store.js';

export interface WorkerSettings {
  /** Poll interval (ms) when nothing wakes the worker. */
  interval: number;
  /** Request timeout (ms); a config endpoint's own timeout is capped at this. */
  timeout: number;
  /** First retry delay (ms); doubles per attempt up to maxbackoff. */
  backoff: number;
  maxbackoff: number;
  /** Attempts before a delivery is dead. */
  attempts: number;
  concurrency: number;
}

export interface WorkerDeps {
  /** Where webhooks may connect to; configured endpoints (the operator's own) are not guarded. */
  guard: OutboundGuard;
  /** The time of due dates, backoff, claims and the log (ms); tests advance it instead of waiting. */
  now: () => number;
  /** A last check before sending (personal webhooks: may the owner still see the repository?). */
  mayDeliver?: (hook: Webhook, d: Delivery) => Promise<boolean>;
  /** Told how each attempt ended (metrics): delivered, failed (to be retried) or dead (the last one failed). */
  onAttempt?: (outcome: 'delivered' | 'failed' | 'dead') => void;
}

export interface WorkerLog {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Retry delay after `attempt` failed attempts: base·2^(attempt-1), capped, with equal jitter (half fixed, half random). */
export function backoffDelay(attempt: number, base: number, max: number, random = Math.random): number {
  const full = Math.min(max, base * 2 ** Math.min(attempt - 1, 40));
  return Math.round(full / 2 + random() * (full / 2));
}

const RETENTION_MS = 30 * 24 * 3600_000;
const PRUNE_EVERY_MS = 3600_000;
export const USER_AGENT = 'Berth-Webhooks/1';

export class DeliveryWorker {
  private timer: NodeJS.Timeout | undefined;
  private dueAt = Infinity;
  private running = false;
  private ticking = false;
  private again = false;
  private readonly inflight = new Set<Promise<void>>();
  private lastPrune = 0;
  /** When the worker last said the database was down (wall clock). */
  private downLoggedAt = 0;
  /** When a local change last queued deliveries: poll quickly for a moment (its commit may still be syncing). */
  private nudgedAt = 0;
  /** Attempts started and finished by this worker (drain counts them). */
  private started = 0;
  private finished = 0;
  private readonly now: () => number;
  private readonly guard: OutboundGuard;
  private readonly mayDeliver: (hook: Webhook, d: Delivery) => Promise<boolean>;
  private readonly onAttempt: (outcome: 'delivered' | 'failed' | 'dead') => void;

  constructor(
    private readonly store: WebhookStore,
    private readonly meta: MetadataDb,
    private readonly settings: WorkerSettings,
    private readonly log: WorkerLog,
    deps: WorkerDeps,
  ) {
    this.now = deps.now;
    this.guard = deps.guard;
    this.mayDeliver = deps.mayDeliver ?? (async () => true);
    this.onAttempt = deps.onAttempt ?? (() => {});
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Something was queued: look soon (the queuing transaction may still be committing). */
  nudge(): void {
    this.nudgedAt = Date.now();
    if (this.running) this.schedule(10);
  }

  /** Stops polling and waits for requests in flight (each ends within the timeout). */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.idle();
  }

  /**
   * Delivers until no delivery is due (by this worker's clock) and none is in flight, and
   * returns the number of attempts finished meanwhile. Tests drain instead of sleeping, so
   * "nothing else arrives" is checked, not hoped for.
   */
  async drain(): Promise<number> {
    if (!this.running) throw new Error('the webhook worker is not running');
    const before = this.finished;
    for (let stuck = 0; ; ) {
      await this.idle();
      if ((await this.store.due(this.now(), 1)).length === 0) {
        await this.idle(); // a timer's poll may have started meanwhile
        return this.finished - before;
      }
      const started = this.started;
      await this.tick();
      stuck = this.started === started ? stuck + 1 : 0;
      if (stuck > 100) throw new Error('webhook deliveries stay due but none could be claimed');
    }
  }

  /** When the next pending delivery falls due (its retry time, or when its claim expires), if any. */
  nextDueAt(): Promise<number | null> {
    return this.store.nextDueAt();
  }

  private async idle(): Promise<void> {
    while (this.ticking || this.inflight.size > 0) {
      await Promise.allSettled([...this.inflight]);
      if (this.ticking) await new Promise((r) => setTimeout(r, 5));
    }
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    const at = Date.now() + ms;
    if (this.timer && this.dueAt <= at) return;
    clearTimeout(this.timer);
    this.dueAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.dueAt = Infinity;
      void this.tick();
    }, ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    try {
      const free = this.settings.concurrency - this.inflight.size;
      if (free > 0 && this.running) {
        const now = this.now();
        // A few more than we can take: other workers may win some of them.
        for (const id of await this.store.due(now, free * 2)) {
          if (!this.running || this.inflight.size >= this.settings.concurrency) break;
          const token = randomUUID();
          if (!(await this.store.claim(id, token, now, now + this.settings.timeout + 30_000))) continue;
          this.started++;
          const p: Promise<void> = this.deliver(id, token)
            .catch((err) => this.log.error({ err, delivery: id }, 'webhook delivery failed'))
            .finally(() => {
              this.inflight.delete(p);
              this.schedule(0);
            });
          this.inflight.add(p);
        }
      }
      const now = this.now();
      if (this.running && now - this.lastPrune > PRUNE_EVERY_MS) {
        this.lastPrune = now;
        await this.meta.transaction((tx) => this.store.prune(tx, now - RETENTION_MS), { durable: false });
      }
    } catch (err) {
      // A database outage fails every poll (each second): said once a minute, without a stack.
      const down = databaseUnavailable(err);
      if (!down) this.log.error({ err }, 'webhook worker poll failed');
      else if (Date.now() - this.downLoggedAt > 60_000) {
        this.downLoggedAt = Date.now();
        this.log.warn({ unavailable: down.message }, 'webhook worker waits for the database');
      }
    } finally {
      this.ticking = false;
      const soon = Date.now() - this.nudgedAt < 1000 ? Math.min(50, this.settings.interval) : this.settings.interval;
      this.schedule(this.again ? 0 : soon);
      this.again = false;
    }
  }

  private async deliver(id: number, token: string): Promise<void> {
    const d = await this.store.delivery(id);
    if (!d) return;
    const hook = await this.store.get(d.webhookId);
    if (!hook) return; // deleted with its deliveries
    let result: PostResult;
    let skip: string | null = null;
    if (!hook.active) skip = 'the webhook is inactive';
    else if (!(await this.mayDeliver(hook, d))) skip = "the webhook's owner may not see the repository";
    if (skip) {
      result = { statusCode: null, error: skip, responseBody: null, durationMs: 0 };
    } else {
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(hook.options.headers ?? {})) headers[k] = v;
      // Receivers check this against their own clock: wall time, not the worker's.
      const sentAt = Math.floor(Date.now() / 1000);
      Object.assign(headers, {
        'Content-Type': d.contentType,
        'User-Agent': USER_AGENT,
        'Berth-Event': d.eventType,
        'Berth-Delivery': d.uuid,
        'Berth-Hook-Id': String(hook.id),
        ...(hook.secret ? { 'Berth-Signature': signatureHeader(hook.secret, sentAt, d.body) } : {}),
      });
      const timeout = Math.min(hook.options.timeout ?? this.settings.timeout, this.settings.timeout);
      result = await post(hook.url, headers, d.body, timeout, hook.scopeKind === 'config' ? null : this.guard);
      if (result.refused) this.log.warn({ delivery: d.uuid, webhook: hook.id, address: result.refused.address }, 'webhook destination refused');
    }
    const ok = !skip && result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    const now = this.now();
    const attempts = d.attempts + (skip ? 0 : 1);
    let status: DeliveryStatus;
    if (skip) status = 'skipped';
    else if (ok) status = 'delivered';
    // A refused destination stays refused: no retries (a redelivery tries again, say after the allow-list changed).
    else if (attempts >= this.settings.attempts || result.refused) status = 'dead';
    else status = 'pending';
    const nextAttemptAt = status === 'pending' ? now + backoffDelay(attempts, this.settings.backoff, this.settings.maxbackoff) : now;
    const error = result.refused
      ? `refused: ${result.refused.reason}; an administrator can allow it in notifications.webhooks.allow`
      : (result.error ??
        (ok ? null : `HTTP ${result.statusCode}${result.statusCode! >= 300 && result.statusCode! < 400 ? ' (redirects are not followed)' : ''}`));
    const stillOurs = await this.meta.transaction((tx) =>
      this.store.finish(
        tx,
        id,
        token,
        { at: now - result.durationMs, durationMs: result.durationMs, statusCode: result.statusCode, error, responseBody: result.responseBody, ok },
        { status, attempts, nextAttemptAt, finishedAt: status === 'pending' ? null : now },
      ),
    );
    this.finished++;
    if (!skip) this.onAttempt(status === 'delivered' ? 'delivered' : status === 'dead' ? 'dead' : 'failed');
    if (!stillOurs) this.log.warn({ delivery: d.uuid }, 'webhook delivery claim expired before the attempt finished');
    if (status === 'dead') this.log.warn({ delivery: d.uuid, webhook: hook.id, error }, 'webhook delivery dead after the last attempt');
  }
}
