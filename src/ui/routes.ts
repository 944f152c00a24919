// The web UI, served by Berth itself: one HTML shell for every page under /ui/, the
// compiled client (src/ui/client/*.tsx → dist/ui/client/*.js), Preact from
// node_modules, the stylesheet, sign-in sessions (/ui/session) and three JSON reads of
// registry data (/ui/api/tags, /ui/api/pull, /ui/api/manifest). Everything else the pages show or
// change goes through the REST API (/api/v1) with the session cookie plus CSRF header,
// so the UI follows exactly the API's rules. Registered from app.ts in token mode.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { caller, identify } from '../api/caller.js';
import type { ApiDeps } from '../api/deps.js';
import { RegistryError } from '../errors/catalog.js';
import { RestError } from '../errors/rest.js';
import { prepareRestInput } from '../http/rest-input.js';
import { isValidRepositoryName } from '../oci/names.js';
import type { ManifestService } from '../registry/manifests.js';
import { RegistryView, type TagFacts } from './registry-view.js';
import { CSRF_HEADER, SESSION_COOKIE, checkedSession, cookieValue, setSessionCookie } from '../auth/sessions.js';
import { STYLES } from './styles.js';

export const UI_PREFIX = '/ui';
const BODY_LIMIT = 16 * 1024;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function asset(body: Buffer | string, type: string): Asset {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return { body: b, type, etag: `"${createHash('sha256').update(b).digest('base64url').slice(0, 22)}"` };
}

/** The compiled client: beside this file (dist), or dist/ui/client when running from src (tests). */
function clientDir(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const dir of [path.join(here, 'client'), path.resolve(here, '../../dist/ui/client')]) {
    if (existsSync(path.join(dir, 'app.js'))) return dir;
  }
  return null;
}

/** Whether `npm run build` has compiled the client (without it the UI has no pages). */
export function uiClientBuilt(): boolean {
  return clientDir() !== null;
}

function loadAssets(): Map<string, Asset> {
  const out = new Map<string, Asset>();
  out.set('app.css', asset(STYLES, 'text/css; charset=utf-8'));
  const dir = clientDir();
  if (dir) {
    for (const f of readdirSync(dir)) if (f.endsWith('.js')) out.set(f, asset(readFileSync(path.join(dir, f)), 'text/javascript; charset=utf-8'));
  }
  return out;
}

function loadVendor(): Map<string, Asset> {
  const require = createRequire(import.meta.url);
  const out = new Map<string, Asset>();
  for (const [file, spec] of [
    ['preact.mjs', 'preact'],
    ['hooks.mjs', 'preact/hooks'],
    ['jsx-runtime.mjs', 'preact/jsx-runtime'],
  ] as const) {
    out.set(file, asset(readFileSync(require.resolve(spec)), 'text/javascript; charset=utf-8'));
  }
  return out;
}

const IMPORT_MAP = JSON.stringify({
  imports: { preact: '/ui/vendor/preact.mjs', 'preact/hooks': '/ui/vendor/hooks.mjs', 'preact/jsx-runtime': '/ui/vendor/jsx-runtime.mjs' },
});
const IMPORT_MAP_HASH = createHash('sha256').update(IMPORT_MAP).digest('base64');
const ICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='7' fill='%23155eef'/%3E%3Cpath d='M7 20h18l-3 5H10z M10 17V9h5v8z M17 17v-6h5v6z' fill='white'/%3E%3C/svg%3E";

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `script-src 'self' 'sha256-${IMPORT_MAP_HASH}'`,
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function shell(ready: boolean): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Berth</title>
<link rel="icon" href="${ICON}">
<link rel="stylesheet" href="/ui/assets/app.css">
<script type="importmap">${IMPORT_MAP}</script>
${ready ? '<script type="module" src="/ui/assets/app.js"></script>' : ''}
</head>
<body>
<div id="app"><main class="container narrow"><h1>Berth</h1>${
    ready
      ? '<noscript><p>The web UI needs JavaScript. Everything it does is also in the REST API under <code>/api/v1</code>.</p></noscript><p class="muted">Loading…</p>'
      : '<p>The web UI has not been built: run <code>npm run build</code>.</p>'
  }</main></div>
</body>
</html>
`;
}

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
    .header('X-Content-Type-Options', 'nosniff')
    .header('Referrer-Policy', 'same-origin')
    .header('X-Frame-Options', 'DENY');
}

export interface UiRegistry {
  manifests: ManifestService;
  /** Signature status and vulnerability counts for the tag listing (signature trust, scanning). */
  tagFacts?: TagFacts;
}

export async function registerUi(app: FastifyInstance, deps: ApiDeps, registry: UiRegistry): Promise<void> {
  const assets = loadAssets();
  const vendor = loadVendor();
  const ready = assets.has('app.js');
  const page = asset(shell(ready), 'text/html; charset=utf-8');
  const sessions = deps.stores.sessions;
  const view = new RegistryView(deps.meta, registry.manifests, registry.tagFacts);

  // The API answers 401 with `WWW-Authenticate: Basic`, which makes browsers pop up their
  // own login dialog over the page; the UI's requests (they carry the CSRF header) get
  // the 401 without it. Added on the root before the API plugins, so it reaches them.
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.headers[CSRF_HEADER] !== undefined && reply.statusCode === 401) reply.removeHeader('WWW-Authenticate');
    return payload;
  });

  app.get('/', async (_req, reply) => reply.redirect(`${UI_PREFIX}/`, 302));

  await app.register(
    async (ui) => {
      prepareRestInput(ui, BODY_LIMIT);

      const send = (req: FastifyRequest, reply: FastifyReply, a: Asset | undefined, cache: string) => {
        if (!a) throw new RestError('NOT_FOUND');
        securityHeaders(reply).header('Cache-Control', cache).header('ETag', a.etag);
        if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
        return reply.header('Content-Type', a.type).send(a.body);
      };
      const sendPage = (req: FastifyRequest, reply: FastifyReply) => send(req, reply, page, 'no-cache');
      ui.get('/', sendPage);
      ui.get('/*', sendPage);
      ui.get<{ Params: { file: string } }>('/assets/:file', (req, reply) => send(req, reply, assets.get(req.params.file), 'no-cache'));
      ui.get<{ Params: { file: string } }>('/vendor/:file', (req, reply) => send(req, reply, vendor.get(req.params.file), 'public, max-age=86400'));

      // ---- sessions ----

      /** The session's user as the page shows it; null when the API would not take the session. */
      const me = async (userId: number, since: number) => {
        const u = await deps.stores.users.userById(userId);
        if (!u || u.disabled || u.robotOrgId !== null || u.passwordChangedAt > since) return null;
        return { name: u.username, email: u.email, admin: u.isAdmin };
      };

      ui.get('/session', async (req, reply) => {
        reply.header('Cache-Control', 'no-store');
        const secret = cookieValue(req.headers.cookie, SESSION_COOKIE);
        const row = secret ? await sessions.find(secret, deps.now()) : null;
        const user = row ? await me(row.userId, row.createdAt) : null;
        if (!row || !user) {
          if (secret) setSessionCookie(req, reply, null);
          return { user: null };
        }
        return { user, csrf: row.csrf };
      });

      ui.post<{ Body: { username: string; password: string } }>(
        '/session',
        {
          schema: {
            body: {
              type: 'object',
              properties: { username: { type: 'string', minLength: 1, maxLength: 128 }, password: { type: 'string', minLength: 1, maxLength: 1024 } },
              required: ['username', 'password'],
              additionalProperties: false,
            },
          },
        },
        async (req, reply) => {
          reply.header('Cache-Control', 'no-store');
          // Login CSRF: a cross-site form cannot send a custom header.
          if (!req.headers[CSRF_HEADER]) throw new RestError('DENIED', 'sign-in needs the X-Berth-CSRF header');
          const who = await deps.accounts.authenticate(req.body.username, req.body.password, req.ip);
          if (who.accessTokenId !== undefined || who.robotOrgId !== null) throw new RestError('DENIED', 'sign in with your password, not an access token');
          const old = cookieValue(req.headers.cookie, SESSION_COOKIE);
          if (old) {
            const row = await sessions.find(old, deps.now());
            if (row) await sessions.delete(row.id);
          }
          const { secret, csrf } = await sessions.create(who.userId, { address: req.ip, userAgent: req.headers['user-agent'] ?? null }, deps.now());
          await deps.accounts.audit({ actor: who.username, action: 'login.session', target: who.username, address: req.ip });
          setSessionCookie(req, reply, secret);
          return { user: await me(who.userId, deps.now()), csrf };
        },
      );

      ui.delete('/session', async (req, reply) => {
        reply.header('Cache-Control', 'no-store');
        const row = await checkedSession(deps, req).catch((err: unknown) => {
          // An ended session signs out fine; a missing or wrong CSRF header does not.
          if (err instanceof RegistryError && err.status === 401) return null;
          throw err;
        });
        if (row) await sessions.delete(row.id);
        setSessionCookie(req, reply, null);
        return reply.code(204).send();
      });

      // ---- registry data (same visibility rules as the API) ----

      const visible = async (req: FastifyRequest, name: string | undefined) => {
        if (!name || !isValidRepositoryName(name)) throw new RestError('INVALID', 'invalid repository name');
        const repo = await deps.authorizer.visibleRepository(caller(req), name);
        if (!repo) throw new RestError('NOT_FOUND', 'repository not found');
        return repo;
      };
      const identified = {
        onRequest: async (req: FastifyRequest, reply: FastifyReply) => {
          reply.header('Cache-Control', 'no-store');
          await identify(deps, req);
        },
      };

      ui.get<{ Querystring: { repository: string; n: number; page: number } }>(
        '/api/tags',
        {
          ...identified,
          schema: {
            querystring: {
              type: 'object',
              properties: {
                repository: { type: 'string', maxLength: 255 },
                n: { type: 'integer', minimum: 1, maximum: 100, default: 25 },
                page: { type: 'integer', minimum: 1, maximum: 100000, default: 1 },
              },
              required: ['repository'],
              additionalProperties: false,
            },
          },
        },
        async (req) => {
          const repo = await visible(req, req.query.repository);
          const { tags, total } = await view.tags(repo.id, repo.name, req.query.n, req.query.page);
          return { repository: repo.name, page: req.query.page, pageSize: req.query.n, total, tags };
        },
      );

      ui.get<{ Querystring: { repository: string } }>(
        '/api/pull',
        {
          ...identified,
          schema: {
            querystring: {
              type: 'object',
              properties: { repository: { type: 'string', maxLength: 255 } },
              required: ['repository'],
              additionalProperties: false,
            },
          },
        },
        async (req) => {
          const repo = await visible(req, req.query.repository);
          return { repository: repo.name, reference: await view.pullReference(repo.id) };
        },
      );

      ui.get<{ Querystring: { repository: string; reference: string } }>(
        '/api/manifest',
        {
          ...identified,
          schema: {
            querystring: {
              type: 'object',
              properties: { repository: { type: 'string', maxLength: 255 }, reference: { type: 'string', maxLength: 200 } },
              required: ['repository', 'reference'],
              additionalProperties: false,
            },
          },
        },
        async (req) => {
          const repo = await visible(req, req.query.repository);
          return view.manifest(repo.name, repo.id, req.query.reference);
        },
      );
    },
    { prefix: UI_PREFIX },
  );
}
