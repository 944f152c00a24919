// Replication policies, their runs and their queue of event-triggered tasks (src/replication/).
// Remote passwords are stored sealed (AES-256-GCM, a key derived from auth.token.signingkeysecret,
// bound to the policy's id); what this store returns never holds one, only `hasPassword`. A run
// claims its policy with a lease (a conditional UPDATE), so replicas never run one policy at once.
import type { ExpressionBuilder, Selectable } from 'kysely';
import type { KeySealer } from '../token/key-sealer.js';
import type { MetadataDb, Tx } from './database.js';
import type { Database } from './schema.js';
import {
  invalidPolicy,
  normalizeRemoteUrl,
  withDefaults,
  type NewReplicationPolicy,
  type ReplicationPolicyFields,
  type ReplicationPolicyPatch,
} from '../replication/policy-fields.js';
import type { ReplicationPoliciesTable, ReplicationRunsTable, ReplicationTrigger, RunStatus, TaskKind } from '../replication/schema.js';

export interface ReplicationRun {
  id: number;
  policyId: number;
  trigger: ReplicationTrigger;
  startedAt: number;
  finishedAt: number | null;
  status: RunStatus;
  /** Manifests (and their blobs) copied, tags and manifests already there, items that failed, deletes made. */
  copied: number;
  skipped: number;
  failed: number;
  deleted: number;
  /** Blob bytes transferred. */
  bytes: number;
  error: string | null;
}

export interface ReplicationPolicy extends ReplicationPolicyFields {
  id: number;
  hasPassword: boolean;
  createdBy: string | null;
  createdAt: number;
  updatedAt: number;
  /** When a scheduled policy runs next. */
  nextRunAt: number | null;
  /** A replica runs it now (its lease holds). */
  running: boolean;
  lastRun: ReplicationRun | null;
}

export interface ReplicationTask {
  id: number;
  policyId: number;
  repository: string;
  reference: string;
  digest: string | null;
  kind: TaskKind;
  attempts: number;
}

/** A task the event sink queues. */
export type NewReplicationTask = Pick<ReplicationTask, 'policyId' | 'repository' | 'reference' | 'digest' | 'kind'>;

/** What a caller got wrong (400), a name in use (409), or a password with no secret to seal it (400). */
export class ReplicationPolicyError extends Error {
  constructor(
    readonly kind: 'invalid' | 'taken' | 'no-secret',
    message: string,
  ) {
    super(message);
  }
}

/** The HKDF purpose of the replication credentials key: never opens a signing key, nor the reverse. */
export const REPLICATION_CREDENTIALS = { info: 'replication credentials v1', what: 'the password of replication policy' } as const;

const MAX_PASSWORD = 4096;
const aad = (id: number) => String(id);

type PolicyRow = Selectable<ReplicationPoliciesTable>;
type RunRow = Selectable<ReplicationRunsTable>;

const num = (v: unknown) => Number(v);
const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));

function runOf(r: RunRow): ReplicationRun {
  return {
    id: num(r.id),
    policyId: num(r.policy_id),
    trigger: r.trigger,
    startedAt: num(r.started_at),
    finishedAt: numOrNull(r.finished_at),
    status: r.status,
    copied: num(r.copied),
    skipped: num(r.skipped),
    failed: num(r.failed),
    deleted: num(r.deleted),
    bytes: num(r.bytes),
    error: r.error,
  };
}

function fieldsOf(r: PolicyRow): ReplicationPolicyFields {
  return {
    name: r.name,
    direction: r.direction,
    remoteUrl: r.remote_url,
    remoteUsername: r.remote_username,
    repositories: JSON.parse(r.repositories) as string[],
    tags: JSON.parse(r.tags) as string[],
    excludeRepositories: JSON.parse(r.exclude_repositories) as string[],
    excludeTags: JSON.parse(r.exclude_tags) as string[],
    remotePrefix: r.remote_prefix,
    trigger: r.trigger,
    intervalMs: numOrNull(r.interval_ms),
    replicateDeletes: num(r.replicate_deletes) === 1,
    enabled: num(r.enabled) === 1,
  };
}

function policyOf(r: PolicyRow, now: number, lastRun: ReplicationRun | null): ReplicationPolicy {
  return {
    id: num(r.id),
    ...fieldsOf(r),
    hasPassword: r.remote_password_sealed !== null,
    createdBy: r.created_by,
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    nextRunAt: numOrNull(r.next_run_at),
    running: r.lease_until !== null && num(r.lease_until) > now,
    lastRun,
  };
}

function columnsOf(f: ReplicationPolicyFields) {
  return {
    name: f.name,
    direction: f.direction,
    remote_url: f.remoteUrl,
    remote_username: f.remoteUsername,
    repositories: JSON.stringify(f.repositories),
    tags: JSON.stringify(f.tags),
    exclude_repositories: JSON.stringify(f.excludeRepositories),
    exclude_tags: JSON.stringify(f.excludeTags),
    remote_prefix: f.remotePrefix,
    trigger: f.trigger,
    interval_ms: f.intervalMs,
    replicate_deletes: f.replicateDeletes ? 1 : 0,
    enabled: f.enabled ? 1 : 0,
  };
}

/** Validated fields, the URL in its stored form; throws ReplicationPolicyError('invalid'). */
function checked(f: ReplicationPolicyFields): ReplicationPolicyFields {
  const why = invalidPolicy(f);
  if (why) throw new ReplicationPolicyError('invalid', why);
  const out = { ...f, remoteUrl: normalizeRemoteUrl(f.remoteUrl) as string };
  if (out.trigger !== 'schedule') out.intervalMs = null;
  return out;
}

export class ReplicationStore {
  constructor(
    private readonly meta: MetadataDb,
    private readonly deps: {
      /** Seals remote passwords (auth.token.signingkeysecret under REPLICATION_CREDENTIALS); null refuses passwords. */
      sealer: KeySealer | null;
      now: () => number;
      /** Why a remote URL may not be used (an internal address the operator did not allow), or null. */
      urlRefusal?: (url: URL) => string | null;
    },
  ) {}

  private get db() {
    return this.meta.db;
  }

  // ---- policies ----

  private async lastRuns(tx: Tx, ids: number[]): Promise<Map<number, ReplicationRun>> {
    if (ids.length === 0) return new Map();
    const latest = tx
      .selectFrom('replication_runs')
      .select((eb) => eb.fn.max('id').as('id'))
      .where('policy_id', 'in', ids)
      .groupBy('policy_id');
    const rows = await tx.selectFrom('replication_runs').selectAll().where('id', 'in', latest).execute();
    return new Map(rows.map((r) => [num(r.policy_id), runOf(r)]));
  }

  private async policiesOf(tx: Tx, rows: PolicyRow[]): Promise<ReplicationPolicy[]> {
    const last = await this.lastRuns(
      tx,
      rows.map((r) => num(r.id)),
    );
    const now = this.deps.now();
    return rows.map((r) => policyOf(r, now, last.get(num(r.id)) ?? null));
  }

  async list(tx: Tx = this.db): Promise<ReplicationPolicy[]> {
    return this.policiesOf(tx, await tx.selectFrom('replication_policies').selectAll().orderBy('name').execute());
  }

  async get(id: number, tx: Tx = this.db): Promise<ReplicationPolicy | null> {
    const row = await tx.selectFrom('replication_policies').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? (await this.policiesOf(tx, [row]))[0] : null;
  }

  async getByName(name: string, tx: Tx = this.db): Promise<ReplicationPolicy | null> {
    const row = await tx.selectFrom('replication_policies').selectAll().where('name', '=', name).executeTakeFirst();
    return row ? (await this.policiesOf(tx, [row]))[0] : null;
  }

  private checkRemote(f: ReplicationPolicyFields): void {
    const why = this.deps.urlRefusal?.(new URL(f.remoteUrl));
    if (why) throw new ReplicationPolicyError('invalid', `remoteUrl: ${why}; an operator may allow it in replication.allow`);
  }

  private seal(id: number, password: string): string {
    if (!this.deps.sealer)
      throw new ReplicationPolicyError(
        'no-secret',
        'remote credentials are stored encrypted: set auth.token.signingkeysecret (or signingkeysecretfile) to store a password',
      );
    if (typeof password !== 'string' || password.length === 0 || password.length > MAX_PASSWORD)
      throw new ReplicationPolicyError('invalid', `remotePassword has 1 to ${MAX_PASSWORD} characters`);
    return this.deps.sealer.seal(aad(id), password);
  }

  /** Creates a policy (a scheduled one is due at once); throws ReplicationPolicyError. */
  async create(tx: Tx, input: NewReplicationPolicy, createdBy: string | null): Promise<ReplicationPolicy> {
    const f = checked(withDefaults(input));
    this.checkRemote(f);
    if (input.remotePassword && f.remoteUsername === null) throw new ReplicationPolicyError('invalid', 'remotePassword needs a remoteUsername');
    if (await this.getByName(f.name, tx)) throw new ReplicationPolicyError('taken', `a replication policy named "${f.name}" exists`);
    const now = this.deps.now();
    const { id } = await tx
      .insertInto('replication_policies')
      .values({ ...columnsOf(f), created_by: createdBy, created_at: now, updated_at: now, next_run_at: f.trigger === 'schedule' ? now : null })
      .returning('id')
      .executeTakeFirstOrThrow();
    if (input.remotePassword) {
      await tx
        .updateTable('replication_policies')
        .set({ remote_password_sealed: this.seal(num(id), input.remotePassword) })
        .where('id', '=', id)
        .execute();
    }
    return (await this.get(num(id), tx)) as ReplicationPolicy;
  }

  /** Changes the fields the patch names; null when there is no such policy; throws ReplicationPolicyError. */
  async update(tx: Tx, id: number, patch: ReplicationPolicyPatch): Promise<ReplicationPolicy | null> {
    const row = await tx.selectFrom('replication_policies').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return null;
    const { remotePassword, ...fields } = patch;
    const before = fieldsOf(row);
    const merged = { ...before, ...Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) } as ReplicationPolicyFields;
    if (merged.trigger === 'schedule' && merged.intervalMs === null) merged.intervalMs = withDefaults({ ...merged, intervalMs: undefined }).intervalMs;
    const f = checked(merged);
    this.checkRemote(f);
    const hasPassword = remotePassword === undefined ? row.remote_password_sealed !== null : remotePassword !== null;
    if (hasPassword && f.remoteUsername === null) throw new ReplicationPolicyError('invalid', 'remotePassword needs a remoteUsername');
    if (f.name !== before.name && (await this.getByName(f.name, tx)))
      throw new ReplicationPolicyError('taken', `a replication policy named "${f.name}" exists`);
    const now = this.deps.now();
    // A schedule that changes starts over: due now when it was just turned on, else one interval from now.
    const scheduleChanged = f.trigger !== before.trigger || f.intervalMs !== before.intervalMs || f.enabled !== before.enabled;
    await tx
      .updateTable('replication_policies')
      .set({
        ...columnsOf(f),
        updated_at: now,
        ...(remotePassword !== undefined ? { remote_password_sealed: remotePassword === null ? null : this.seal(id, remotePassword) } : {}),
        ...(scheduleChanged ? { next_run_at: f.trigger === 'schedule' ? now : null } : {}),
      })
      .where('id', '=', id)
      .execute();
    return this.get(id, tx);
  }

  /** Deletes the policy with its runs and queued tasks. */
  async delete(tx: Tx, id: number): Promise<boolean> {
    await tx.deleteFrom('replication_tasks').where('policy_id', '=', id).execute();
    await tx.deleteFrom('replication_runs').where('policy_id', '=', id).execute();
    const res = await tx.deleteFrom('replication_policies').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  /** The policy's remote credentials, opened (for the engine only; never returned by an API). */
  async credentials(id: number): Promise<{ username: string; password: string } | null> {
    const row = await this.db.selectFrom('replication_policies').select(['remote_username', 'remote_password_sealed']).where('id', '=', id).executeTakeFirst();
    if (!row?.remote_username || row.remote_password_sealed === null) return null;
    if (!this.deps.sealer) throw new ReplicationPolicyError('no-secret', 'the remote password is stored encrypted: set auth.token.signingkeysecret');
    return { username: row.remote_username, password: this.deps.sealer.open(aad(id), row.remote_password_sealed) };
  }

  // ---- runs ----

  /** The policy's runs, newest first. */
  async runs(policyId: number, limit = 50, tx: Tx = this.db): Promise<ReplicationRun[]> {
    const rows = await tx.selectFrom('replication_runs').selectAll().where('policy_id', '=', policyId).orderBy('id', 'desc').limit(limit).execute();
    return rows.map(runOf);
  }

  async run(id: number): Promise<ReplicationRun | null> {
    const row = await this.db.selectFrom('replication_runs').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? runOf(row) : null;
  }

  async startRun(policyId: number, trigger: ReplicationTrigger): Promise<ReplicationRun> {
    const row = await this.meta.transaction((tx) =>
      tx
        .insertInto('replication_runs')
        .values({ policy_id: policyId, trigger, started_at: this.deps.now(), status: 'running' })
        .returningAll()
        .executeTakeFirstOrThrow(),
    );
    return runOf(row);
  }

  /** Records a run's counts (as it goes, and at its end with its final status). */
  async saveRun(run: ReplicationRun): Promise<void> {
    await this.db
      .updateTable('replication_runs')
      .set({
        status: run.status,
        finished_at: run.finishedAt,
        copied: run.copied,
        skipped: run.skipped,
        failed: run.failed,
        deleted: run.deleted,
        bytes: run.bytes,
        error: run.error === null ? null : run.error.slice(0, 2000),
      })
      .where('id', '=', run.id)
      .execute();
  }

  /** Runs left 'running' by a replica that died (its lease expired): failed. */
  async failAbandonedRuns(now: number): Promise<void> {
    await this.db
      .updateTable('replication_runs')
      .set({ status: 'failed', finished_at: now, error: 'the replica running it stopped' })
      .where('status', '=', 'running')
      .where((eb) =>
        eb.not(
          eb.exists(
            eb.selectFrom('replication_policies as p').select('p.id').whereRef('p.id', '=', 'replication_runs.policy_id').where('p.lease_until', '>=', now),
          ),
        ),
      )
      .execute();
  }

  // ---- leases ----

  /**
   * Claims every enabled policy that has work and that no replica holds, in one conditional
   * UPDATE (of two replicas only one gets a policy): scheduled ones that are due, and those with
   * due tasks.
   */
  async claimDue(now: number, owner: string, leaseMs: number): Promise<ReplicationPolicy[]> {
    const due = (eb: ExpressionBuilder<Database, 'replication_policies'>) =>
      eb.and([
        eb('enabled', '=', 1),
        eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]),
        eb.or([
          eb.and([eb('trigger', '=', 'schedule'), eb('next_run_at', '<=', now)]),
          eb.exists(
            eb
              .selectFrom('replication_tasks as t')
              .select('t.id')
              .whereRef('t.policy_id', '=', 'replication_policies.id')
              .where('t.next_attempt_at', '<=', now),
          ),
        ]),
      ]);
    // A read first: most passes find nothing, and then no replica takes a write lock.
    const candidates = await this.db.selectFrom('replication_policies').select('id').where(due).execute();
    if (candidates.length === 0) return [];
    // The conditions again in the claiming UPDATE: another replica may have claimed or run one since.
    await this.db
      .updateTable('replication_policies')
      .set({ lease_owner: owner, lease_until: now + leaseMs })
      .where(
        'id',
        'in',
        candidates.map((c) => c.id),
      )
      .where(due)
      .execute();
    const rows = await this.db
      .selectFrom('replication_policies')
      .selectAll()
      .where('lease_owner', '=', owner)
      .where('lease_until', '>=', now)
      .orderBy('id')
      .execute();
    return this.policiesOf(this.db, rows);
  }

  /** Claims one policy for a run on demand, due or not; false when a replica holds it. */
  async claim(id: number, owner: string, now: number, leaseMs: number): Promise<boolean> {
    const res = await this.db
      .updateTable('replication_policies')
      .set({ lease_owner: owner, lease_until: now + leaseMs })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Extends a claim still held by `owner`; false when it was lost. */
  async renew(id: number, owner: string, now: number, leaseMs: number): Promise<boolean> {
    const res = await this.db
      .updateTable('replication_policies')
      .set({ lease_until: now + leaseMs })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Ends a claim; `nextRunAt` (a full run of a scheduled policy ended) moves the schedule on. */
  async release(id: number, owner: string, nextRunAt?: number): Promise<void> {
    await this.db
      .updateTable('replication_policies')
      .set({ lease_owner: null, lease_until: null, ...(nextRunAt !== undefined ? { next_run_at: nextRunAt } : {}) })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .execute();
  }

  /** A repository that may read the blob (a local mount source for pulled blobs), or null. */
  async repositoryWithBlob(digest: string): Promise<string | null> {
    const row = await this.db
      .selectFrom('repository_blobs as rb')
      .innerJoin('repositories as r', 'r.id', 'rb.repository_id')
      .innerJoin('blobs as b', 'b.digest', 'rb.digest')
      .select('r.name')
      .where('rb.digest', '=', digest)
      .where('b.state', '=', 'live')
      .limit(1)
      .executeTakeFirst();
    return row?.name ?? null;
  }

  // ---- tasks ----

  /** The enabled event-triggered push policies' filters: the event sink reads them in the change's transaction. */
  async eventPolicies(tx: Tx): Promise<ReplicationPolicy[]> {
    const rows = await tx
      .selectFrom('replication_policies')
      .selectAll()
      .where('enabled', '=', 1)
      .where('direction', '=', 'push')
      .where('trigger', '=', 'event')
      .orderBy('name')
      .execute();
    const now = this.deps.now();
    // No run history here: a push's transaction reads only what it needs.
    return rows.map((r) => policyOf(r, now, null));
  }

  async queueTasks(tx: Tx, tasks: NewReplicationTask[], now: number): Promise<void> {
    if (tasks.length === 0) return;
    await tx
      .insertInto('replication_tasks')
      .values(
        tasks.map((t) => ({
          policy_id: t.policyId,
          repository: t.repository,
          reference: t.reference,
          digest: t.digest,
          kind: t.kind,
          created_at: now,
          next_attempt_at: now,
        })),
      )
      .execute();
  }

  /** The policy's tasks due now, oldest first. */
  async dueTasks(policyId: number, now: number, limit: number): Promise<ReplicationTask[]> {
    const rows = await this.db
      .selectFrom('replication_tasks')
      .selectAll()
      .where('policy_id', '=', policyId)
      .where('next_attempt_at', '<=', now)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: num(r.id),
      policyId: num(r.policy_id),
      repository: r.repository,
      reference: r.reference,
      digest: r.digest,
      kind: r.kind,
      attempts: num(r.attempts),
    }));
  }

  /** How many tasks the policy has queued (due or waiting for a retry). */
  async pendingTasks(policyId: number): Promise<number> {
    const row = await this.db
      .selectFrom('replication_tasks')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('policy_id', '=', policyId)
      .executeTakeFirstOrThrow();
    return num(row.n);
  }

  async removeTasks(ids: number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.deleteFrom('replication_tasks').where('id', 'in', ids).execute();
  }

  /**
   * The policy's copies queued up to `maxId`: a full run covered them. Deletes stay queued (a
   * full run does not see a repository the source no longer lists).
   */
  async removeCopiesThrough(policyId: number, maxId: number): Promise<void> {
    await this.db.deleteFrom('replication_tasks').where('policy_id', '=', policyId).where('kind', '=', 'copy').where('id', '<=', maxId).execute();
  }

  async lastTaskId(policyId: number): Promise<number> {
    const row = await this.db
      .selectFrom('replication_tasks')
      .select((eb) => eb.fn.max('id').as('id'))
      .where('policy_id', '=', policyId)
      .executeTakeFirst();
    return num(row?.id ?? 0);
  }

  async retryTask(id: number, nextAttemptAt: number, error: string): Promise<void> {
    await this.db
      .updateTable('replication_tasks')
      .set((eb) => ({ attempts: eb('attempts', '+', 1), next_attempt_at: nextAttemptAt, last_error: error.slice(0, 2000) }))
      .where('id', '=', id)
      .execute();
  }
}
