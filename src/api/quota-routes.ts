// Storage quotas per namespace: administrators set them; the namespace's user and the
// organisation's members read its usage. To anyone else a namespace's usage answers 404
// exactly like a namespace that does not exist (policy.ts mayReadNamespaceUsage).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { mayManageQuotas, mayReadNamespaceUsage } from '../auth/policy.js';
import type { NamespaceUsage, QuotaService } from '../registry/quotas.js';
import { auditOf, badRequest, forbidden, notFound, person, signedIn } from './caller.js';
import { change, type ApiDeps } from './deps.js';
import { body, op, params } from './schemas.js';

/** A namespace: the first component of a repository name. */
const namespaceName = { type: 'string', minLength: 1, maxLength: 255, pattern: '^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$' } as const;
const nsParam = params({ ns: namespaceName });
const byteCount = { type: ['integer', 'null'], minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;

export const usageSchema = {
  type: 'object',
  properties: {
    namespace: { type: 'string' },
    used: { type: 'integer', description: 'bytes used: every layer, config and manifest its manifests use, each digest once' },
    limit: { type: ['integer', 'null'], description: 'bytes allowed (null: no limit); a push that would go over it is refused' },
    warning: { type: ['integer', 'null'], description: 'bytes at which a quota.warning webhook event is sent (null: none)' },
    level: { type: 'string', enum: ['ok', 'warning', 'exceeded'], description: 'exceeded: used ≥ limit' },
    source: {
      type: 'string',
      enum: ['namespace', 'default', 'none'],
      description: "the namespace's own quota, the server's default (quotas.default), or none",
    },
    quota: {
      type: ['object', 'null'],
      description: "the namespace's own quota as set by an administrator",
      properties: { limit: byteCount, warning: byteCount, updatedAt: { type: 'integer' }, updatedBy: { type: ['string', 'null'] } },
      required: ['limit', 'warning', 'updatedAt', 'updatedBy'],
    },
  },
  required: ['namespace', 'used', 'limit', 'warning', 'level', 'source', 'quota'],
} as const;

function view(u: NamespaceUsage) {
  const q = u.quota;
  return {
    namespace: u.namespace,
    used: u.used,
    limit: u.limit,
    warning: u.warning,
    level: u.level,
    source: u.source,
    quota: q ? { limit: q.limitBytes, warning: q.warningBytes, updatedAt: q.updatedAt, updatedBy: q.updatedBy } : null,
  };
}

export function registerQuotaRoutes(api: FastifyInstance, d: ApiDeps, quotas: QuotaService): void {
  /** Administrators read any namespace; others theirs; the rest get the 404 of a missing namespace. */
  const readable = async (req: FastifyRequest, ns: string): Promise<void> => {
    const who = signedIn(req);
    const kind = await d.stores.users.namespaceKind(ns);
    const role = kind === 'org' ? await d.stores.orgs.orgRole(ns, who.userId) : null;
    if (!mayReadNamespaceUsage(who, ns, kind, role)) throw notFound('namespace');
  };
  const manager = (req: FastifyRequest) => {
    const who = person(req);
    if (!mayManageQuotas(who)) throw forbidden('administrators only');
    return who;
  };

  api.get<{ Params: { ns: string } }>(
    '/namespaces/:ns/quota',
    {
      schema: op('quotas', "A namespace's storage usage and quota (its user, the organisation's members, administrators)", {
        params: nsParam,
        ok: { 200: usageSchema },
        errors: [400, 404],
      }),
    },
    async (req) => {
      await readable(req, req.params.ns);
      return view(await quotas.usage(req.params.ns));
    },
  );

  api.put<{ Params: { ns: string }; Body: { limit: number | null; warning?: number | null } }>(
    '/namespaces/:ns/quota',
    {
      schema: op('quotas', "Set a namespace's quota (administrators): limit and warning level in bytes, null for none", {
        params: nsParam,
        body: body({ limit: byteCount, warning: byteCount }, ['limit']),
        ok: { 200: usageSchema },
        errors: [400, 403],
      }),
    },
    async (req) => {
      const who = manager(req);
      const ns = req.params.ns;
      const limit = req.body.limit;
      const warning = req.body.warning ?? null;
      if (limit !== null && warning !== null && warning > limit) throw badRequest('warning must not be above limit', { field: 'warning' });
      await change(d, auditOf(req, 'quota.set', ns, { limit, warning }), (tx, now) =>
        quotas.set(tx, { namespace: ns, limitBytes: limit, warningBytes: warning, updatedAt: now, updatedBy: who.username }),
      );
      return view(await quotas.usage(ns));
    },
  );

  api.delete<{ Params: { ns: string } }>(
    '/namespaces/:ns/quota',
    {
      schema: op('quotas', "Remove a namespace's own quota; the server's default applies again (administrators)", {
        params: nsParam,
        ok: { 204: null },
        errors: [400, 403, 404],
      }),
    },
    async (req, reply) => {
      manager(req);
      const ns = req.params.ns;
      const removed = await change(d, auditOf(req, 'quota.delete', ns), (tx) => quotas.remove(tx, ns));
      if (!removed) throw notFound('quota');
      return reply.code(204).send();
    },
  );

  api.get<{ Querystring: { n: number; last?: string } }>(
    '/quotas',
    {
      schema: op('quotas', 'Every namespace that uses storage or has a quota, by name (administrators)', {
        querystring: {
          type: 'object',
          properties: { n: { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, last: { type: 'string', maxLength: 255 } },
          additionalProperties: false,
        },
        ok: {
          200: {
            type: 'object',
            properties: { namespaces: { type: 'array', items: usageSchema }, next: { type: 'string', description: 'pass as `last` for the next page' } },
            required: ['namespaces'],
          },
        },
        errors: [400, 403],
      }),
    },
    async (req) => {
      manager(req);
      const rows = await quotas.list(req.query.n, req.query.last);
      return { namespaces: rows.map(view), ...(rows.length === req.query.n ? { next: rows[rows.length - 1].namespace } : {}) };
    },
  );
}
