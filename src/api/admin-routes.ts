// Administrators only: the audit log and signing-key rotation.
import type { FastifyInstance } from 'fastify';
import { admin, auditOf } from './caller.js';
import type { ApiDeps } from './deps.js';
import { auditSchema, op } from './schemas.js';

export function registerAdminRoutes(api: FastifyInstance, d: ApiDeps): void {
  api.get<{ Querystring: { n: number; before?: number } }>(
    '/audit',
    {
      schema: op('admin', 'The audit log, newest first (administrators)', {
        querystring: {
          type: 'object',
          properties: {
            n: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            before: { type: 'integer', minimum: 1, description: 'entries with a smaller id' },
          },
          additionalProperties: false,
        },
        ok: { 200: { type: 'object', properties: { entries: { type: 'array', items: auditSchema }, next: { type: 'integer' } }, required: ['entries'] } },
        errors: [403],
      }),
    },
    async (req) => {
      admin(req);
      const entries = await d.stores.audit.list(req.query.n, req.query.before);
      return { entries, ...(entries.length === req.query.n ? { next: entries[entries.length - 1].id } : {}) };
    },
  );

  api.post(
    '/admin/keys/rotate',
    {
      schema: op('admin', 'Start signing tokens with a new key; older keys verify until their tokens expire (administrators)', {
        ok: { 200: { type: 'object', properties: { kid: { type: 'string' } }, required: ['kid'] } },
        errors: [403],
      }),
    },
    async (req) => {
      admin(req);
      const kid = await d.keys.rotate();
      await d.accounts.audit(auditOf(req, 'keys.rotate', kid));
      return { kid };
    },
  );
}
