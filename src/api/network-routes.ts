// Network rules per namespace through the API (docs/network-rules.md): system administrators
// read every rule in force and set or remove a namespace's own, beside those of the
// configuration file (which the API shows but never changes). A change applies on this
// replica at once and on the others within live-rules.ts REFRESH_MS.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { mayManageNetworkRules } from '../auth/policy.js';
import { SURFACES, ruleEntryErrors, type RuleList, type Surface } from '../net/access-rules.js';
import type { LiveRules } from '../net/live-rules.js';
import { fullRules, type NamespaceRules, type NetworkRuleRow, type NetworkRuleStore } from '../net/rule-store.js';
import { auditOf, badRequest, conflict, forbidden, notFound, person } from './caller.js';
import { change, type ApiDeps } from './deps.js';
import { body, op, params } from './schemas.js';

export interface NetworkParts {
  live: LiveRules;
  store: NetworkRuleStore;
  /** The configuration file's namespace rules (read-only here). */
  configured: Readonly<Record<string, Partial<Record<Surface, RuleList>>>>;
  global: Readonly<Record<Surface, RuleList>>;
}

const namespaceName = { type: 'string', minLength: 1, maxLength: 255, pattern: '^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$' } as const;
const entries = {
  type: 'array',
  maxItems: 1000,
  items: { type: 'string', minLength: 1, maxLength: 64 },
  description: 'IPv4/IPv6 addresses and CIDRs',
} as const;
const listSchema = {
  type: 'object',
  properties: { allow: entries, deny: entries },
  additionalProperties: false,
} as const;
const rulesSchema = {
  type: 'object',
  properties: Object.fromEntries(SURFACES.map((s) => [s, listSchema])),
  required: [...SURFACES],
} as const;
const namespaceRulesSchema = {
  type: 'object',
  properties: {
    namespace: { type: 'string' },
    source: { type: 'string', enum: ['config', 'api'], description: 'config: the configuration file (read-only here); api: set through this API' },
    rules: rulesSchema,
    updatedAt: { type: ['integer', 'null'] },
    updatedBy: { type: ['string', 'null'] },
  },
  required: ['namespace', 'source', 'rules', 'updatedAt', 'updatedBy'],
} as const;
const listAllSchema = {
  type: 'object',
  properties: {
    global: { ...rulesSchema, description: 'network.* of the configuration file' },
    namespaces: { type: 'array', items: namespaceRulesSchema },
  },
  required: ['global', 'namespaces'],
} as const;

const fromRow = (r: NetworkRuleRow) => ({ namespace: r.namespace, source: 'api' as const, rules: r.rules, updatedAt: r.updatedAt, updatedBy: r.updatedBy });
const fromConfig = (namespace: string, rules: Partial<Record<Surface, RuleList>>) => ({
  namespace,
  source: 'config' as const,
  rules: fullRules(rules),
  updatedAt: null,
  updatedBy: null,
});

export function registerNetworkRoutes(api: FastifyInstance, d: ApiDeps, n: NetworkParts): void {
  const manager = (req: FastifyRequest) => {
    const who = person(req);
    if (!mayManageNetworkRules(who)) throw forbidden('administrators only');
    return who;
  };
  const nsParam = params({ ns: namespaceName });

  api.get(
    '/network-rules',
    {
      schema: op('network', 'Every network rule in force: the global ones and each namespace’s (administrators)', {
        ok: { 200: listAllSchema },
        errors: [403],
      }),
    },
    async (req) => {
      manager(req);
      const stored = (await n.store.all()).filter((r) => !(r.namespace in n.configured)).map(fromRow);
      const configured = Object.entries(n.configured).map(([ns, r]) => fromConfig(ns, r));
      return { global: fullRules(n.global), namespaces: [...configured, ...stored].sort((a, b) => a.namespace.localeCompare(b.namespace)) };
    },
  );

  api.get<{ Params: { ns: string } }>(
    '/namespaces/:ns/network-rules',
    {
      schema: op('network', "A namespace's own network rules (administrators)", {
        params: nsParam,
        ok: { 200: namespaceRulesSchema },
        errors: [400, 403, 404],
      }),
    },
    async (req) => {
      manager(req);
      const ns = req.params.ns;
      if (ns in n.configured) return fromConfig(ns, n.configured[ns]);
      const row = await n.store.get(ns);
      if (!row) throw notFound('network rules');
      return fromRow(row);
    },
  );

  api.put<{ Params: { ns: string }; Body: Partial<Record<Surface, Partial<RuleList>>> }>(
    '/namespaces/:ns/network-rules',
    {
      schema: op('network', "Set a namespace's network rules (administrators): allow and deny lists per surface, replacing what it had", {
        params: nsParam,
        body: body(Object.fromEntries(SURFACES.map((s) => [s, listSchema]))),
        ok: { 200: namespaceRulesSchema },
        errors: [400, 403, 409],
      }),
    },
    async (req) => {
      const who = manager(req);
      const ns = req.params.ns;
      if (ns in n.configured) throw conflict(`the network rules of ${ns} are set in the configuration file (network.namespaces.${ns})`);
      const rules: NamespaceRules = fullRules(req.body);
      for (const s of SURFACES) {
        for (const kind of ['allow', 'deny'] as const) {
          const [bad] = ruleEntryErrors(rules[s][kind]);
          if (bad) throw badRequest(`${s}.${kind}[${bad.index}]: ${bad.message}`, { field: `${s}/${kind}/${bad.index}` });
        }
      }
      const row: NetworkRuleRow = { namespace: ns, rules, updatedAt: d.now(), updatedBy: who.username };
      await change(d, auditOf(req, 'network-rules.set', ns, { rules }), (tx, now) => n.store.put(tx, { ...row, updatedAt: now }));
      await n.live.reload();
      return fromRow((await n.store.get(ns)) ?? row);
    },
  );

  api.delete<{ Params: { ns: string } }>(
    '/namespaces/:ns/network-rules',
    {
      schema: op('network', "Remove a namespace's network rules: the global ones apply to it again (administrators)", {
        params: nsParam,
        ok: { 204: null },
        errors: [400, 403, 404, 409],
      }),
    },
    async (req, reply) => {
      manager(req);
      const ns = req.params.ns;
      if (ns in n.configured) throw conflict(`the network rules of ${ns} are set in the configuration file (network.namespaces.${ns})`);
      const removed = await change(d, auditOf(req, 'network-rules.delete', ns), (tx) => n.store.remove(tx, ns));
      if (!removed) throw notFound('network rules');
      await n.live.reload();
      return reply.code(204).send();
    },
  );
}
