// Runs retention policies: gathers a policy's facts (a few queries per namespace), evaluates them
// (evaluate.ts, pure) and, unless it is a dry run, applies the plan through the registry's own
// delete path (ManifestService.deleteIf): each deletion one transaction with its events, tag
// history and quota usage, re-checking in it that the facts still hold. Scheduled runs claim each
// due policy with a lease in the database, so two replicas never run one policy at once.
import { randomUUID } from 'node:crypto';
import { RegistryError } from '../errors/catalog.js';
import type { ImmutableTagRuleStore } from '../metadata/immutable-tag-rules.js';
import type { GatheredManifest, RetentionPolicy, RetentionStore, RunSummary } from '../metadata/retention-store.js';
import { parseDigest } from '../oci/digest.js';
import type { Origin } from '../registry/events.js';
import type { ManifestService } from '../registry/manifests.js';
import { evaluateRepository, type RepositoryPlan, type TagDeletion } from './evaluate.js';
import { parseRule } from './rules.js';

export interface RunResult {
  policy: string;
  dryRun: boolean;
  at: number;
  tags: (TagDeletion & { repository: string })[];
  manifests: { repository: string; digest: string; size: number }[];
  protected: { repository: string; tag: string; rule: string }[];
  kept: number;
  /** What collection frees once the deleted manifests go (their bodies and the blobs nothing else uses). */
  bytes: number;
}

/** A real run asked for while a replica runs the policy. */
export class RetentionBusyError extends Error {}

export interface RetentionRunnerDeps {
  store: RetentionStore;
  immutable: ImmutableTagRuleStore;
  manifests: Pick<ManifestService, 'deleteIf'>;
  now: () => number;
  /** retention.interval: how long after its last run a policy is due (ms). */
  interval: number;
  log?: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/** How long a claim holds: a replica that dies mid-run delays the policy by this much at most. */
export const RETENTION_LEASE_MS = 30 * 60_000;
/** A long run renews its claim this often, so it never outlives the lease and overlaps another replica. */
const RENEW_EVERY_MS = RETENTION_LEASE_MS / 3;

export class RetentionRunner {
  constructor(private readonly d: RetentionRunnerDeps) {}

  /** The policy's plan per repository, as of now. */
  private async plan(policy: RetentionPolicy, now: number): Promise<RepositoryPlan<GatheredManifest>[]> {
    const rules = policy.rules.map(parseRule);
    const [facts, immutable] = await Promise.all([this.d.store.facts(policy.namespace, policy.repository), this.d.immutable.forNamespace(policy.namespace)]);
    return facts.map((repo) => evaluateRepository(repo, rules, immutable, now));
  }

  /** Runs the policy now (on demand); a real run claims it first and records its summary. */
  async run(policy: RetentionPolicy, dryRun: boolean): Promise<RunResult> {
    if (dryRun) return this.evaluate(policy, null);
    const token = randomUUID();
    if (!(await this.d.store.claim(policy.id, token, this.d.now(), RETENTION_LEASE_MS))) throw new RetentionBusyError(`policy ${policy.name} is running`);
    return this.runClaimed(policy, token);
  }

  /** The scheduled job: every enabled policy that is due and not held by another replica. */
  async runDue(): Promise<RunResult[]> {
    const token = randomUUID();
    const results: RunResult[] = [];
    for (const policy of await this.d.store.claimDue(this.d.now(), this.d.interval, token, RETENTION_LEASE_MS)) {
      try {
        results.push(await this.runClaimed(policy, token));
      } catch (err) {
        this.d.log?.error({ err, namespace: policy.namespace, policy: policy.name }, 'retention: the policy failed');
      }
    }
    return results;
  }

  private async runClaimed(policy: RetentionPolicy, token: string): Promise<RunResult> {
    let summary: RunSummary | null = null;
    try {
      const r = await this.evaluate(policy, token);
      summary = { at: r.at, dryRun: false, tagsDeleted: r.tags.length, manifestsDeleted: r.manifests.length, bytes: r.bytes, protected: r.protected.length };
      if (summary.tagsDeleted + summary.manifestsDeleted > 0)
        this.d.log?.info({ retention: { namespace: policy.namespace, policy: policy.name, ...summary } }, 'retention');
      return r;
    } finally {
      await this.d.store.finish(policy.id, token, summary);
    }
  }

  /** A dry run without a claim (`token` null); a real run under the claim `token`. */
  private async evaluate(policy: RetentionPolicy, token: string | null): Promise<RunResult> {
    const at = this.d.now();
    const plans = await this.plan(policy, at);
    const result: RunResult = { policy: policy.name, dryRun: token === null, at, tags: [], manifests: [], protected: [], kept: 0, bytes: 0 };
    for (const p of plans) {
      result.kept += p.kept;
      for (const x of p.protected) result.protected.push({ repository: p.repository, ...x });
    }
    if (token === null) {
      for (const p of plans) {
        for (const t of p.tags) result.tags.push({ repository: p.repository, ...t });
        for (const m of p.manifests) result.manifests.push({ repository: p.repository, digest: m.digest, size: m.size });
      }
      result.bytes = await this.d.store.freedBytes(plans.flatMap((p) => p.manifests));
      return result;
    }
    const deleted = await this.apply(policy, plans, result, token);
    // Counted after the deletions: the deleted rows are gone, so only what remains holds bytes back.
    result.bytes = await this.d.store.freedBytes(deleted);
    return result;
  }

  /** Deletes what the plans list, each in its own transaction; returns the manifests deleted. */
  private async apply(policy: RetentionPolicy, plans: RepositoryPlan<GatheredManifest>[], result: RunResult, token: string): Promise<GatheredManifest[]> {
    const origin: Origin = { actor: 'retention', retention: { namespace: policy.namespace, policy: policy.name } };
    const { store } = this.d;
    const deleted: GatheredManifest[] = [];
    let renewed = this.d.now();
    const holdClaim = async () => {
      const now = this.d.now();
      if (now - renewed < RENEW_EVERY_MS) return;
      if (!(await store.renew(policy.id, token, now, RETENTION_LEASE_MS)))
        throw new RetentionBusyError(`policy ${policy.name}: the claim expired and another replica took it`);
      renewed = now;
    };
    for (const p of plans) {
      for (const t of p.tags) {
        await holdClaim();
        try {
          const r = await this.d.manifests.deleteIf(p.repository, { tag: t.tag }, origin, (tx, id) => store.tagAt(tx, id, t.tag, t.digest));
          if (r === 'deleted') result.tags.push({ repository: p.repository, ...t });
        } catch (err) {
          // An immutable-tag rule made since the facts were read: protected, not a failure.
          const rule = immutableRule(err);
          if (rule === null) throw err;
          result.protected.push({ repository: p.repository, tag: t.tag, rule });
        }
      }
      const untaggedMs = p.untaggedMs ?? 0;
      for (const m of p.manifests) {
        await holdClaim();
        const r = await this.d.manifests.deleteIf(p.repository, { digest: parseDigest(m.digest) }, origin, (tx, id) =>
          store.stillUntagged(tx, id, m.digest, this.d.now() - untaggedMs),
        );
        if (r !== 'deleted') continue;
        result.manifests.push({ repository: p.repository, digest: m.digest, size: m.size });
        deleted.push(m);
      }
    }
    return deleted;
  }
}

/** The rule named by an immutable-tag refusal (tag-rules.ts), or null for any other error. */
function immutableRule(err: unknown): string | null {
  if (!(err instanceof RegistryError) || err.code !== 'DENIED') return null;
  const rule = (err.detail as { rule?: unknown } | undefined)?.rule;
  return typeof rule === 'string' ? rule : null;
}
