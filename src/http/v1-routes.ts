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
import { TOKEN_PREFIX, sha256Hex } from '../auth/accounts.js';
import { HtpasswdVerifier, parseBasic } from '../auth/htpasswd.js';
import type { Principal } from '../auth/policy.js';
import type { AccountServices, TokenAuth } from '../auth/token-auth.js';
import { RegistryError } from '../errors/catalog.js';
import type { IndexService } from '../index/service.js';
import type { Viewer } from '../index/store.js';
import { TokenError } from '../token/tokens.js';
import { ExternalSearchAccess, type ExternalSearchOptions } from './v1-external.js';

export type V1Auth =
  | { mode: 'open' }
  | { mode: 'htpasswd'; path: string; realm: string }
  | { mode: 'token'; services: AccountServices; service: string }
  | ({ mode: 'external' } & ExternalSearchOptions);

const DEFAULT_PAGE_SIZE = 25;

export function registerV1Routes(app: FastifyInstance, index: IndexService, auth: V1Auth): void {
  const htpasswd = auth.mode === 'htpasswd' ? new HtpasswdVerifier(auth.path) : null;
  const external = auth.mode === 'external' ? new ExternalSearchAccess(auth) : null;

  const viewer = async (req: FastifyRequest): Promise<Viewer> => {
    const header = req.headers.authorization;
    if (auth.mode === 'open') return { all: true };
    if (auth.mode === 'htpasswd') {
      const creds = parseBasic(header);
      if (creds && (await htpasswd!.verify(creds.user, creds.password))) {
        req.user = creds.user;
        return { all: true };
      }
      throw new RegistryError('UNAUTHORIZED', undefined, { headers: { 'WWW-Authenticate': `Basic realm="${auth.realm.replace(/["\\]/g, '')}"` } });
    }
    if (auth.mode === 'external') return external!.viewer(req);
    if (!header) return { all: false, userId: null };
    const p = await principalOf(auth.services, req, header, auth.service);
    if (p) req.user = p.username;
    return viewerOf(p);
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

/** Who the credentials belong to: Basic (password or access token), a Bearer access token, or a Bearer registry token. */
async function principalOf(s: AccountServices, req: FastifyRequest, header: string, service: string): Promise<Principal | null> {
  if (/^basic\s/i.test(header)) {
    const creds = parseBasic(header);
    if (!creds) throw new RegistryError('UNAUTHORIZED', 'malformed Basic credentials');
    return s.accounts.authenticate(creds.user, creds.password, req.ip);
  }
  if (!/^bearer\s/i.test(header)) throw new RegistryError('UNAUTHORIZED', 'unsupported Authorization scheme');
  const secret = header.slice(7).trim();
  if (secret.startsWith(TOKEN_PREFIX)) {
    const token = await s.stores.credentials.accessTokenByHash(sha256Hex(secret));
    const owner = token ? await s.stores.users.userById(token.userId) : null;
    return s.accounts.authenticate(owner?.username ?? '', secret, req.ip);
  }
  try {
    const t = await s.verifier.verify(secret);
    if (!t.builtin || t.subject === '') return null;
    const user = await s.stores.users.userByName(t.subject);
    if (!user || user.disabled) return null;
    // Like the catalog: a registry token says who, not which access token it came from.
    return { userId: user.id, username: user.username, isAdmin: user.isAdmin, robotOrgId: user.robotOrgId };
  } catch (err) {
    if (!(err instanceof TokenError)) throw err;
    const realm = `${req.protocol}://${req.headers.host ?? 'localhost'}/token`;
    throw new RegistryError('UNAUTHORIZED', 'invalid token', {
      headers: { 'WWW-Authenticate': `Bearer realm="${realm.replace(/["\\]/g, '')}",service="${service.replace(/["\\]/g, '')}",scope="registry:catalog:search",error="invalid_token"` },
    });
  }
}

/** The search viewer of a principal (null = anonymous). */
export function viewerOf(p: Principal | null): Viewer {
  if (!p) return { all: false, userId: null };
  if (p.isAdmin) return { all: true, userId: p.userId };
  return { all: false, userId: p.userId, username: p.robotOrgId === null ? p.username : undefined, limits: p.limits };
}

/** How /v1/search identifies callers, from the auth section of the configuration. */
export function v1AuthOf(config: BerthConfig, tokenAuth: TokenAuth | null): V1Auth {
  const a = config.auth;
  if (a?.token) {
    if (!tokenAuth) throw new Error('auth.token is configured but token auth was not built');
    const { services, verifier, realm } = tokenAuth;
    return services ? { mode: 'token', services, service: a.token.service } : { mode: 'external', verifier, service: a.token.service, realm };
  }
  if (a?.htpasswd) return { mode: 'htpasswd', path: a.htpasswd.path, realm: a.htpasswd.realm };
  return { mode: 'open' };
}
