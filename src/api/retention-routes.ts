// REST routes of retention policies (src/retention/): per namespace, listed and dry-run by
// whoever may see the namespace's rules, created, changed, deleted and run for real by its
// administrators (policy.ts mayViewNamespaceRules / mayManageNamespaceRules, through
// namespaceRulesAccess). Bad input answers 400 with the reason and changes nothing.
import type { FastifyInstance } from 'fastify';
import { namespaceOf } from '../auth/policy.js';
import type { PolicyFields, RetentionPolicy, RetentionStore } from '../metadata/retention-store.js';
import { isValidRepositoryName } from '../oci/names.js';
import { invalidRetentionRules, normaliseRule, type RetentionRule } from '../retention/rules.js';
import { RetentionBusyError, type RetentionRunner, type RunResult } from '../retention/runner.js';
import { RestError } from '../errors/rest.js';
import { auditOf, badRequest, conflict, namespaceRulesAccess, notFound } from './caller.js';
import { change, type ApiDeps } from './deps.js';
import { nsParams, policyBody, policyList, policyParams, policySchema, runBody, runResult } from './retention-schemas.js';
import { op } from './schemas.js';

/** What the retention routes use besides the API's own dependencies (built in app.ts). */
export interface RetentionParts {
  store: RetentionStore;
  runner: RetentionRunner;
  /** Real runs delete: not on a registry with deletes disabled or in read-only mode. */
  deleteEnabled: boolean;
}

type PolicyInput = { name: string; repository?: string | null; enabled?: boolean; rules: (Partial<RetentionRule> & Pick<RetentionRule, 'tags' | 'keep'>)[] };

const iso = (ms: number) => new Date(ms).toISOString();

export function policyView(p: RetentionPolicy) {
  return {
    name: p.name,
    namespace: p.namespace,
    repository: p.repository,
    enabled: p.enabled,
    rules: p.rules,
    createdBy: p.createdBy,
    createdAt: iso(p.createdAt),
    updatedAt: iso(p.updatedAt),
    lastRun: p.lastRun ? { ...p.lastRun, at: iso(p.lastRun.at) } : null,
  };
}

export function runView(r: RunResult) {
  return {
    ...r,
    at: iso(r.at),
    tags: r.tags.map((t) => ({
      repository: t.repository,
      tag: t.tag,
      digest: t.digest,
      pushedAt: iso(t.pushedAt),
      pulledAt: t.pulledAt === null ? null : iso(t.pulledAt),
    })),
  };
}

/** The body as stored fields, or 400 naming what is wrong. */
function fieldsOf(ns: string, b: PolicyInput): PolicyFields {
  const repository = b.repository ?? null;
  if (repository !== null && (!isValidRepositoryName(repository) || namespaceOf(repository) !== ns)) {
    throw badRequest(`repository: "${repository.slice(0, 255)}" is not a repository name in namespace ${ns}`, { location: 'body', field: 'repository' });
  }
  const rules = b.rules.map(normaliseRule);
  const why = invalidRetentionRules(rules);
  if (why) throw badRequest(why, { location: 'body', field: 'rules' });
  return { name: b.name, repository, enabled: b.enabled ?? true, rules };
}

export function registerRetentionRoutes(api: FastifyInstance, d: ApiDeps, r: RetentionParts): void {
  const tag = 'retention';

  const existing = async (ns: string, name: string): Promise<RetentionPolicy> => {
    const p = await r.store.get(ns, name);
    if (!p) throw notFound('retention policy');
    return p;
  };

  api.get<{ Params: { ns: string } }>(
    '/namespaces/:ns/retention-policies',
    {
      schema: op(tag, "A namespace's retention policies (its user, the organisation's members, administrators)", {
        params: nsParams,
        ok: { 200: policyList },
        errors: [404],
      }),
    },
    async (req) => {
      await namespaceRulesAccess(d, req, req.params.ns, false);
      return { policies: (await r.store.list(req.params.ns)).map(policyView) };
    },
  );

  api.post<{ Params: { ns: string }; Body: PolicyInput }>(
    '/namespaces/:ns/retention-policies',
    {
      schema: op(tag, 'Add a retention policy (namespace administrators); it first runs one retention.interval after its creation, or on demand', {
        params: nsParams,
        body: policyBody,
        ok: { 201: policySchema },
        errors: [400, 403, 404, 409],
      }),
    },
    async (req, reply) => {
      const { ns } = req.params;
      const who = await namespaceRulesAccess(d, req, ns, true);
      const f = fieldsOf(ns, req.body);
      await change(d, auditOf(req, 'retention-policy.create', ns, { ...f }), async (tx, now) => {
        if (!(await r.store.create(tx, ns, f, who.username, now))) throw conflict(`namespace ${ns} already has a retention policy named ${f.name}`);
      });
      return reply.code(201).send(policyView(await existing(ns, f.name)));
    },
  );

  api.get<{ Params: { ns: string; name: string } }>(
    '/namespaces/:ns/retention-policies/:name',
    {
      schema: op(tag, 'A retention policy with its last run', { params: policyParams, ok: { 200: policySchema }, errors: [400, 404] }),
    },
    async (req) => {
      await namespaceRulesAccess(d, req, req.params.ns, false);
      return policyView(await existing(req.params.ns, req.params.name));
    },
  );

  api.put<{ Params: { ns: string; name: string }; Body: PolicyInput }>(
    '/namespaces/:ns/retention-policies/:name',
    {
      schema: op(tag, 'Replace a retention policy; its name may change (namespace administrators)', {
        params: policyParams,
        body: policyBody,
        ok: { 200: policySchema },
        errors: [400, 403, 404, 409],
      }),
    },
    async (req) => {
      const { ns, name } = req.params;
      await namespaceRulesAccess(d, req, ns, true);
      const f = fieldsOf(ns, req.body);
      await change(d, auditOf(req, 'retention-policy.update', ns, { policy: name, ...f }), async (tx, now) => {
        const res = await r.store.update(tx, ns, name, f, now);
        if (res === 'missing') throw notFound('retention policy');
        if (res === 'taken') throw conflict(`namespace ${ns} already has a retention policy named ${f.name}`);
      });
      return policyView(await existing(ns, f.name));
    },
  );

  api.delete<{ Params: { ns: string; name: string } }>(
    '/namespaces/:ns/retention-policies/:name',
    {
      schema: op(tag, 'Remove a retention policy (namespace administrators)', { params: policyParams, ok: { 204: null }, errors: [400, 403, 404] }),
    },
    async (req, reply) => {
      const { ns, name } = req.params;
      await namespaceRulesAccess(d, req, ns, true);
      await change(d, auditOf(req, 'retention-policy.delete', ns, { policy: name }), async (tx) => {
        if (!(await r.store.delete(tx, ns, name))) throw notFound('retention policy');
      });
      return reply.code(204).send();
    },
  );

  api.post<{ Params: { ns: string; name: string }; Body: { dryRun: boolean } }>(
    '/namespaces/:ns/retention-policies/:name/run',
    {
      schema: op(
        tag,
        'Run a retention policy now, also when disabled: a dry run lists what would go and the bytes it frees (who may see the policy); a real run deletes it (namespace administrators)',
        { params: policyParams, body: runBody, ok: { 200: runResult }, errors: [400, 403, 404, 405, 409] },
      ),
    },
    async (req) => {
      const { ns, name } = req.params;
      const { dryRun } = req.body;
      await namespaceRulesAccess(d, req, ns, !dryRun);
      const policy = await existing(ns, name);
      if (!dryRun && !r.deleteEnabled)
        throw new RestError('UNSUPPORTED', 'deletes are disabled on this registry (or it is read-only): only a dry run is possible');
      let result: RunResult;
      try {
        result = await r.runner.run(policy, dryRun);
      } catch (err) {
        if (err instanceof RetentionBusyError) throw conflict(`retention policy ${name} is running now; try again when it is done`);
        throw err;
      }
      if (!dryRun) {
        const { tags, manifests, bytes } = result;
        await d.accounts.audit({ ...auditOf(req, 'retention-policy.run', ns, { policy: name, tags: tags.length, manifests: manifests.length, bytes }) });
      }
      return runView(result);
    },
  );
}
