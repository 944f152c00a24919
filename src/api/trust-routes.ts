// REST routes of signature trust (src/trust/, docs/trust.md): the trust policy of the registry
// (system administrators), of a namespace (its administrators: mayManageNamespaceRules) and of a
// repository (its administrators), and a manifest's signatures with their verdicts (whoever may
// pull it). Who may do what is policy.ts's; a policy from the configuration file is shown but not
// changed here (409). Bad material answers 400 with the reason and changes nothing.
//
// Repository names contain slashes: a route constraint tells …/{name}/trust-policy and
// …/{name}/manifests/{digest}/signatures apart from the other /repositories/* routes.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { mayManageRegistryTrust, mayManageRepositoryTrust, mayReadRepositoryTrust, type Principal } from '../auth/policy.js';
import { parseDigest } from '../oci/digest.js';
import {
  compileMaterial,
  finalPolicyOver,
  InvalidPolicyError,
  policyLabel,
  scopeText,
  type MaterialInput,
  type PolicyScope,
  type TrustPolicy,
} from '../trust/policies.js';
import type { TrustMode } from '../trust/schema.js';
import type { Evaluation, TrustService } from '../trust/service.js';
import { auditOf, badRequest, caller, conflict, forbidden, namespaceRulesAccess, notFound, unauthorized, unknownRepository } from './caller.js';
import { change, type ApiDeps } from './deps.js';
import { repositorySubpaths } from './path-strategy.js';
import { documentedAs, op, repositoryNameParam } from './schemas.js';
import { nsParams, policyBody, policySchema, signatureReport } from './trust-schemas.js';

export interface TrustParts {
  trust: TrustService;
}

type PolicyInput = { mode: TrustMode } & Partial<MaterialInput>;

type Shape = 'trust-policy' | 'signatures';
const paths = repositorySubpaths<Shape>('berthTrustPath', [
  ['trust-policy', /^(.+)\/trust-policy$/],
  ['signatures', /^(.+)\/manifests\/([^/]+)\/signatures$/],
]);

/** The route constraint: …/repositories/{name}/trust-policy and …/{name}/manifests/{digest}/signatures. */
export const trustPathStrategy = paths.strategy;

const on = (shape: Shape) => ({
  constraints: { berthTrustPath: shape },
  config:
    shape === 'signatures'
      ? documentedAs('/repositories/{name}/manifests/{digest}/signatures', {
          name: repositoryNameParam,
          digest: { type: 'string', description: 'the manifest digest' },
        })
      : documentedAs('/repositories/{name}/trust-policy', { name: repositoryNameParam }),
});

function trustPath(req: FastifyRequest, want: Shape): { name: string; digest?: string } {
  const { name, param: digest } = paths.parse(req, want);
  return { name, digest };
}

/** PEMs span lines: these body fields may hold line feeds (rest-input.ts refuses control characters elsewhere). */
const PEM_FIELDS = Array.from({ length: 32 }, (_, i) => [`keys/${i}/publicKey`, `notation/trustStore/${i}`]).flat();
const withPems = { config: { multiline: PEM_FIELDS } };

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function trustPolicyView(p: TrustPolicy) {
  return {
    scope: scopeText(p.scope),
    scopeKind: p.scope.kind,
    source: p.source,
    name: p.name,
    mode: p.mode,
    keys: p.input.keys.map((k) => ({ name: k.name, publicKey: k.publicKey })),
    notation: p.input.notation ?? null,
    keyless: p.input.keyless ?? null,
    version: p.version,
    createdBy: p.createdBy,
    updatedAt: iso(p.updatedAt),
  };
}

export function signaturesView(digest: string, ev: Evaluation) {
  return {
    digest,
    status: ev.status,
    policy: ev.policy
      ? { scope: scopeText(ev.policy.scope), scopeKind: ev.policy.scope.kind, name: ev.policy.name, source: ev.policy.source, mode: ev.policy.mode }
      : null,
    verifiedBy: ev.via ?? null,
    signatures: ev.signatures.map((s) => ({ ...s, verifiedAt: iso(s.verifiedAt) })),
  };
}

export function registerTrustRoutes(api: FastifyInstance, d: ApiDeps, parts: TrustParts): void {
  const { trust } = parts;
  const tag = 'trust';

  const configAt = (scope: PolicyScope) => trust.configPolicies.find((p) => p.scope.kind === scope.kind && p.scope.name === scope.name);

  /** The policy set at exactly this scope (the configuration file's first), or 404. */
  const policyAt = async (scope: PolicyScope): Promise<TrustPolicy> => {
    const fromConfig = configAt(scope);
    if (fromConfig) return fromConfig;
    const stored = await trust.store.policy(scope.kind, scope.name);
    if (!stored) throw notFound('trust policy');
    return trust.fromStored(stored);
  };

  const put = async (req: FastifyRequest, scope: PolicyScope, b: PolicyInput) => {
    const fromConfig = configAt(scope);
    if (fromConfig) throw conflict(`this scope's trust policy is set in the configuration file (trust.policies.${fromConfig.name}); change it there`);
    const locked = finalPolicyOver(scope, trust.configPolicies);
    if (locked) throw conflict(`${policyLabel(locked)} is final: no narrower policy applies under it; change it in the configuration file`);
    const input: MaterialInput = { keys: b.keys ?? [], ...(b.notation ? { notation: b.notation } : {}), ...(b.keyless ? { keyless: b.keyless } : {}) };
    let version: string;
    try {
      version = compileMaterial(input).version;
    } catch (err) {
      if (err instanceof InvalidPolicyError) throw badRequest(err.message, { location: 'body' });
      throw err;
    }
    const detail = { mode: b.mode, version, keys: input.keys.map((k) => k.name), notation: !!input.notation, keyless: !!input.keyless };
    await change(d, auditOf(req, 'trust-policy.set', scopeText(scope), detail), async (tx, now) => {
      const { previousVersion } = await trust.store.putPolicy(
        tx,
        { scopeKind: scope.kind, scope: scope.name, mode: b.mode, material: JSON.stringify(input), version },
        caller(req)?.username ?? null,
        now,
      );
      // New keys (or a new policy taking repositories over): every signature under it is verified again.
      if (previousVersion !== version) await trust.policyChanged(tx, scope.kind, scope.name, now);
    });
    trust.forgetPolicies();
    return trustPolicyView(await policyAt(scope));
  };

  const remove = async (req: FastifyRequest, scope: PolicyScope) => {
    const fromConfig = configAt(scope);
    if (fromConfig) throw conflict(`this scope's trust policy is set in the configuration file (trust.policies.${fromConfig.name}); remove it there`);
    await change(d, auditOf(req, 'trust-policy.delete', scopeText(scope)), async (tx, now) => {
      if (!(await trust.store.deletePolicy(tx, scope.kind, scope.name))) throw notFound('trust policy');
      // Its repositories fall back to a broader policy, whose verdicts they may not have yet.
      await trust.policyChanged(tx, scope.kind, scope.name, now);
    });
    trust.forgetPolicies();
  };

  // ---- the registry's policy ----

  const registryAdmin = (req: FastifyRequest): Principal => {
    const who = caller(req);
    if (!who) throw unauthorized();
    if (!mayManageRegistryTrust(who)) throw forbidden('the registry-wide trust policy is for administrators signed in with a password');
    return who;
  };
  const GLOBAL: PolicyScope = { kind: 'global', name: '' };

  api.get(
    '/trust-policy',
    {
      schema: op(tag, 'The registry-wide trust policy: repositories without a namespace or repository policy of their own (administrators)', {
        ok: { 200: policySchema },
        errors: [403, 404],
      }),
    },
    async (req) => {
      registryAdmin(req);
      return trustPolicyView(await policyAt(GLOBAL));
    },
  );
  api.put<{ Body: PolicyInput }>(
    '/trust-policy',
    {
      ...withPems,
      schema: op(tag, 'Set the registry-wide trust policy (administrators)', { body: policyBody, ok: { 200: policySchema }, errors: [400, 403, 409] }),
    },
    async (req) => {
      registryAdmin(req);
      return put(req, GLOBAL, req.body);
    },
  );
  api.delete(
    '/trust-policy',
    { schema: op(tag, 'Remove the registry-wide trust policy (administrators)', { ok: { 204: null }, errors: [403, 404, 409] }) },
    async (req, reply) => {
      registryAdmin(req);
      await remove(req, GLOBAL);
      return reply.code(204).send();
    },
  );

  // ---- a namespace's policy ----

  const nsScope = (ns: string): PolicyScope => ({ kind: 'namespace', name: ns });
  api.get<{ Params: { ns: string } }>(
    '/namespaces/:ns/trust-policy',
    {
      schema: op(tag, "A namespace's trust policy (its user, the organisation's members, administrators)", {
        params: nsParams,
        ok: { 200: policySchema },
        errors: [404],
      }),
    },
    async (req) => {
      await namespaceRulesAccess(d, req, req.params.ns, false);
      return trustPolicyView(await policyAt(nsScope(req.params.ns)));
    },
  );
  api.put<{ Params: { ns: string }; Body: PolicyInput }>(
    '/namespaces/:ns/trust-policy',
    {
      ...withPems,
      schema: op(tag, "Set a namespace's trust policy: its repositories without a policy of their own (namespace administrators)", {
        params: nsParams,
        body: policyBody,
        ok: { 200: policySchema },
        errors: [400, 403, 404, 409],
      }),
    },
    async (req) => {
      await namespaceRulesAccess(d, req, req.params.ns, true);
      return put(req, nsScope(req.params.ns), req.body);
    },
  );
  api.delete<{ Params: { ns: string } }>(
    '/namespaces/:ns/trust-policy',
    { schema: op(tag, "Remove a namespace's trust policy (namespace administrators)", { params: nsParams, ok: { 204: null }, errors: [403, 404, 409] }) },
    async (req, reply) => {
      await namespaceRulesAccess(d, req, req.params.ns, true);
      await remove(req, nsScope(req.params.ns));
      return reply.code(204).send();
    },
  );

  // ---- a repository's policy ----

  /** 404 to whoever may not pull it (as if it did not exist); 401/403 to readers who may not manage. */
  const repositoryAccess = async (req: FastifyRequest, name: string, manage: boolean) => {
    const who = caller(req);
    const f = await d.authorizer.facts(who, name);
    if (!f.exists || !mayReadRepositoryTrust(who, f)) throw unknownRepository();
    if (manage && !mayManageRepositoryTrust(who, f)) throw who ? forbidden('repository administrators only, signed in with a password') : unauthorized();
  };
  const repoScope = (name: string): PolicyScope => ({ kind: 'repository', name });

  api.get(
    '/repositories/*',
    {
      ...on('trust-policy'),
      schema: op(tag, "A repository's own trust policy (whoever may pull it)", { ok: { 200: policySchema }, errors: [400, 404], anonymous: true }),
    },
    async (req) => {
      const { name } = trustPath(req, 'trust-policy');
      await repositoryAccess(req, name, false);
      return trustPolicyView(await policyAt(repoScope(name)));
    },
  );
  api.put<{ Body: PolicyInput }>(
    '/repositories/*',
    {
      ...on('trust-policy'),
      config: { ...on('trust-policy').config, ...withPems.config },
      schema: op(tag, "Set a repository's trust policy (its administrators)", { body: policyBody, ok: { 200: policySchema }, errors: [400, 403, 404, 409] }),
    },
    async (req) => {
      const { name } = trustPath(req, 'trust-policy');
      await repositoryAccess(req, name, true);
      return put(req, repoScope(name), req.body);
    },
  );
  api.delete(
    '/repositories/*',
    { ...on('trust-policy'), schema: op(tag, "Remove a repository's trust policy (its administrators)", { ok: { 204: null }, errors: [400, 403, 404, 409] }) },
    async (req, reply) => {
      const { name } = trustPath(req, 'trust-policy');
      await repositoryAccess(req, name, true);
      await remove(req, repoScope(name));
      return reply.code(204).send();
    },
  );

  // ---- a manifest's signatures ----

  api.get(
    '/repositories/*',
    {
      ...on('signatures'),
      schema: op(tag, "A manifest's signatures in the repository and their verdicts under the policy that applies (whoever may pull it)", {
        ok: { 200: signatureReport },
        errors: [400, 404],
        anonymous: true,
      }),
    },
    async (req) => {
      const { name, digest: raw } = trustPath(req, 'signatures');
      let digest: string;
      try {
        digest = parseDigest(raw!).value;
      } catch (err) {
        throw badRequest(`digest: ${(err as Error).message}`, { location: 'params', field: 'digest' });
      }
      await repositoryAccess(req, name, false);
      if (!(await trust.hasManifest(name, digest))) throw notFound('manifest');
      return signaturesView(digest, await trust.evaluate(name, digest, { parents: true }));
    },
  );
}
