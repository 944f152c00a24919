// Runs replication policies. A run claims its policy with a lease in the database (renewed while
// it lasts), so two replicas never run one policy at once; each run is a row with its status and
// counts. A full run (manual, or a scheduled policy that is due) copies every selected tag from
// source to target — this Berth to the remote for push policies, the remote to this Berth for
// pull policies — and, when the policy replicates deletes, removes the selected tags the source
// no longer has. An event-triggered push policy instead drains the tasks that pushes and deletes
// queued (sink.ts), retrying each failed one later with backoff. Items that fail are retried a few
// times within a run too; a run that keeps failing stops and says why.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReplicationPolicy, ReplicationRun, ReplicationStore, ReplicationTask } from '../metadata/replication-store.js';
import type { Origin } from '../registry/events.js';
import { UpstreamError } from '../upstream/errors.js';
import { Copier, type RegistrySide } from './copier.js';
import { localName, remoteName, repositoryWanted, tagWanted } from './policy-fields.js';
import type { ReplicationTrigger } from './schema.js';

/** A run asked for while a replica runs the policy (409). */
export class ReplicationBusyError extends Error {
  readonly busy = true;
}
export class ReplicationNotFoundError extends Error {}

export interface ReplicationSettings {
  /** Attempts of a queued task before it is given up. */
  attempts: number;
  /** First retry delay (ms), doubled per attempt up to maxbackoff. */
  backoff: number;
  maxbackoff: number;
}

export interface ReplicationRunnerDeps {
  store: ReplicationStore;
  /** This Berth, writing as `origin` (LocalRegistry). */
  local(origin: Origin): RegistrySide;
  /** The policy's remote registry (the upstream client, through the outbound guard). */
  remote(policy: ReplicationPolicy, credentials: { username: string; password: string } | null): RegistrySide & { close(): void };
  now: () => number;
  settings: ReplicationSettings;
  /** How long a claim holds without renewal (REPLICATION_LEASE_MS; shorter in tests). */
  leaseMs?: number;
  log?: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/** How long a claim holds: a replica that dies mid-run delays the policy by this much at most. */
export const REPLICATION_LEASE_MS = 60_000;
/** Tries of one item within a run. */
const ITEM_ATTEMPTS = 3;
/** A run stops after this many items in a row failed (the remote is down, say). */
const MAX_FAILURES_IN_A_ROW = 3;
/** Tasks one pass of the job takes per policy. */
const TASK_BATCH = 100;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

class LeaseLostError extends Error {}

/** The work of one claimed run: the claim, the counts, the two sides. */
class RunContext {
  private saved = 0;
  private lost: string | null = null;
  private readonly keepAlive: NodeJS.Timeout;
  failuresInARow = 0;
  lastError: string | null = null;

  constructor(
    readonly policy: ReplicationPolicy,
    readonly owner: string,
    readonly run: ReplicationRun,
    readonly source: RegistrySide,
    readonly target: RegistrySide,
    readonly copier: Copier,
    private readonly d: ReplicationRunnerDeps,
  ) {
    // Renewed on a timer, not between items: one large blob may take longer than the lease.
    this.keepAlive = setInterval(() => void this.renew(), this.leaseMs / 3);
    this.keepAlive.unref();
  }

  private get leaseMs(): number {
    return this.d.leaseMs ?? REPLICATION_LEASE_MS;
  }

  private async renew(): Promise<void> {
    try {
      if (!(await this.d.store.renew(this.policy.id, this.owner, this.d.now(), this.leaseMs)))
        this.lost = `the claim on policy ${this.policy.name} expired and another replica took it`;
    } catch {
      // The database is unreachable: the next renewal tries again, and the lease outlives two misses.
    }
  }

  /** Throws once the claim was lost, so the run stops before its next item. */
  hold(): void {
    if (this.lost) throw new LeaseLostError(this.lost);
  }

  stop(): void {
    clearInterval(this.keepAlive);
  }

  /** Records the counts so far, at most once a second. */
  async progress(): Promise<void> {
    const now = this.d.now();
    if (now - this.saved < 1000) return;
    this.saved = now;
    await this.d.store.saveRun(this.run);
  }

  failed(err: unknown, what: string): void {
    this.run.failed++;
    this.failuresInARow++;
    this.lastError = `${what}: ${message(err)}`;
  }
}

export class ReplicationRunner {
  /** Runs of this process, by run id, so callers can wait for them and close waits for all. */
  private readonly active = new Map<number, Promise<ReplicationRun>>();
  /** When runs left 'running' by a replica that died were last marked failed. */
  private abandonedCheck = 0;

  private readonly leaseMs: number;

  constructor(private readonly d: ReplicationRunnerDeps) {
    this.leaseMs = d.leaseMs ?? REPLICATION_LEASE_MS;
  }

  /** Starts a full run of the policy now (on demand); returns its row, status 'running'. */
  async runNow(policyId: number, trigger: ReplicationTrigger = 'manual'): Promise<ReplicationRun> {
    const policy = await this.d.store.get(policyId);
    if (!policy) throw new ReplicationNotFoundError(`no replication policy ${policyId}`);
    const owner = randomUUID();
    if (!(await this.d.store.claim(policy.id, owner, this.d.now(), this.leaseMs))) throw new ReplicationBusyError(`policy ${policy.name} is running`);
    return this.start(policy, owner, trigger, 'full');
  }

  /** A run started here, once it has finished (null when it is not one of this process's runs). */
  async finished(runId: number): Promise<ReplicationRun | null> {
    return (await this.active.get(runId)) ?? null;
  }

  /** runNow, then its end. */
  async runAndWait(policyId: number, trigger: ReplicationTrigger = 'manual'): Promise<ReplicationRun> {
    const run = await this.runNow(policyId, trigger);
    return (await this.finished(run.id)) ?? run;
  }

  /**
   * The job: claims every enabled policy with work (a scheduled one that is due, an
   * event-triggered one with due tasks) that no replica holds, and starts its run.
   */
  async runDue(): Promise<void> {
    const now = this.d.now();
    if (now - this.abandonedCheck >= this.leaseMs) {
      this.abandonedCheck = now;
      await this.d.store.failAbandonedRuns(now);
    }
    const owner = randomUUID();
    for (const policy of await this.d.store.claimDue(now, owner, this.leaseMs)) {
      const full = policy.trigger === 'schedule' && policy.nextRunAt !== null && policy.nextRunAt <= now;
      await this.start(policy, owner, full ? 'schedule' : 'event', full ? 'full' : 'tasks').catch((err) =>
        this.d.log?.error({ err, policy: policy.name }, 'replication: the run did not start'),
      );
    }
  }

  /** Waits for the runs in progress here (the app's close). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.active.values()]);
  }

  private async start(policy: ReplicationPolicy, owner: string, trigger: ReplicationTrigger, mode: 'full' | 'tasks'): Promise<ReplicationRun> {
    let run: ReplicationRun;
    try {
      run = await this.d.store.startRun(policy.id, trigger);
    } catch (err) {
      await this.d.store.release(policy.id, owner).catch(() => {});
      throw err;
    }
    const done = this.execute(policy, owner, run, mode)
      .catch((err) => {
        // Recording the end failed (the database went away): the lease expires and the run is marked failed later.
        this.d.log?.error({ err, policy: policy.name, run: run.id }, 'replication: the run could not be recorded');
        return { ...run, status: 'failed' as const, error: message(err) };
      })
      .finally(() => this.active.delete(run.id));
    this.active.set(run.id, done);
    return { ...run };
  }

  private async execute(policy: ReplicationPolicy, owner: string, run: ReplicationRun, mode: 'full' | 'tasks'): Promise<ReplicationRun> {
    let remote: (RegistrySide & { close(): void }) | null = null;
    let fatal: string | null = null;
    let ctx: RunContext | null = null;
    try {
      remote = this.d.remote(policy, await this.d.store.credentials(policy.id));
      const local = this.d.local({ actor: `replication:${policy.name}` });
      const [source, target] = policy.direction === 'push' ? [local, remote] : [remote, local];
      ctx = new RunContext(policy, owner, run, source, target, new Copier(source, target, run), this.d);
      if (mode === 'full') await this.fullRun(ctx);
      else await this.drainTasks(ctx);
    } catch (err) {
      fatal = message(err);
      if (!(err instanceof LeaseLostError)) this.d.log?.error({ err, policy: policy.name }, 'replication: the run failed');
    } finally {
      ctx?.stop();
      remote?.close();
    }
    run.finishedAt = this.d.now();
    run.error = fatal ?? ctx?.lastError ?? null;
    const done = run.copied + run.skipped + run.deleted;
    run.status = fatal !== null ? (done > 0 ? 'partial' : 'failed') : run.failed === 0 ? 'succeeded' : done > 0 ? 'partial' : 'failed';
    try {
      await this.d.store.saveRun(run);
    } finally {
      const next = mode === 'full' && run.trigger === 'schedule' && policy.intervalMs !== null ? run.finishedAt + policy.intervalMs : undefined;
      await this.d.store.release(policy.id, owner, next);
    }
    if (run.copied + run.deleted + run.failed > 0) {
      this.d.log?.info(
        {
          replication: { policy: policy.name, run: run.id, status: run.status, copied: run.copied, deleted: run.deleted, failed: run.failed, bytes: run.bytes },
        },
        'replication',
      );
    }
    return { ...run };
  }

  /** Every selected repository and tag of the source, copied; with deletes, the target's extra selected tags removed. */
  private async fullRun(ctx: RunContext): Promise<void> {
    const { policy, source, target, copier } = ctx;
    const coveredTasks = await this.d.store.lastTaskId(policy.id);
    const pairs = (await this.sourceRepositories(ctx)).flatMap((name) => {
      const local = policy.direction === 'push' ? name : localName(policy.remotePrefix, name);
      if (local === null || !repositoryWanted(policy, local)) return [];
      return [policy.direction === 'push' ? { src: name, dst: remoteName(policy.remotePrefix, name) } : { src: name, dst: local }];
    });
    for (const { src, dst } of pairs) {
      // Referrers tag-schema indexes are not copied as tags: the copier rewrites them where a target needs them.
      const tags = (await this.retrying(() => source.tags(src))).filter((t) => tagWanted(policy, t) && !isReferrersTag(t));
      for (const tag of tags) {
        await this.item(ctx, `${src}:${tag}`, () => copier.copy(src, dst, tag));
      }
      if (policy.replicateDeletes) {
        const keep = new Set(tags);
        const extra = (await this.retrying(() => target.tags(dst))).filter((t) => tagWanted(policy, t) && !keep.has(t) && !isReferrersTag(t));
        for (const tag of extra) await this.item(ctx, `delete ${dst}:${tag}`, () => this.deleteTag(ctx, dst, tag));
      }
    }
    // The copies queued before this run are done (or failed and recorded) by it.
    await this.d.store.removeCopiesThrough(policy.id, coveredTasks);
  }

  /**
   * The source's repository names. A pull policy whose repositories are all plain names (no
   * wildcard) needs no catalog; one with wildcards needs the remote's catalog, which some
   * registries do not offer (Docker Hub): then only its plain names are copied, or the run
   * fails saying why.
   */
  private async sourceRepositories(ctx: RunContext): Promise<string[]> {
    const { policy, source } = ctx;
    if (policy.direction === 'push') return this.retrying(() => source.catalog());
    const plain = policy.repositories.filter((g) => !/[*?[\]{}()+@|^!]/.test(g)).map((name) => remoteName(policy.remotePrefix, name));
    if (plain.length === policy.repositories.length) return plain;
    try {
      return await this.retrying(() => source.catalog());
    } catch (err) {
      if (!(err instanceof UpstreamError) || err.kind === 'unavailable') throw err;
      if (plain.length > 0) return plain;
      throw new Error(`the remote registry does not list its repositories (${err.message}): name the repositories to copy without wildcards`);
    }
  }

  /** One item of a full run, tried a few times; its failure is counted, and too many in a row end the run. */
  private async item(ctx: RunContext, what: string, fn: () => Promise<unknown>): Promise<void> {
    ctx.hold();
    try {
      await this.retrying(fn);
      ctx.failuresInARow = 0;
    } catch (err) {
      if (err instanceof LeaseLostError) throw err;
      ctx.failed(err, what);
      if (ctx.failuresInARow >= MAX_FAILURES_IN_A_ROW) throw new Error(`stopped after ${ctx.failuresInARow} failures in a row; last: ${ctx.lastError}`);
    }
    await ctx.progress();
  }

  private backoff(attempt: number, err?: unknown): number {
    const ms = Math.min(this.d.settings.backoff * 2 ** Math.max(0, attempt - 1), this.d.settings.maxbackoff);
    const after = err instanceof UpstreamError && err.retryAfter !== undefined ? Math.min(err.retryAfter * 1000, this.d.settings.maxbackoff) : 0;
    return Math.max(ms, after);
  }

  /** Runs `fn`, trying again after a pause when it fails in a way that may pass. */
  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (attempt >= ITEM_ATTEMPTS || !mayPass(err)) throw err;
        // Pacing on wall time, as the job runner's timers do.
        await sleep(this.backoff(attempt, err));
      }
    }
  }

  /** The due tasks of an event-triggered policy: each done, or retried later with backoff, or given up. */
  private async drainTasks(ctx: RunContext): Promise<void> {
    const { policy } = ctx;
    const tasks = await this.d.store.dueTasks(policy.id, this.d.now(), TASK_BATCH);
    for (const task of tasks) {
      ctx.hold();
      // Queued before the policy changed: what it no longer selects (or a policy that now pulls) is dropped.
      const tagged = !task.reference.includes(':') && task.reference !== '';
      if (
        policy.direction !== 'push' ||
        !repositoryWanted(policy, task.repository) ||
        (tagged && !tagWanted(policy, task.reference)) ||
        (task.kind === 'delete' && !policy.replicateDeletes)
      ) {
        await this.d.store.removeTasks([task.id]);
        continue;
      }
      try {
        await this.task(ctx, task);
        await this.d.store.removeTasks([task.id]);
      } catch (err) {
        if (err instanceof LeaseLostError) throw err;
        ctx.failed(err, `${task.kind} ${task.repository}${task.reference ? `:${task.reference}` : ''}`);
        const attempts = task.attempts + 1;
        if (attempts >= this.d.settings.attempts) {
          await this.d.store.removeTasks([task.id]);
          ctx.lastError = `${ctx.lastError} (given up after ${attempts} attempt${attempts === 1 ? '' : 's'})`;
        } else {
          await this.d.store.retryTask(task.id, this.d.now() + this.backoff(attempts, err), ctx.lastError ?? '');
        }
      }
      await ctx.progress();
    }
  }

  private async task(ctx: RunContext, task: ReplicationTask): Promise<void> {
    const { policy, copier } = ctx;
    const dst = remoteName(policy.remotePrefix, task.repository);
    if (task.kind === 'copy') {
      // A push by digest only matters for a referrer of something already replicated; index children come with their index.
      if (task.reference.includes(':')) await copier.copyReferrer(task.repository, dst, task.reference);
      else await copier.copy(task.repository, dst, task.reference);
      return;
    }
    if (task.reference === '') {
      // The whole repository went: its selected tags go on the remote.
      const tags = (await ctx.target.tags(dst)).filter((t) => tagWanted(policy, t));
      for (const tag of tags) await this.deleteTag(ctx, dst, tag);
      return;
    }
    if (task.reference.includes(':')) {
      if (await ctx.target.deleteManifest(dst, task.reference)) ctx.run.deleted++;
      else ctx.run.skipped++;
      return;
    }
    await this.deleteTag(ctx, dst, task.reference);
  }

  /**
   * Deletes a tag on the target. A registry that cannot delete tags (registry:2 answers 400 or
   * 405) loses the manifest the tag points at instead, as the OCI spec's clients do.
   */
  private async deleteTag(ctx: RunContext, repo: string, tag: string): Promise<void> {
    try {
      if (await ctx.target.deleteManifest(repo, tag)) ctx.run.deleted++;
      else ctx.run.skipped++;
      return;
    } catch (err) {
      if (!(err instanceof UpstreamError) || (err.status !== 400 && err.status !== 405)) throw err;
    }
    const head = await ctx.target.headManifest(repo, tag);
    if (head && (await ctx.target.deleteManifest(repo, head.digest))) ctx.run.deleted++;
    else ctx.run.skipped++;
  }
}

/** Errors worth another try: the remote unavailable (connect error, timeout, 5xx, 429). */
function mayPass(err: unknown): boolean {
  if (err instanceof UpstreamError) return err.kind === 'unavailable';
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^E(CONNRESET|CONNREFUSED|PIPE|TIMEDOUT)$/.test(code);
}

/** The referrers tag schema's tags (sha256-<hex>): written by the copier, not replicated deletes. */
function isReferrersTag(tag: string): boolean {
  return /^sha(256|512)-[0-9a-f]{64,128}$/.test(tag);
}
