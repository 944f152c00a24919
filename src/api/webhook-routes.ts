// REST routes of webhooks (per namespace, per repository, personal ones for watched
// repositories), their delivery log and redelivery, watching, and the in-app list of
// new tags on watched repositories. Its own encapsulated plugin under /api/v1, with
// the same caller resolution (caller.ts) and error body as the rest of the API.
//
// Repository names contain slashes, and /api/v1/repositories/* already has wildcard
// routes, so a route constraint tells …/{name}/webhooks and …/{name}/watch apart;
// it must match when derived, so those URLs never reach the other wildcard routes.
import { pathStrategy } from './path-strategy.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { canAdministerNamespace, namespaceOf, type Principal } from '../auth/policy.js';
import { RegistryError } from '../errors/catalog.js';
import { RestError } from '../errors/rest.js';
import { isValidRepositoryName } from '../oci/names.js';
import { invalidTagPattern } from '../webhooks/filters.js';
import type { Webhooks } from '../webhooks/index.js';
import type { DeliveryStatus, WebhookEventType, WebhookFormat, WebhookScopeKind } from '../webhooks/schema.js';
import { newWebhookSecret } from '../webhooks/signing.js';
import type { Delivery, Webhook } from '../webhooks/store.js';
import { auditOf, badRequest, caller, conflict, forbidden, invalidRepositoryName, notFound, person, signedIn, unknownRepository } from './caller.js';
import { change, type ApiDeps } from './deps.js';
import { documentedAs, op, repositoryNameParam } from './schemas.js';
import {
  createBody,
  delivery,
  deliveryDetail,
  deliveryList,
  deliveryParams,
  deliveryQuery,
  deliveryView,
  hookParams,
  kindQuery,
  namespaceParams,
  notificationList,
  notificationQuery,
  seenBody,
  updateBody,
  watchList,
  watchState,
  webhook,
  webhookList,
  webhookView,
} from './webhook-schemas.js';

const PREFIX = '/api/v1';
const REPO_PATH = `${PREFIX}/repositories/`;
type RepoShape = 'webhooks' | 'watch';
const SHAPES: Record<RepoShape, RegExp> = { webhooks: /^(.+)\/webhooks$/, watch: /^(.+)\/watch$/ };

/** The route constraint: …/repositories/{name}/webhooks and …/{name}/watch. */
export const webhookPathStrategy = pathStrategy(
  'berthWebhookPath',
  (req) => {
    const url = req.url ?? '';
    if (!url.startsWith(REPO_PATH)) return undefined;
    return repoShape(url.slice(REPO_PATH.length).split('?')[0])?.shape;
  },
  true,
);

/** Route options of a /repositories/* route of ours: its constraint, and its real path in the OpenAPI document. */
const on = (shape: RepoShape) => ({
  constraints: { berthWebhookPath: shape },
  config: documentedAs(`/repositories/{name}/${shape}`, { name: repositoryNameParam }),
});

function repoShape(rest: string): { shape: RepoShape; name: string } | null {
  for (const shape of Object.keys(SHAPES) as RepoShape[]) {
    const m = SHAPES[shape].exec(rest);
    if (m) return { shape, name: m[1] };
  }
  return null;
}

interface HookBody {
  url?: string;
  name?: string | null;
  secret?: string;
  rotateSecret?: boolean;
  events?: WebhookEventType[];
  tagPattern?: string | null;
  format?: WebhookFormat;
  active?: boolean;
}

/** Registers the webhook routes in the /api/v1 scope (routes.ts; webhookPathStrategy is on the app). */
export function registerWebhookRoutes(api: FastifyInstance, d: ApiDeps, hooks: Webhooks): void {
  const {
    stores: { users, orgs },
    authorizer,
  } = d;
  const store = hooks.store;
  const noSuchHook = () => notFound('webhook');

  const repoName = (req: FastifyRequest, want: RepoShape): string => {
    const p = repoShape((req.params as Record<string, string>)['*'] ?? '');
    if (!p || p.shape !== want) throw unknownRepository();
    if (!isValidRepositoryName(p.name)) throw invalidRepositoryName();
    return p.name;
  };

  /** The repository's webhooks are managed by those who administer it; others get 404 or 403 like the repository API. */
  const administeredRepository = async (who: Principal, name: string): Promise<void> => {
    if (!(await authorizer.visibleRepository(who, name))) throw unknownRepository();
    if (!(await authorizer.mayAdminister(who, name))) throw forbidden('repository administrators only');
  };
  const administeredNamespace = async (who: Principal, ns: string): Promise<void> => {
    const kind = await users.namespaceKind(ns);
    if (!kind) throw notFound('namespace');
    const role = kind === 'org' ? await orgs.orgRole(ns, who.userId) : null;
    if (!canAdministerNamespace(who, ns, kind, role)) throw forbidden('namespace administrators only');
  };

  /** The webhook when the caller may manage it; otherwise the same 404 as a missing one. */
  const managed = async (req: FastifyRequest, id: number): Promise<Webhook> => {
    const who = person(req);
    const hook = await store.get(id);
    if (!hook) throw noSuchHook();
    try {
      if (hook.scopeKind === 'repository') await administeredRepository(who, hook.scope);
      else if (hook.scopeKind === 'namespace') await administeredNamespace(who, hook.scope);
      else if (hook.scopeKind === 'user') {
        if (hook.scope !== who.username && !who.isAdmin) throw noSuchHook();
      } else if (!who.isAdmin) throw noSuchHook();
    } catch (err) {
      if ((err instanceof RestError || err instanceof RegistryError) && err.status !== 401) throw noSuchHook();
      throw err;
    }
    return hook;
  };

  const checkUrl = (url: string): string => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw badRequest('url is not a valid URL');
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw badRequest('url must be http or https');
    // Literal addresses are judged now; host names when delivering (what they resolve to can change).
    const refused = hooks.policy.urlRefusal(u);
    if (refused) throw badRequest(`url: webhooks may not reach ${refused}; an administrator can allow it in notifications.webhooks.allow`);
    return u.href;
  };
  const checkPattern = (p: string | null | undefined): string | null => {
    if (p === undefined || p === null || p === '') return null;
    const why = invalidTagPattern(p);
    if (why) throw badRequest(why);
    return p;
  };

  // Usage is the namespace's business: its quota events go to namespace webhooks only.
  const checkEvents = (scopeKind: WebhookScopeKind, events: WebhookEventType[]): WebhookEventType[] => {
    if (scopeKind !== 'namespace' && events.includes('quota.warning'))
      throw badRequest('quota.warning is sent to namespace webhooks only', { field: 'events' });
    return events;
  };

  const create = async (req: FastifyRequest<{ Body: HookBody }>, scopeKind: WebhookScopeKind, scope: string, namespace: string | null) => {
    const b = req.body;
    const secret = b.secret ?? newWebhookSecret();
    const w = {
      scopeKind,
      scope,
      namespace,
      name: b.name ?? null,
      url: checkUrl(b.url!),
      secret,
      events: checkEvents(scopeKind, b.events ?? ['push' as const]),
      tagPattern: checkPattern(b.tagPattern),
      format: b.format ?? 'dockerhub',
      active: b.active ?? true,
      createdBy: caller(req)?.username ?? null,
    };
    const id = await change(d, auditOf(req, 'webhook.create', scope, { kind: scopeKind, url: w.url, events: w.events, format: w.format }), (tx, now) =>
      store.create(tx, w, now),
    );
    return { ...webhookView((await store.get(id))!), secret };
  };

  // ---- per namespace ----

  api.get<{ Params: { ns: string } }>(
    '/namespaces/:ns/webhooks',
    {
      schema: op('webhooks', "A namespace's webhooks (its user, or the organisation's owners)", {
        params: namespaceParams,
        ok: { 200: webhookList },
        errors: [403, 404],
      }),
    },
    async (req) => {
      await administeredNamespace(person(req), req.params.ns);
      return { webhooks: (await store.list('namespace', req.params.ns)).map(webhookView) };
    },
  );

  api.post<{ Params: { ns: string }; Body: HookBody }>(
    '/namespaces/:ns/webhooks',
    {
      schema: op('webhooks', 'Add a webhook for every repository of a namespace', {
        params: namespaceParams,
        body: createBody,
        ok: { 201: webhook },
        errors: [400, 403, 404],
      }),
    },
    async (req, reply) => {
      await administeredNamespace(person(req), req.params.ns);
      return reply.code(201).send(await create(req, 'namespace', req.params.ns, req.params.ns));
    },
  );

  // ---- per repository ----

  api.get(
    '/repositories/*',
    { ...on('webhooks'), schema: op('webhooks', "A repository's webhooks (its administrators)", { ok: { 200: webhookList }, errors: [400, 403, 404] }) },
    async (req) => {
      const name = repoName(req, 'webhooks');
      await administeredRepository(person(req), name);
      return { webhooks: (await store.list('repository', name)).map(webhookView) };
    },
  );

  api.post<{ Body: HookBody }>(
    '/repositories/*',
    {
      ...on('webhooks'),
      schema: op('webhooks', 'Add a webhook to a repository (its administrators)', { body: createBody, ok: { 201: webhook }, errors: [400, 403, 404] }),
    },
    async (req, reply) => {
      const name = repoName(req, 'webhooks');
      await administeredRepository(person(req), name);
      const ns = namespaceOf(name);
      // The owning namespace row, when there is one, so its deletion takes the webhook along.
      const namespace = (await users.namespaceKind(ns)) ? ns : null;
      return reply.code(201).send(await create(req, 'repository', name, namespace));
    },
  );

  // ---- personal webhooks: new tags of the repositories the caller watches ----

  api.get(
    '/user/webhooks',
    { schema: op('webhooks', "The caller's personal webhooks (new tags of watched repositories)", { ok: { 200: webhookList }, errors: [403] }) },
    async (req) => ({
      webhooks: (await store.list('user', person(req).username)).map(webhookView),
    }),
  );

  api.post<{ Body: HookBody }>(
    '/user/webhooks',
    {
      schema: op('webhooks', 'Add a personal webhook: new tags of the repositories you watch', { body: createBody, ok: { 201: webhook }, errors: [400, 403] }),
    },
    async (req, reply) => {
      const who = person(req);
      if (who.robotOrgId !== null) throw forbidden('robot accounts cannot watch repositories');
      return reply.code(201).send(await create(req, 'user', who.username, who.username));
    },
  );

  // ---- all webhooks (administrators): configured endpoints are found here ----

  api.get<{ Querystring: { kind?: WebhookScopeKind } }>(
    '/webhooks',
    {
      schema: op('webhooks', 'Every webhook, including the configured endpoints (administrators)', {
        querystring: kindQuery,
        ok: { 200: webhookList },
        errors: [400, 403],
      }),
    },
    async (req) => {
      if (!person(req).isAdmin) throw forbidden('administrators only');
      return { webhooks: (await store.listAll(req.query.kind)).map(webhookView) };
    },
  );

  // ---- one webhook ----

  api.get<{ Params: { id: number } }>(
    '/webhooks/:id',
    { schema: op('webhooks', 'A webhook (those who may manage it)', { params: hookParams, ok: { 200: webhook }, errors: [400, 403, 404] }) },
    async (req) => webhookView(await managed(req, req.params.id)),
  );

  api.patch<{ Params: { id: number }; Body: HookBody }>(
    '/webhooks/:id',
    {
      schema: op('webhooks', 'Change a webhook; a new secret is in the reply once', {
        params: hookParams,
        body: updateBody,
        ok: { 200: webhook },
        errors: [400, 403, 404, 409],
      }),
    },
    async (req) => {
      const hook = await managed(req, req.params.id);
      if (hook.scopeKind === 'config') throw conflict('this endpoint is defined in the configuration file');
      const b = req.body ?? {};
      const secret = b.rotateSecret ? newWebhookSecret() : b.secret;
      const patch = {
        ...(b.url !== undefined ? { url: checkUrl(b.url) } : {}),
        ...(b.name !== undefined ? { name: b.name } : {}),
        ...(b.events !== undefined ? { events: checkEvents(hook.scopeKind, b.events) } : {}),
        ...(b.tagPattern !== undefined ? { tagPattern: checkPattern(b.tagPattern) } : {}),
        ...(b.format !== undefined ? { format: b.format } : {}),
        ...(b.active !== undefined ? { active: b.active } : {}),
        ...(secret !== undefined ? { secret } : {}),
      };
      const { secret: _s, ...logged } = patch;
      await change(d, auditOf(req, 'webhook.update', hook.scope, { id: hook.id, ...logged, ...(secret ? { secret: 'changed' } : {}) }), (tx, now) =>
        store.update(tx, hook.id, patch, now),
      );
      return { ...webhookView((await store.get(hook.id))!), ...(secret ? { secret } : {}) };
    },
  );

  api.delete<{ Params: { id: number } }>(
    '/webhooks/:id',
    { schema: op('webhooks', 'Delete a webhook', { params: hookParams, ok: { 204: null }, errors: [400, 403, 404, 409] }) },
    async (req, reply) => {
      const hook = await managed(req, req.params.id);
      if (hook.scopeKind === 'config') throw conflict('this endpoint is defined in the configuration file');
      await change(d, auditOf(req, 'webhook.delete', hook.scope, { id: hook.id, url: hook.url }), (tx) => store.delete(tx, hook.id));
      return reply.code(204).send();
    },
  );

  // ---- deliveries ----

  api.get<{ Params: { id: number }; Querystring: { n: number; before?: number; status?: DeliveryStatus } }>(
    '/webhooks/:id/deliveries',
    {
      schema: op('webhooks', "A webhook's deliveries, newest first", {
        params: hookParams,
        querystring: deliveryQuery,
        ok: { 200: deliveryList },
        errors: [400, 403, 404],
      }),
    },
    async (req) => {
      const hook = await managed(req, req.params.id);
      const rows = await store.deliveries(hook.id, req.query.n, req.query.before, req.query.status);
      return { deliveries: rows.map(deliveryView), ...(rows.length === req.query.n ? { next: rows[rows.length - 1].id } : {}) };
    },
  );

  const ownDelivery = async (req: FastifyRequest<{ Params: { id: number; delivery: number } }>): Promise<Delivery> => {
    const hook = await managed(req, req.params.id);
    const del = await store.delivery(req.params.delivery);
    if (!del || del.webhookId !== hook.id) throw notFound('delivery');
    return del;
  };

  api.get<{ Params: { id: number; delivery: number } }>(
    '/webhooks/:id/deliveries/:delivery',
    {
      schema: op('webhooks', 'One delivery with its payload and every attempt', {
        params: deliveryParams,
        ok: { 200: deliveryDetail },
        errors: [400, 403, 404],
      }),
    },
    async (req) => {
      const del = await ownDelivery(req);
      return { ...deliveryView(del), contentType: del.contentType, payload: del.body, attempts: await store.attempts(del.id) };
    },
  );

  api.post<{ Params: { id: number; delivery: number } }>(
    '/webhooks/:id/deliveries/:delivery/redeliver',
    { schema: op('webhooks', 'Send a delivery again', { params: deliveryParams, ok: { 202: delivery }, errors: [400, 403, 404] }) },
    async (req, reply) => {
      const del = await ownDelivery(req);
      // The state as queued (a worker may send it before this reply is written).
      const queued = await change(d, auditOf(req, 'webhook.redeliver', del.repository, { webhook: del.webhookId, delivery: del.uuid }), async (tx, now) => {
        await store.redeliver(tx, del.id, now);
        return store.delivery(del.id, tx);
      });
      return reply.code(202).send(deliveryView(queued!));
    },
  );

  // ---- watching ----

  const visibleToCaller = async (req: FastifyRequest, name: string): Promise<Principal> => {
    const who = signedIn(req);
    if (!(await authorizer.visibleRepository(who, name))) throw unknownRepository();
    return who;
  };

  api.get(
    '/repositories/*',
    { ...on('watch'), schema: op('watching', 'Whether the caller watches a repository', { ok: { 200: watchState }, errors: [400, 404] }) },
    async (req) => {
      const name = repoName(req, 'watch');
      const who = await visibleToCaller(req, name);
      const w = await store.watching(who.userId, name);
      return { repository: name, watching: w !== null, ...(w ? { source: w.source, since: w.createdAt } : {}) };
    },
  );

  api.put(
    '/repositories/*',
    {
      ...on('watch'),
      schema: op('watching', 'Watch a repository: its new tags in your notifications and personal webhooks', { ok: { 200: watchState }, errors: [400, 404] }),
    },
    async (req) => {
      const name = repoName(req, 'watch');
      const who = await visibleToCaller(req, name);
      await d.meta.transaction((tx) => store.watch(tx, who.userId, name, d.now()));
      const w = await store.watching(who.userId, name);
      return { repository: name, watching: true, source: w?.source ?? 'watch', since: w?.createdAt ?? d.now() };
    },
  );

  api.delete(
    '/repositories/*',
    { ...on('watch'), schema: op('watching', 'Stop watching a repository', { ok: { 204: null }, errors: [400, 404] }) },
    async (req, reply) => {
      const name = repoName(req, 'watch');
      const who = signedIn(req);
      // Unwatching needs no visibility: a repository made private must still be unwatchable.
      const removed = await d.meta.transaction((tx) => store.unwatch(tx, who.userId, name));
      if (!removed && !(await authorizer.visibleRepository(who, name))) throw unknownRepository();
      return reply.code(204).send();
    },
  );

  api.get(
    '/user/watching',
    { schema: op('watching', 'The repositories the caller watches (those still visible)', { ok: { 200: watchList } }) },
    async (req) => {
      const who = signedIn(req);
      const out = [];
      for (const w of await store.watched(who.userId)) {
        if (await authorizer.visibleRepository(who, w.repository)) out.push({ repository: w.repository, source: w.source, since: w.createdAt });
      }
      return { watching: out };
    },
  );

  api.get<{ Querystring: { n: number; before?: number } }>(
    '/user/notifications',
    {
      schema: op('watching', 'New tags of watched repositories, newest first', {
        querystring: notificationQuery,
        ok: { 200: notificationList },
        errors: [400],
      }),
    },
    async (req) => {
      const who = signedIn(req);
      const rows = await store.notifications(who.userId, req.query.n, req.query.before);
      const seen = await store.seenId(who.userId);
      // Visibility is checked now, not when the tag was pushed: a repository made private hides its past notifications too.
      const visible = new Map<string, boolean>();
      const notifications = [];
      for (const r of rows) {
        if (!visible.has(r.repository)) visible.set(r.repository, (await authorizer.visibleRepository(who, r.repository)) !== null);
        if (!visible.get(r.repository)) continue;
        notifications.push({
          id: r.id,
          type: 'tag.push',
          repository: r.repository,
          tag: r.tag,
          digest: r.digest,
          pusher: r.actor,
          at: r.at,
          unread: r.id > seen,
        });
      }
      return {
        notifications,
        unread: notifications.filter((n) => n.unread).length,
        ...(rows.length === req.query.n ? { next: rows[rows.length - 1].id } : {}),
      };
    },
  );

  api.post<{ Body: { upTo?: number } | undefined }>(
    '/user/notifications/seen',
    { schema: op('watching', 'Mark notifications read, up to an id (all when left out)', { body: seenBody, ok: { 204: null }, errors: [400] }) },
    async (req, reply) => {
      const who = signedIn(req);
      const upTo = req.body?.upTo ?? (await store.notifications(who.userId, 1))[0]?.id ?? 0;
      await d.meta.transaction((tx) => store.markSeen(tx, who.userId, Math.max(upTo, 0)), { durable: false });
      return reply.code(204).send();
    },
  );
}
