// Repositories: the visible list, one repository, its visibility and its
// collaborators. A repository the caller may not pull answers exactly like a
// missing one (same status, code and message), wherever it is asked about.
//
// Names contain slashes, so each method has one wildcard route; GET serves three
// shapes (/{name}, /{name}/collaborators, /{name}/collaborators/{user}), told apart
// by a route constraint so each is its own route in the OpenAPI document. The last
// "/collaborators" segment wins: a repository whose name ends in it is addressed
// only through the registry API.
import { pathStrategy } from './path-strategy.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { canAdministerNamespace, lowers, namespaceOf, resourceMatches, type Principal } from '../auth/policy.js';
import { RestError } from '../errors/rest.js';
import type { RepositoryRow } from '../metadata/accounts/repository-access.js';
import { isValidRepositoryName } from '../oci/names.js';
import { auditOf, caller, forbidden, invalidRepositoryName, notFound, person, unknownRepository } from './caller.js';
import { change, type ApiDeps } from './deps.js';
import { body, collaboratorSchema, documentedAs, listOf, memberName, op, permission, repositoryNameParam, repositorySchema } from './schemas.js';

type Shape = 'repository' | 'collaborators' | 'collaborator';
const PATH = '/api/v1/repositories/';
const COLLABORATOR = /^(.+)\/collaborators\/([^/]+)$/;
const COLLABORATORS = /^(.+)\/collaborators$/;

/** The route constraint (registered on the app): which GET shape a /repositories/* URL has. */
export const repositoryPathStrategy = pathStrategy(
  'berthRepositoryPath',
  (req) => {
    const url = req.url ?? '';
    if (!url.startsWith(PATH)) return undefined; // every other request: one startsWith
    return shapeOf(url.slice(PATH.length).split('?')[0]).shape;
  },
  false,
);

function shapeOf(rest: string): { shape: Shape; name: string; user?: string } {
  let m = COLLABORATOR.exec(rest);
  if (m) return { shape: 'collaborator', name: m[1], user: m[2] };
  m = COLLABORATORS.exec(rest);
  if (m) return { shape: 'collaborators', name: m[1] };
  return { shape: 'repository', name: rest };
}

const DOC: Record<Shape, [string, Record<string, object>]> = {
  repository: ['/repositories/{name}', { name: repositoryNameParam }],
  collaborators: ['/repositories/{name}/collaborators', { name: repositoryNameParam }],
  collaborator: ['/repositories/{name}/collaborators/{user}', { name: repositoryNameParam, user: memberName }],
};
const documented = (shape: Shape) => documentedAs(...DOC[shape]);

function parse(req: FastifyRequest, want: Shape): { name: string; user?: string } {
  const p = shapeOf((req.params as Record<string, string>)['*'] ?? '');
  if (p.shape !== want) throw want === 'repository' ? unknownRepository() : notFound('collaborator');
  if (!isValidRepositoryName(p.name)) throw invalidRepositoryName();
  return p;
}

export function registerRepositoryRoutes(api: FastifyInstance, d: ApiDeps): void {
  const {
    stores: { users, orgs, repositories: access },
    authorizer,
  } = d;
  const unknown = unknownRepository;

  /** The repository if the caller may pull it; otherwise the same 404 a missing one gives. */
  const visible = async (who: Principal | null, name: string): Promise<RepositoryRow> => {
    const repo = await authorizer.visibleRepository(who, name);
    if (!repo) throw unknown();
    return repo;
  };
  /** Visible, and the caller administers it: namespace admins, admin teams and admin collaborators. */
  const administered = async (req: FastifyRequest, name: string): Promise<RepositoryRow> => {
    const who = person(req);
    const repo = await visible(who, name);
    if (!(await authorizer.mayAdminister(who, name))) throw forbidden('repository administrators only');
    return repo;
  };
  const view = async (who: Principal | null, r: RepositoryRow) => ({
    name: r.name,
    namespace: r.namespace,
    visibility: r.visibility,
    actions: [...(await authorizer.actions(who, r.name))],
  });

  api.get<{ Querystring: { namespace?: string; n: number; last?: string } }>(
    '/repositories',
    {
      schema: op('repositories', 'Repositories the caller can see, by name', {
        querystring: {
          type: 'object',
          properties: {
            namespace: { type: 'string', maxLength: 64 },
            n: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            last: { type: 'string', maxLength: 255 },
          },
          additionalProperties: false,
        },
        ok: { 200: listOf('repositories', repositorySchema) },
        anonymous: true,
      }),
    },
    async (req) => {
      const who = caller(req);
      const { n, last, namespace } = req.query;
      const rows = await access.visibleRepositories(
        { userId: who?.userId ?? null, all: who?.isAdmin ?? false, username: who?.username },
        n,
        last,
        namespace ? `${namespace}/` : undefined,
      );
      // A token limited to some repositories lists only those (and public ones).
      const limits = who?.limits;
      const shown = limits ? rows.filter((r) => r.visibility === 'public' || resourceMatches(limits.resource, r.name)) : rows;
      const repositories = shown.map((r) => ({ name: r.name, namespace: r.namespace, visibility: r.visibility }));
      return { repositories, ...(rows.length === n ? { next: rows[rows.length - 1].name } : {}) };
    },
  );

  api.get(
    '/repositories/*',
    {
      constraints: { berthRepositoryPath: 'repository' },
      config: documented('repository'),
      schema: op('repositories', 'A repository (404 unless the caller may pull it)', { ok: { 200: repositorySchema }, errors: [400, 404], anonymous: true }),
    },
    async (req) => {
      const who = caller(req);
      return view(who, await visible(who, parse(req, 'repository').name));
    },
  );

  api.patch<{ Body: { visibility: 'public' | 'private' } }>(
    '/repositories/*',
    {
      config: documented('repository'),
      schema: op('repositories', 'Make a repository public or private (its administrators)', {
        body: body({ visibility: { type: 'string', enum: ['public', 'private'] } }, ['visibility']),
        ok: { 200: repositorySchema },
        errors: [400, 403, 404],
      }),
    },
    async (req) => {
      const repo = await administered(req, parse(req, 'repository').name);
      const visibility = req.body.visibility;
      await change(d, auditOf(req, 'repository.visibility', repo.name, { visibility, previous: repo.visibility }), async (tx, now) => {
        await access.setVisibility(tx, repo.id, visibility);
        // Anonymous tokens (and everyone else's) from when it was public.
        if (visibility === 'private' && repo.visibility === 'public') await d.revocations.record(tx, [{ kind: 'repository', key: repo.name }], now);
      });
      return view(caller(req), { ...repo, visibility });
    },
  );

  api.get(
    '/repositories/*',
    {
      constraints: { berthRepositoryPath: 'collaborators' },
      config: documented('collaborators'),
      schema: op('collaborators', "A repository's collaborators (its administrators)", {
        ok: { 200: listOf('collaborators', collaboratorSchema) },
        errors: [400, 403, 404],
      }),
    },
    async (req) => {
      const repo = await administered(req, parse(req, 'collaborators').name);
      return { collaborators: (await access.collaborators(repo.id)).map((c) => ({ name: c.username, permission: c.permission })) };
    },
  );

  api.get(
    '/repositories/*',
    {
      constraints: { berthRepositoryPath: 'collaborator' },
      config: documented('collaborator'),
      schema: op('collaborators', "A collaborator's permission (its administrators)", { ok: { 200: collaboratorSchema }, errors: [400, 403, 404] }),
    },
    async (req) => {
      const p = parse(req, 'collaborator');
      const repo = await administered(req, p.name);
      const c = (await access.collaborators(repo.id)).find((x) => x.username === p.user);
      if (!c) throw notFound('collaborator');
      return { name: c.username, permission: c.permission };
    },
  );

  api.put<{ Body: { permission: 'read' | 'write' | 'admin' } }>(
    '/repositories/*',
    {
      config: documented('collaborator'),
      schema: op('collaborators', 'Add a collaborator or change its permission (repository administrators)', {
        body: body({ permission }, ['permission']),
        ok: { 200: collaboratorSchema },
        errors: [400, 403, 404],
      }),
    },
    async (req) => {
      const p = parse(req, 'collaborator');
      const repo = await administered(req, p.name);
      const user = await users.userByName(p.user!);
      if (!user) throw notFound('user');
      const perm = req.body.permission;
      await change(d, auditOf(req, 'collaborator.set', repo.name, { user: user.username, permission: perm }), async (tx, now) => {
        if (lowers(await access.collaborator(repo.id, user.id, tx), perm)) await d.revocations.record(tx, [{ kind: 'subject', key: user.username }], now);
        await access.setCollaborator(tx, repo.id, user.id, perm);
      });
      return { name: user.username, permission: perm };
    },
  );

  api.delete(
    '/repositories/*',
    {
      constraints: { berthRepositoryPath: 'repository' },
      config: documented('repository'),
      schema: op('repositories', 'Delete a repository with all its tags and manifests (namespace administrators)', {
        ok: { 204: null },
        errors: [400, 403, 404, 405],
      }),
    },
    async (req, reply) => {
      const who = person(req);
      const name = parse(req, 'repository').name;
      await visible(who, name);
      const ns = namespaceOf(name);
      const kind = await users.namespaceKind(ns);
      const role = kind === 'org' ? await orgs.orgRole(ns, who.userId) : null;
      if (!canAdministerNamespace(who, ns, kind, role)) throw forbidden('namespace administrators only');
      if (!d.registry?.deleteEnabled) throw new RestError('UNSUPPORTED', 'deletes are disabled on this registry');
      if (!(await d.registry.deleteRepository(name, { actor: who.username, address: req.ip }))) throw unknown();
      // Tokens for it must not recreate it with rights that went with it (collaborators).
      await change(d, auditOf(req, 'repository.delete', name), (tx, now) => d.revocations.record(tx, [{ kind: 'repository', key: name }], now));
      return reply.code(204).send();
    },
  );

  api.delete(
    '/repositories/*',
    {
      constraints: { berthRepositoryPath: 'collaborator' },
      config: documented('collaborator'),
      schema: op('collaborators', 'Remove a collaborator (repository administrators)', { ok: { 204: null }, errors: [400, 403, 404] }),
    },
    async (req, reply) => {
      const p = parse(req, 'collaborator');
      const repo = await administered(req, p.name);
      const user = await users.userByName(p.user!);
      if (!user) throw notFound('collaborator');
      await change(d, auditOf(req, 'collaborator.remove', repo.name, { user: user.username }), async (tx, now) => {
        if (!(await access.removeCollaborator(tx, repo.id, user.id))) throw notFound('collaborator');
        await d.revocations.record(tx, [{ kind: 'subject', key: user.username }], now);
      });
      return reply.code(204).send();
    },
  );
}
