// Personal access tokens: scoped (pull, push, delete), limited to every
// repository, a namespace ("ns/*") or one repository, optionally expiring. The
// secret is in the creation reply only; the database keeps its SHA-256.
import type { FastifyInstance } from 'fastify';
import type { Action } from '../auth/policy.js';
import type { AccessTokenRow } from '../metadata/accounts/credentials.js';
import { isValidRepositoryName } from '../oci/names.js';
import { auditOf, badRequest, notFound, person, signedIn } from './caller.js';
import { change, type ApiDeps } from './deps.js';
import { action, body, listOf, op, params, tokenSchema } from './schemas.js';

const DAY_MS = 86_400_000;
const MAX_DAYS = 3650;

interface CreateBody {
  name: string;
  scopes: Action[];
  resource?: string | null;
  expiresAt?: string | number | null;
  expiresInDays?: number;
}

const view = (t: AccessTokenRow) => ({
  id: t.id,
  name: t.name,
  scopes: t.scopes,
  resource: t.resource,
  expiresAt: t.expiresAt,
  createdAt: t.createdAt,
  lastUsedAt: t.lastUsedAt,
  revokedAt: t.revokedAt,
});

/** null, "ns/*" or a repository name. */
function checkResource(resource: string | null): void {
  if (resource === null) return;
  const ok = resource.endsWith('/*') ? isValidRepositoryName(resource.slice(0, -2)) && !resource.slice(0, -2).includes('/') : isValidRepositoryName(resource);
  if (!ok) throw badRequest('resource must be null, "<namespace>/*" or a repository name');
}

function expiry(b: CreateBody, now: number): number | null {
  if (b.expiresAt != null && b.expiresInDays !== undefined) throw badRequest('give expiresAt or expiresInDays, not both');
  if (b.expiresInDays !== undefined) return now + b.expiresInDays * DAY_MS;
  if (b.expiresAt == null) return null;
  const at = typeof b.expiresAt === 'number' ? b.expiresAt : Date.parse(b.expiresAt);
  if (!Number.isFinite(at) || at <= now) throw badRequest('expiresAt must be a time in the future');
  if (at > now + MAX_DAYS * DAY_MS) throw badRequest(`tokens expire within ${MAX_DAYS} days`);
  return at;
}

export function registerAccessTokenRoutes(api: FastifyInstance, d: ApiDeps): void {
  api.get(
    '/user/tokens',
    { schema: op('tokens', "The caller's access tokens (never their secrets)", { ok: { 200: listOf('tokens', tokenSchema) } }) },
    async (req) => {
      const who = signedIn(req);
      return { tokens: (await d.stores.credentials.accessTokens(who.userId)).map(view) };
    },
  );

  api.post<{ Body: CreateBody }>(
    '/user/tokens',
    {
      schema: op('tokens', 'Create an access token; the reply holds its secret, shown only this once', {
        body: body(
          {
            name: { type: 'string', minLength: 1, maxLength: 100 },
            scopes: { type: 'array', items: action, minItems: 1, maxItems: 3, uniqueItems: true },
            resource: { type: ['string', 'null'], maxLength: 257, description: 'null = every repository; "ns/*" = a namespace; else one repository' },
            expiresAt: {
              anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 64 }, { type: 'null' }],
              description: 'RFC 3339 time or milliseconds since the epoch',
            },
            expiresInDays: { type: 'integer', minimum: 1, maximum: MAX_DAYS },
          },
          ['name', 'scopes'],
        ),
        ok: { 201: tokenSchema },
        errors: [400, 403],
      }),
    },
    async (req, reply) => {
      const who = person(req);
      const user = await d.stores.users.userById(who.userId);
      if (!user) throw notFound('user');
      const resource = req.body.resource ?? null;
      checkResource(resource);
      const { secret, token } = await d.accounts.createAccessToken(
        user,
        { name: req.body.name, scopes: req.body.scopes, resource, expiresAt: expiry(req.body, d.now()) },
        auditOf(req, 'token.create', user.username),
      );
      return reply.code(201).send({ ...view(token), secret });
    },
  );

  api.delete<{ Params: { id: number } }>(
    '/user/tokens/:id',
    {
      schema: op('tokens', 'Revoke an access token and the refresh tokens its logins produced', {
        params: params({ id: { type: 'integer', minimum: 1 } }),
        ok: { 204: null },
        errors: [400, 403, 404],
      }),
    },
    async (req, reply) => {
      const who = person(req);
      const token = await d.stores.credentials.accessToken(req.params.id);
      if (!token || token.userId !== who.userId) throw notFound('token');
      await change(d, auditOf(req, 'token.revoke', who.username, { id: token.id, name: token.name }), async (tx, now) => {
        await d.stores.credentials.revokeAccessToken(tx, token.id, now);
        // Registry tokens do not say which access token they came from: all of the user's go.
        await d.revocations.record(tx, [{ kind: 'subject', key: who.username }], now);
      });
      return reply.code(204).send();
    },
  );
}
