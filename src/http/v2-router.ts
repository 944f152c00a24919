// The /v2 route table. Repository names contain slashes, so one wildcard route
// parses the path and dispatches on (resource, method).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { mirrorAllows, type Action } from '../auth/policy.js';
import { RegistryError } from '../errors/catalog.js';
import { isValidRepositoryName } from '../oci/names.js';
import { cancelUpload, deleteBlob, finishUpload, getBlob, patchUpload, startUpload, uploadStatus } from './blob-routes.js';
import type { RegistryContext, V2Request } from './context.js';
import { serveDuringOutage } from './outage-serve.js';
import { databaseUnavailable } from '../errors/unavailable.js';
import { catalog, deleteManifest, getManifest, listTags, putManifest, referrers } from './manifest-routes.js';

type Handler = (ctx: RegistryContext, r: V2Request) => Promise<void>;
/** `deletes`: a DELETE that removes content (not an upload cancel) needs the delete action. */
/** `template`: the route as metrics and logs name it (never the repository name itself). */
/** `pulls`: GET and HEAD of this route may be answered from the outage cache while the database is down. */
type Route = {
  re: RegExp;
  template: string;
  methods: Record<string, Handler>;
  writes: string[];
  deletes?: boolean;
  uploads?: boolean;
  pulls?: 'manifest' | 'blob';
};

const routes: Route[] = [
  { re: /^(.+)\/blobs\/uploads\/?$/, template: '/v2/{name}/blobs/uploads/', methods: { POST: startUpload }, writes: ['POST'], uploads: true },
  {
    re: /^(.+)\/blobs\/uploads\/([^/]+)$/,
    template: '/v2/{name}/blobs/uploads/{uuid}',
    methods: { GET: uploadStatus, PATCH: patchUpload, PUT: finishUpload, DELETE: cancelUpload },
    writes: ['PATCH', 'PUT', 'DELETE'],
    uploads: true,
  },
  {
    re: /^(.+)\/blobs\/([^/]+)$/,
    template: '/v2/{name}/blobs/{digest}',
    methods: { GET: (c, r) => getBlob(c, r, false), HEAD: (c, r) => getBlob(c, r, true), DELETE: deleteBlob },
    writes: ['DELETE'],
    deletes: true,
    pulls: 'blob',
  },
  {
    re: /^(.+)\/manifests\/([^/]+)$/,
    template: '/v2/{name}/manifests/{reference}',
    methods: { GET: (c, r) => getManifest(c, r, false), HEAD: (c, r) => getManifest(c, r, true), PUT: putManifest, DELETE: deleteManifest },
    writes: ['PUT', 'DELETE'],
    deletes: true,
    pulls: 'manifest',
  },
  { re: /^(.+)\/tags\/list$/, template: '/v2/{name}/tags/list', methods: { GET: listTags }, writes: [] },
  { re: /^(.+)\/referrers\/([^/]+)$/, template: '/v2/{name}/referrers/{digest}', methods: { GET: referrers }, writes: [] },
];

export function registerV2Routes(app: FastifyInstance, ctx: RegistryContext): void {
  const base = async (req: FastifyRequest, reply: FastifyReply) => {
    await ctx.access.base(req);
    return reply.code(200).header('Content-Type', 'application/json').send('{}');
  };
  app.route({ method: ['GET', 'HEAD'], url: '/v2/', handler: base });
  app.route({ method: ['GET', 'HEAD'], url: '/v2', handler: base });
  app.route({
    method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    url: '/v2/*',
    handler: (req, reply) => dispatch(ctx, req, reply),
  });
}

async function dispatch(ctx: RegistryContext, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const url = req.url;
  const q = url.indexOf('?');
  const path = url.slice('/v2/'.length, q < 0 ? undefined : q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));

  if (path === '_catalog') {
    if (req.method !== 'GET') throw new RegistryError('UNSUPPORTED', `${req.method} is not supported here`);
    await catalog(ctx, req, reply, query);
    return reply;
  }
  for (const route of routes) {
    const m = route.re.exec(path);
    if (!m) continue;
    const handler = route.methods[req.method];
    if (!handler) {
      reply.header('Allow', Object.keys(route.methods).join(', '));
      throw new RegistryError('UNSUPPORTED', `${req.method} is not supported here`);
    }
    const name = m[1];
    if (!isValidRepositoryName(name)) throw new RegistryError('NAME_INVALID', undefined, { detail: { name: name.slice(0, 300) } });
    const action = actionFor(route, req.method);
    // A mirrored name (src/mirror/routing.ts) is read-only: refused before any token is asked for.
    const mirror = ctx.mirror ? await ctx.mirror.resolve(name, query.get('ns')) : null;
    if (mirror && !mirrorAllows(action)) throw ctx.mirror!.readOnlyError(name, mirror);
    // Routed by ns= to a name that differs here: the token must be for the cache's name (containerd asks
    // for the challenge's scope too).
    await ctx.access.require(req, mirror?.via === 'ns' ? mirror.local : name, action);
    if (ctx.readOnly && route.writes.includes(req.method)) {
      throw new RegistryError('UNSUPPORTED', 'the registry is in read-only mode', { status: 405 });
    }
    const param = m[2] ? decodeURIComponent(m[2]) : '';
    const r: V2Request = { req, reply, name: mirror ? mirror.local : name, param, query, ...(mirror ? { mirror, requested: name } : {}) };
    try {
      await handler(ctx, r);
    } catch (err) {
      if (ctx.outage && route.pulls && (req.method === 'GET' || req.method === 'HEAD') && !reply.sent) {
        // The database is down: what this replica served recently is answered from memory.
        const down = databaseUnavailable(err);
        if (down && (await serveDuringOutage(ctx, route.pulls, r, req.method === 'HEAD', down))) return reply;
        // Gone, as the database says now: never served from memory in a later outage.
        if (err instanceof RegistryError && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'BLOB_UNKNOWN')) forget(ctx, route.pulls, r);
      }
      throw err;
    }
    // Fastify waits for a streamed body only when the async handler returns the reply.
    return reply;
  }
  throw new RegistryError('NAME_UNKNOWN', 'no such endpoint', { status: 404 });
}

function forget(ctx: RegistryContext, resource: 'manifest' | 'blob', r: V2Request): void {
  const cache = ctx.outage!.cache;
  if (resource === 'blob') cache.forgetBlob(r.name, r.param);
  else if (r.param.includes(':')) cache.forgetManifest(r.name, r.param);
  else cache.forgetTag(r.name, r.param);
}

/**
 * The repository a /v2 path (after `/v2/`, without the query) names and what the request
 * needs of it, as dispatch() decides them; null for the catalog and paths no route takes.
 * The network rules (src/net/access-hook.ts) use it before any other work.
 */
export function v2Target(method: string, path: string): { name: string; action: Action } | null {
  for (const route of routes) {
    const m = route.re.exec(path);
    if (m) return route.methods[method] ? { name: m[1], action: actionFor(route, method) } : null;
  }
  return null;
}

/**
 * The route template of a /v2 path (after `/v2/`, without the query) and the repository it names,
 * for metrics: the catalog has no repository; a path no route takes is `/v2/*`.
 */
export function v2Route(path: string): { template: string; name: string | null } {
  if (path === '_catalog') return { template: '/v2/_catalog', name: null };
  for (const route of routes) {
    const m = route.re.exec(path);
    if (m) return { template: route.template, name: m[1] };
  }
  return { template: '/v2/*', name: null };
}

/** What a request needs: uploads are pushes (even their GET), DELETE of content is delete, other reads pull. */
function actionFor(route: Route, method: string): Action {
  if (route.uploads) return 'push';
  if (method === 'DELETE' && route.deletes) return 'delete';
  return route.writes.includes(method) ? 'push' : 'pull';
}
