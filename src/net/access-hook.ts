// Applies the network rules (access-rules.ts) to every request, first thing: a refused
// address gets its 403 DENIED before authentication, the database or storage is touched.
// Which surface and namespaces a request is in (docs/network-rules.md):
//   /v2 blob and manifest GET/HEAD, tags, referrers    pull, of the repository's namespace
//   /v2 uploads, manifest PUT, DELETE                   push, of the repository's namespace
//   /v2/_catalog, /v1/* (docker search)                 pull, global rules only
//   /v2/ and /token, /.well-known/jwks.json            an address that may pull or push somewhere
//   /api/v1/*                                           api (namespaced for /repositories/<ns>/… and /namespaces/<ns>/…)
//   /ui/*, and /api requests from the UI (X-Berth-CSRF) ui (namespaced likewise, and for ?repository=)
//   /healthz                                            never refused (load balancers' probes)
// A mirrored name is in its cache's namespace; a name the default upstream may serve is
// checked against both its own namespace and the cache's (which one serves it is known
// only after a database lookup).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { namespaceOf } from '../auth/policy.js';
import { CSRF_HEADER } from '../auth/sessions.js';
import { RegistryError } from '../errors/catalog.js';
import { RestError } from '../errors/rest.js';
import { v2Target } from '../http/v2-router.js';
import { route, type RoutingTable } from '../mirror/routing.js';
import { decide, decideAnywhere, type AccessRules, type Decision, type Surface } from './access-rules.js';

/** What a request is, for the rules: a surface and namespaces, an entry point, or nothing to check. */
export type RequestTarget =
  | { kind: 'surface'; surface: Surface; namespaces: string[]; protocol: 'registry' | 'api' | 'ui' }
  | { kind: 'entry' }
  | { kind: 'open' };

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The namespaces a /v2 repository name (with containerd's ?ns=) is in. */
function v2Namespaces(table: RoutingTable, name: string, ns: string | null): string[] {
  const r = route(table, name, ns);
  if (r.kind === 'local') return [namespaceOf(name)];
  const cache = namespaceOf(r.target.local);
  if (r.kind === 'mirror') return [cache];
  const own = namespaceOf(name);
  return own === cache ? [own] : [own, cache];
}

const API_NAMESPACED = /^\/api\/v1\/(?:repositories|namespaces)\/([^/?]+)/;

export function classifyRequest(method: string, url: string, headers: Record<string, unknown>, table: RoutingTable): RequestTarget {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = () => new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  if (path === '/v2' || path === '/v2/') return { kind: 'entry' };
  if (path.startsWith('/v2/')) {
    const rest = path.slice('/v2/'.length);
    const t = v2Target(method, rest);
    if (!t) return { kind: 'surface', surface: 'pull', namespaces: [], protocol: 'registry' };
    return {
      kind: 'surface',
      surface: t.action === 'pull' ? 'pull' : 'push',
      namespaces: v2Namespaces(table, t.name, query().get('ns')),
      protocol: 'registry',
    };
  }
  if (path === '/token' || path.startsWith('/.well-known/')) return { kind: 'entry' };
  if (path === '/healthz') return { kind: 'open' };
  if (path === '/api' || path.startsWith('/api/')) {
    const m = API_NAMESPACED.exec(path);
    const namespaces = m ? [decodeSegment(m[1])] : [];
    // The UI is a client of the API: its requests are UI traffic (an address admitted to the UI could send them from the page anyway).
    if (headers[CSRF_HEADER] !== undefined) return { kind: 'surface', surface: 'ui', namespaces, protocol: 'api' };
    return { kind: 'surface', surface: 'api', namespaces, protocol: 'api' };
  }
  if (path === '/ui' || path.startsWith('/ui/') || path === '/') {
    const repository = path.startsWith('/ui/api/') ? query().get('repository') : null;
    return { kind: 'surface', surface: 'ui', namespaces: repository ? [namespaceOf(repository)] : [], protocol: 'ui' };
  }
  // /v1/* (docker search) and anything else the registry answers.
  return { kind: 'surface', surface: 'pull', namespaces: [], protocol: 'registry' };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function deniedPage(reply: FastifyReply, message: string): FastifyReply {
  return reply
    .code(403)
    .header('Content-Type', 'text/html; charset=utf-8')
    .header('Cache-Control', 'no-store')
    .header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'")
    .header('X-Content-Type-Options', 'nosniff')
    .send(
      `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>Access denied</title></head>\n<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">\n<h1>Access denied</h1>\n<p>${escapeHtml(message)}</p>\n<p>DENIED: ask the registry's operator if you need access from this network.</p>\n</body></html>\n`,
    );
}

/** Installs the rules as the app's first onRequest hook (call before any other hook that does work). */
export function registerNetworkRules(app: FastifyInstance, rules: AccessRules, table: RoutingTable): void {
  if (!rules.active) return;
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const t = classifyRequest(request.method, request.url, request.headers, table);
    if (t.kind === 'open') return;
    // Fastify's req.ip: the peer, or with http.trustproxy the address X-Forwarded-For gives through trusted proxies.
    const d: Decision = t.kind === 'entry' ? decideAnywhere(rules, request.ip, ['pull', 'push']) : decide(rules, request.ip, t.surface, t.namespaces);
    if (d.allowed) return;
    request.log.info({ address: request.ip, rule: d.rule, entry: d.entry }, 'network rule refused a request');
    const detail = { rule: d.rule, ...(d.entry ? { entry: d.entry } : {}) };
    if (t.kind === 'surface' && t.protocol === 'ui' && request.method === 'GET' && /text\/html/.test(String(request.headers.accept ?? ''))) {
      return deniedPage(reply, d.message);
    }
    if (t.kind === 'surface' && t.protocol !== 'registry') throw new RestError('DENIED', d.message, { detail });
    throw new RegistryError('DENIED', d.message, { detail });
  });
}
