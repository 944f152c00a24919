// The Docker registry v1 search API, which `docker search HOST/term` still uses:
//   GET /v1/_ping                      → 200 {} (dockerd pings before it searches)
//   GET /v1/search?q=&n=&page=         → {num_pages, num_results, results[], page_size, query, page}
// dockerd sends no credentials before `docker login`; after it, the Basic credentials of
// the login, or (when the login got a refresh token, as from the built-in issuer) a Bearer
// token fetched for scope registry:catalog:search, whose subject says who is searching.
// podman sends none, and lists /v2/_catalog with its credentials when this does not answer 200.
// Private repositories appear only for those who may see them (the same SQL rule as the JSON
// search API). With an external issuer, that issuer decides (v1-external.ts).
//   open        everyone sees everything
//   htpasswd    401 without valid Basic credentials (podman falls back to the catalog)
//   built-in    anonymous: public repositories; signed in: what the account may see
//   external    401 without a token granting catalog search (podman falls back to the catalog)
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BerthConfig } from '../config/index.js';
import { InvalidCredentials, type Credential, type Identifier } from '../auth/identify.js';
import type { Principal } from '../auth/policy.js';
import type { TokenAuth } from '../auth/token-auth.js';
import { RegistryError } from '../errors/catalog.js';
import type { IndexService } from '../index/service.js';
import type { Viewer } from '../index/store.js';
import { ExternalSearchAccess, type ExternalSearchOptions } from './v1-external.js';

export type V1Auth =
  | { mode: 'open' }
  | { mode: 'htpasswd'; identifier: Identifier; realm: string }
  | { mode: 'token'; identifier: Identifier; service: string }
  | ({ mode: 'external' } & ExternalSearchOptions);

/** Search with the built-in issuer takes what dockerd and people send: a registry token, a password or an access token. */
const SEARCH_CREDENTIALS: readonly Credential[] = ['registry-token', 'password', 'access-token'];

const DEFAULT_PAGE_SIZE = 25;

export function registerV1Routes(app: FastifyInstance, index: IndexService, auth: V1Auth): void {
  const external = auth.mode === 'external' ? new ExternalSearchAccess(auth) : null;

  const viewer = async (req: FastifyRequest): Promise<Viewer> => {
    if (auth.mode === 'open') return { all: true };
    if (auth.mode === 'htpasswd') {
      const caller = await auth.identifier.identify(req, ['password']).catch((err) => {
        if (err instanceof InvalidCredentials) return null;
        throw err;
      });
      if (caller?.kind === 'htpasswd') return { all: true };
      throw new RegistryError('UNAUTHORIZED', undefined, { headers: { 'WWW-Authenticate': `Basic realm="${auth.realm.replace(/["\\]/g, '')}"` } });
    }
    if (auth.mode === 'external') return external!.viewer(req);
    try {
      const caller = await auth.identifier.identify(req, SEARCH_CREDENTIALS);
      if (caller.kind === 'account') return viewerOf(caller.principal);
      // Like the catalog: a registry token says who, not which access token it came from.
      if (caller.kind === 'registry-token') return viewerOf(await auth.identifier.tokenAccount(caller.token));
      return viewerOf(null);
    } catch (err) {
      if (!(err instanceof InvalidCredentials) || err.credential !== 'registry-token') throw err;
      const realm = `${req.protocol}://${req.headers.host ?? 'localhost'}/token`;
      throw new RegistryError('UNAUTHORIZED', err.message, {
        headers: {
          'WWW-Authenticate': `Bearer realm="${realm.replace(/["\\]/g, '')}",service="${auth.service.replace(/["\\]/g, '')}",scope="registry:catalog:search",error="invalid_token"`,
        },
      });
    }
  };

  const send = (reply: FastifyReply, status: number, body: unknown) =>
    reply.code(status).header('Content-Type', 'application/json').header('Cache-Control', 'no-store').send(JSON.stringify(body));

  app.get('/v1/_ping', async (_req, reply) => {
    reply.header('X-Docker-Registry-Version', '0.6.0').header('X-Docker-Registry-Standalone', 'true');
    return send(reply, 200, {});
  });

  app.get('/v1/search', async (req, reply) => {
    const query = new URLSearchParams(req.url.split('?')[1] ?? '');
    const q = (query.get('q') ?? '').slice(0, 200);
    const n = intParam(query.get('n'), DEFAULT_PAGE_SIZE, 1, 100);
    const page = intParam(query.get('page'), 1, 1, 10_000);
    const who = await viewer(req);
    const { total, hits } = await index.store.search(who, { q, n, page });
    return send(reply, 200, {
      num_pages: Math.max(1, Math.ceil(total / n)),
      num_results: total,
      results: hits.map((h) => ({ name: h.name, description: h.description ?? '', star_count: h.starCount, is_official: false, is_automated: false })),
      page_size: n,
      query: q,
      page,
    });
  });
}

function intParam(raw: string | null, fallback: number, min: number, max: number): number {
  if (raw === null || raw === '') return fallback;
  if (!/^\d{1,6}$/.test(raw)) throw new RegistryError('PAGINATION_NUMBER_INVALID', `invalid number "${raw.slice(0, 20)}"`, { status: 400 });
  return Math.min(max, Math.max(min, Number(raw)));
}

/** The search viewer of a principal (null = anonymous). */
export function viewerOf(p: Principal | null): Viewer {
  if (!p) return { all: false, userId: null };
  if (p.isAdmin) return { all: true, userId: p.userId };
  return { all: false, userId: p.userId, username: p.robotOrgId === null ? p.username : undefined, limits: p.limits };
}

/** How /v1/search identifies callers, from the auth section of the configuration. */
export function v1AuthOf(config: BerthConfig, identifier: Identifier, tokenAuth: TokenAuth | null): V1Auth {
  const a = config.auth;
  if (a?.token) {
    if (!tokenAuth) throw new Error('auth.token is configured but token auth was not built');
    const { services, realm } = tokenAuth;
    return services ? { mode: 'token', identifier, service: a.token.service } : { mode: 'external', identifier, service: a.token.service, realm };
  }
  if (a?.htpasswd) return { mode: 'htpasswd', identifier, realm: a.htpasswd.realm };
  return { mode: 'open' };
}
