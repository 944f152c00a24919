// REST routes of replication policies (src/replication/, docs/replication.md): list, create, read,
// change, delete, run now and the run history, for administrators signed in with a password
// (policy.ts mayManageReplication); everyone else gets 403 (401 when anonymous), before anything is
// looked up. Bad input answers 400 naming the field and changes nothing. The remote password is
// write-only: it goes to the store (which seals it) and never comes back, only `hasPassword`.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { mayManageReplication, type Principal } from '../auth/policy.js';
import { parseDurationMs } from '../config/values.js';
import { ReplicationPolicyError, type ReplicationPolicy, type ReplicationRun, type ReplicationStore } from '../metadata/replication-store.js';
import type { NewReplicationPolicy, ReplicationPolicyFields, ReplicationPolicyPatch } from '../replication/policy-fields.js';
import { ReplicationBusyError, ReplicationNotFoundError, type ReplicationRunner } from '../replication/runner.js';
import type { ReplicationDirection, ReplicationTrigger } from '../replication/schema.js';
import { auditOf, badRequest, conflict, forbidden, notFound, person } from './caller.js';
import { change, type ApiDeps } from './deps.js';
import { createBody, idParams, patchBody, policyList, policySchema, runList, runSchema, runsQuery } from './replication-schemas.js';
import { op } from './schemas.js';

/** What the routes use besides the API's own dependencies (built in app.ts). */
export interface ReplicationParts {
  store: ReplicationStore;
  /** Starts a run of the policy and returns its row (status running). */
  runner: Pick<ReplicationRunner, 'runNow'>;
}

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null) => (ms === null ? null : iso(ms));

/** An interval as parseDurationMs reads it back: 90 minutes is "1h30m", a day "1d". */
export function formatDurationMs(ms: number): string {
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  let rest = ms;
  let out = '';
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return rest > 0 || out === '' ? `${out}${rest}ms` : out;
}

export function runView(r: ReplicationRun) {
  return {
    id: r.id,
    policyId: r.policyId,
    trigger: r.trigger,
    status: r.status,
    startedAt: iso(r.startedAt),
    finishedAt: isoOrNull(r.finishedAt),
    copied: r.copied,
    skipped: r.skipped,
    failed: r.failed,
    deleted: r.deleted,
    bytes: r.bytes,
    error: r.error,
  };
}

export function policyView(p: ReplicationPolicy) {
  return {
    id: p.id,
    name: p.name,
    direction: p.direction,
    remoteUrl: p.remoteUrl,
    remoteUsername: p.remoteUsername,
    hasPassword: p.hasPassword,
    repositories: p.repositories,
    excludeRepositories: p.excludeRepositories,
    tags: p.tags,
    excludeTags: p.excludeTags,
    remotePrefix: p.remotePrefix,
    trigger: p.trigger,
    interval: p.intervalMs === null ? null : formatDurationMs(p.intervalMs),
    replicateDeletes: p.replicateDeletes,
    enabled: p.enabled,
    running: p.running,
    createdBy: p.createdBy,
    createdAt: iso(p.createdAt),
    updatedAt: iso(p.updatedAt),
    nextRunAt: isoOrNull(p.nextRunAt),
    lastRun: p.lastRun ? runView(p.lastRun) : null,
  };
}

/** A policy as the API takes it (POST: name, direction and remoteUrl at least; PATCH: any field). */
export interface PolicyInput {
  name?: string;
  direction?: ReplicationDirection;
  remoteUrl?: string;
  remoteUsername?: string | null;
  remotePassword?: string | null;
  repositories?: string[];
  excludeRepositories?: string[];
  tags?: string[];
  excludeTags?: string[];
  remotePrefix?: string;
  trigger?: ReplicationTrigger;
  interval?: string | null;
  replicateDeletes?: boolean;
  enabled?: boolean;
}

const invalid = (field: string, message: string) => badRequest(`${field}: ${message}`, { location: 'body', field });

/**
 * The body as the store's fields: the interval parsed, blank strings as "none". What the fields
 * may hold is the store's to judge (src/replication/policy-fields.ts), so every surface refuses the same.
 */
function patchOf(b: PolicyInput): ReplicationPolicyPatch {
  const { interval, remotePassword, remoteUsername, remotePrefix, ...rest } = b;
  const out: ReplicationPolicyPatch = { ...rest };
  if (b.name !== undefined) out.name = b.name.trim();
  if (b.remoteUrl !== undefined) out.remoteUrl = b.remoteUrl.trim();
  if (remoteUsername !== undefined) out.remoteUsername = remoteUsername?.trim() || null;
  if (remotePassword !== undefined) out.remotePassword = remotePassword === '' ? null : remotePassword;
  if (remotePrefix !== undefined) out.remotePrefix = remotePrefix.trim().replace(/^\/+|\/+$/g, '');
  if (interval !== undefined && interval !== null && interval.trim() !== '') {
    const ms = parseDurationMs(interval.trim());
    if (ms === undefined) throw invalid('interval', `"${interval.slice(0, 32)}" is not a duration (e.g. 30m, 1h, 1d)`);
    out.intervalMs = ms;
  }
  return out;
}

/** The store's refusals as REST errors: what it cannot take is 400, a name in use 409. */
function restErrorOf(err: unknown): unknown {
  if (!(err instanceof ReplicationPolicyError)) return err;
  if (err.kind === 'taken') return conflict(err.message);
  return badRequest(err.message, { location: 'body' });
}

async function storing<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw restErrorOf(err);
  }
}

/** What the audit log records of a change: the fields, never the password. */
function auditDetail(p: ReplicationPolicyFields, password: string | null | undefined): Record<string, unknown> {
  const { name, direction, remoteUrl, remoteUsername, trigger, enabled } = p;
  return {
    policy: name,
    direction,
    remoteUrl,
    remoteUsername,
    trigger,
    enabled,
    ...(password === undefined ? {} : { password: password ? 'set' : 'removed' }),
  };
}

export function registerReplicationRoutes(api: FastifyInstance, d: ApiDeps, r: ReplicationParts): void {
  const tag = 'replication';
  const base = '/replication/policies';

  /** Administrators with a password login; everyone else is refused before anything is looked up. */
  const manager = (req: FastifyRequest): Principal => {
    const who = person(req);
    if (!mayManageReplication(who)) throw forbidden('administrators only');
    return who;
  };
  const existing = async (id: number): Promise<ReplicationPolicy> => {
    const p = await r.store.get(id);
    if (!p) throw notFound('replication policy');
    return p;
  };

  api.get(base, { schema: op(tag, 'Replication policies with their last run (administrators)', { ok: { 200: policyList }, errors: [403] }) }, async (req) => {
    manager(req);
    return { policies: (await r.store.list()).map(policyView) };
  });

  api.post<{ Body: PolicyInput }>(
    base,
    {
      schema: op(tag, 'Add a replication policy (administrators); the password is stored encrypted and never returned', {
        body: createBody,
        ok: { 201: policySchema },
        errors: [403, 409],
      }),
    },
    async (req, reply) => {
      const who = manager(req);
      const input = patchOf(req.body) as NewReplicationPolicy;
      const entry = auditOf(req, 'replication-policy.create', input.name);
      const created = await storing(() =>
        change(d, entry, async (tx) => {
          const p = await r.store.create(tx, input, who.username);
          // The entry names what was stored, defaults applied (it is written after this, in the same transaction).
          entry.detail = { id: p.id, ...auditDetail(p, input.remotePassword) };
          return p;
        }),
      );
      return reply.code(201).send(policyView(created));
    },
  );

  api.get<{ Params: { id: number } }>(
    `${base}/:id`,
    { schema: op(tag, 'A replication policy with its last run (administrators)', { params: idParams, ok: { 200: policySchema }, errors: [400, 403, 404] }) },
    async (req) => {
      manager(req);
      return policyView(await existing(req.params.id));
    },
  );

  api.patch<{ Params: { id: number }; Body: PolicyInput }>(
    `${base}/:id`,
    {
      schema: op(tag, 'Change a replication policy (administrators): the fields given; remotePassword absent keeps it, null removes it', {
        params: idParams,
        body: patchBody,
        ok: { 200: policySchema },
        errors: [403, 404, 409],
      }),
    },
    async (req) => {
      manager(req);
      const old = await existing(req.params.id);
      const patch = patchOf(req.body);
      // A stored password goes only where it was given for: another scheme, host or port needs it again
      // (so an edit can neither send it elsewhere nor over plain http).
      if (patch.remotePassword === undefined && old.hasPassword && patch.remoteUrl !== undefined && originOf(patch.remoteUrl) !== originOf(old.remoteUrl)) {
        throw invalid('remotePassword', 'remoteUrl moves to another address: give the password for it again (or null for none)');
      }
      const changed = await storing(() =>
        change(
          d,
          auditOf(req, 'replication-policy.update', old.name, { id: old.id, ...auditDetail({ ...old, ...patch }, patch.remotePassword) }),
          async (tx) => {
            const p = await r.store.update(tx, old.id, patch);
            if (!p) throw notFound('replication policy');
            return p;
          },
        ),
      );
      return policyView(changed);
    },
  );

  api.delete<{ Params: { id: number } }>(
    `${base}/:id`,
    {
      schema: op(tag, 'Remove a replication policy with its run history and queued copies (administrators); what it copied stays', {
        params: idParams,
        ok: { 204: null },
        errors: [400, 403, 404],
      }),
    },
    async (req, reply) => {
      manager(req);
      const old = await existing(req.params.id);
      await change(d, auditOf(req, 'replication-policy.delete', old.name, { id: old.id }), async (tx) => {
        if (!(await r.store.delete(tx, old.id))) throw notFound('replication policy');
      });
      return reply.code(204).send();
    },
  );

  api.post<{ Params: { id: number } }>(
    `${base}/:id/run`,
    {
      schema: op(tag, 'Start a run of the policy now, also when disabled (administrators): 202 with the run; the run history shows how it ends', {
        params: idParams,
        ok: { 202: runSchema },
        errors: [400, 403, 404, 409],
      }),
    },
    async (req, reply) => {
      manager(req);
      const p = await existing(req.params.id);
      let run: ReplicationRun;
      try {
        run = await r.runner.runNow(p.id, 'manual');
      } catch (err) {
        if (err instanceof ReplicationBusyError) throw conflict(`replication policy ${p.name} is running now; its run history shows when it is done`);
        if (err instanceof ReplicationNotFoundError) throw notFound('replication policy');
        throw err;
      }
      await d.accounts.audit(auditOf(req, 'replication-policy.run', p.name, { id: p.id, run: run.id }));
      return reply.code(202).send(runView(run));
    },
  );

  api.get<{ Params: { id: number }; Querystring: { n: number } }>(
    `${base}/:id/runs`,
    {
      schema: op(tag, "A replication policy's runs, newest first (administrators)", {
        params: idParams,
        querystring: runsQuery,
        ok: { 200: runList },
        errors: [400, 403, 404],
      }),
    },
    async (req) => {
      manager(req);
      const p = await existing(req.params.id);
      return { runs: (await r.store.runs(p.id, req.query.n)).map(runView) };
    },
  );
}

function originOf(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}
