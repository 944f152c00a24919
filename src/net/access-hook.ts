// Applies the network rules (access-rules.ts) to every request, first thing: a refused
// address gets its 403 DENIED before authentication, the database or storage is touched.
// Which surface and namespaces a request is in (docs/network-rules.md):
//   /v2 blob and manifest GET, tags, referrers          pull, of the repository's namespace
//   /v2 blob and manifest HEAD                          pull or push (pushers ask what exists)
//   /v2 uploads, manifest PUT, DELETE                   push, of the repository's namespace
//                                                       (and pull of the source's, for a mount)
//   /v2/_catalog, /v1/* (docker search)                 pull, global rules only
//   /v2/ and /token, /.well-known/jwks.json            an address that may pull or push somewhere
//   /api/v1/*                                           api (namespaced for /repositories/<ns>/…, /namespaces/<ns>/…, /orgs/<ns>…)
//   /ui/*, and /api requests from the UI (X-Berth-CSRF) ui (namespaced likewise, and for ?repository=)
//   /livez, /readyz, /healthz                           never refused (load balancers' and Kubernetes' probes)
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
import type { LiveRules } from './live-rules.js';

/**
 * One condition a request must meet: `surface` (or else `or`) admitted in every one of
 * `namespaces` (none: the global rules alone).
 */
export interface Check {
  surface: Surface;
  namespaces: string[];
  or?: Surface;
}

/** What a request is, for the rules: conditions to meet, an entry point, or nothing to check. */
export type RequestTarget = { kind: 'checks'; checks: Check[]; protocol: 'registry' | 'api' | 'ui' } | { kind: 'entry' } | { kind: 'open' };

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

// Fastify decodes the path's parameters (%2F too): the namespace is read from the decoded rest.
const API_NAMESPACED = /^\/api\/v1\/(?:repositories|namespaces|orgs)\/(.+)$/;

export function classifyRequest(method: string, url: string, headers: Record<string, unknown>, table: RoutingTable): RequestTarget {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = () => new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  if (path === '/v2' || path === '/v2/') return { kind: 'entry' };
  if (path.startsWith('/v2/')) {
    const t = v2Target(method, path.slice('/v2/'.length));
    if (!t) return registry({ surface: 'pull', namespaces: [] });
    const params = query();
    const namespaces = v2Namespaces(table, t.name, params.get('ns'));
    // HEAD only tells whether something exists, which every pusher asks before uploading.
    if (method === 'HEAD') return registry({ surface: 'pull', namespaces, or: 'push' });
    if (t.action === 'pull') return registry({ surface: 'pull', namespaces });
    const from = method === 'POST' && params.get('mount') ? params.get('from') : null;
    // A cross-repository mount reads from `from`: that needs a pull there, or the mount would copy around a pull rule.
    return from
      ? registry({ surface: 'push', namespaces }, { surface: 'pull', namespaces: v2Namespaces(table, from, null) })
      : registry({ surface: 'push', namespaces });
  }
  if (path === '/token' || path.startsWith('/.well-known/')) return { kind: 'entry' };
  if (path === '/livez' || path === '/readyz' || path === '/healthz') return { kind: 'open' };
  if (path === '/api' || path.startsWith('/api/')) {
    const m = API_NAMESPACED.exec(path);
    const namespaces = m ? [namespaceOf(decodeSegment(m[1]))] : [];
    // The UI is a client of the API: its requests are UI traffic (an address admitted to the UI could send them from the page anyway).
    return { kind: 'checks', checks: [{ surface: headers[CSRF_HEADER] !== undefined ? 'ui' : 'api', namespaces }], protocol: 'api' };
  }
  if (path === '/ui' || path.startsWith('/ui/') || path === '/') {
    const repository = path.startsWith('/ui/api/') ? query().get('repository') : null;
    return { kind: 'checks', checks: [{ surface: 'ui', namespaces: repository ? [namespaceOf(repository)] : [] }], protocol: 'ui' };
  }
  // /v1/* (docker search) and anything else the registry answers.
  return registry({ surface: 'pull', namespaces: [] });
}

const registry = (...checks: Check[]): RequestTarget => ({ kind: 'checks', checks, protocol: 'registry' });

/** The first refusal among `checks`, or allowed. */
export function decideChecks(rules: AccessRules, address: string, checks: readonly Check[]): Decision {
  for (const c of checks) {
    const d = decide(rules, address, c.surface, c.namespaces);
    if (!d.allowed && !(c.or && decide(rules, address, c.or, c.namespaces).allowed)) return d;
  }
  return { allowed: true };
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
export function registerNetworkRules(app: FastifyInstance, live: LiveRules, table: RoutingTable): void {
  if (!live.possible) return;
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const rules = live.current();
    if (!rules.active) return;
    const t = classifyRequest(request.method, request.url, request.headers, table);
    if (t.kind === 'open') return;
    // Fastify's req.ip: the peer, or with http.trustproxy the address X-Forwarded-For gives through trusted proxies.
    const d: Decision = t.kind === 'entry' ? decideAnywhere(rules, request.ip, ['pull', 'push']) : decideChecks(rules, request.ip, t.checks);
    if (d.allowed) return;
    request.log.info({ address: request.ip, rule: d.rule, entry: d.entry }, 'network rule refused a request');
    const detail = { rule: d.rule, ...(d.entry ? { entry: d.entry } : {}) };
    if (t.kind === 'checks' && t.protocol === 'ui' && request.method === 'GET' && /text\/html/.test(String(request.headers.accept ?? ''))) {
      return deniedPage(reply, d.message);
    }
    if (t.kind === 'checks' && t.protocol !== 'registry') throw new RestError('DENIED', d.message, { detail });
    throw new RegistryError('DENIED', d.message, { detail });
  });
}
