// The index's REST routes under /api/v1: search, descriptions and READMEs, stars,
// comments and their moderation. One encapsulated plugin (its own JSON parser and
// error handler, the same error body as the rest of the API), registered from app.ts.
//
// Repository names contain slashes, so the per-repository routes share the wildcard
// /repositories/* with repository-routes.ts. A route constraint of our own tells them
// apart: it is derived only for the method and path suffix each of our routes serves
// (PUT …/star, GET …/comments, PATCH …/comments/7 …) and must match when derived, so
// those requests reach only our handlers and every other request reaches only theirs.
import { pathStrategy } from './path-strategy.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/policy.js';
import { viewerOf } from '../http/v1-routes.js';
import { renderComment, renderReadme } from '../index/markdown.js';
import type { CommentAuthor, IndexService } from '../index/service.js';
import type { CommentRow, SearchQuery } from '../index/store.js';
import type { RepositoryRow } from '../metadata/accounts/repository-access.js';
import { isValidRepositoryName } from '../oci/names.js';
import { badRequest, caller, forbidden, invalidRepositoryName, notFound, unauthorized, unknownRepository } from './caller.js';
import type { ApiDeps } from './deps.js';
import {
  comment as commentSchema,
  commentBody,
  commentId,
  commentList,
  commentPage,
  commentSettings,
  commentSettingsResult,
  descriptionBody,
  moderationQueue,
  reportBody,
  reportResult,
  repositoryPage,
  searchQuery,
  searchResult,
  starResult,
} from './index-schemas.js';
import { documentedAs, op, params, repositoryNameParam } from './schemas.js';

/** A README of 100,000 characters and its JSON escaping. */
const DESCRIPTION_BODY_LIMIT = 256 * 1024;
const PREFIX = '/api/v1/repositories/';

type Shape = 'description' | 'star' | 'comments' | 'comment-settings' | 'comment' | 'report';
const SHAPES: { re: RegExp; shape: Shape; methods: string[] }[] = [
  { re: /^(.+)\/comments\/(\d{1,15})\/report$/, shape: 'report', methods: ['POST'] },
  { re: /^(.+)\/comments\/settings$/, shape: 'comment-settings', methods: ['PUT'] },
  { re: /^(.+)\/comments\/(\d{1,15})$/, shape: 'comment', methods: ['PATCH', 'DELETE'] },
  { re: /^(.+)\/comments$/, shape: 'comments', methods: ['GET', 'POST'] },
  { re: /^(.+)\/description$/, shape: 'description', methods: ['GET', 'PUT'] },
  { re: /^(.+)\/star$/, shape: 'star', methods: ['PUT', 'DELETE'] },
];

function shapeOf(method: string, url: string): { shape: Shape; name: string; id?: number } | null {
  if (!url.startsWith(PREFIX)) return null;
  let rest = url.slice(PREFIX.length);
  const q = rest.indexOf('?');
  if (q >= 0) rest = rest.slice(0, q);
  for (const s of SHAPES) {
    if (!s.methods.includes(method)) continue;
    const m = s.re.exec(rest);
    if (m) return { shape: s.shape, name: m[1], ...(m[2] ? { id: Number(m[2]) } : {}) };
  }
  return null;
}

export const indexPathStrategy = pathStrategy(
  'berthIndexPath',
  (req) => {
    const url = req.url ?? '';
    if (!url.startsWith(PREFIX)) return undefined;
    const s = shapeOf(req.method ?? '', url);
    return s ? `${req.method} ${s.shape}` : undefined;
  },
  true,
);

const DOC: Record<Shape, [string, Record<string, object>]> = {
  description: ['/repositories/{name}/description', { name: repositoryNameParam }],
  star: ['/repositories/{name}/star', { name: repositoryNameParam }],
  comments: ['/repositories/{name}/comments', { name: repositoryNameParam }],
  'comment-settings': ['/repositories/{name}/comments/settings', { name: repositoryNameParam }],
  comment: ['/repositories/{name}/comments/{id}', { name: repositoryNameParam, id: commentId }],
  report: ['/repositories/{name}/comments/{id}/report', { name: repositoryNameParam, id: commentId }],
};

/** Route options of a /repositories/* route of ours: its constraint, and its real path in the OpenAPI document. */
const on = (method: string, shape: Shape, config: object = {}) => ({
  constraints: { berthIndexPath: `${method} ${shape}` },
  config: { ...documentedAs(...DOC[shape]), ...config },
});

const commentNotFound = () => notFound('comment');

/** Registers the index's routes in the /api/v1 scope (routes.ts; indexPathStrategy is on the app). */
export function registerIndexRoutes(api: FastifyInstance, d: ApiDeps, index: IndexService): void {
  const { authorizer } = d;
  const store = index.store;

  const signedIn = (req: FastifyRequest): Principal => {
    const p = caller(req);
    if (!p) throw unauthorized();
    return p;
  };
  /** People only: robots neither star nor comment. */
  const person = (req: FastifyRequest): Principal => {
    const p = signedIn(req);
    if (p.robotOrgId !== null) throw forbidden('robot accounts cannot do this');
    return p;
  };
  const moderator = (p: Principal | null) => p?.isAdmin === true;

  const target = (req: FastifyRequest, shape: Shape): { name: string; id?: number } => {
    const s = shapeOf(req.method, req.url);
    if (!s || s.shape !== shape) throw unknownRepository();
    if (!isValidRepositoryName(s.name)) throw invalidRepositoryName();
    return s;
  };
  /** The repository if the caller may pull it; otherwise the same 404 as a missing one. */
  const visible = async (who: Principal | null, name: string): Promise<RepositoryRow> => {
    const repo = await authorizer.visibleRepository(who, name);
    if (!repo) throw unknownRepository();
    return repo;
  };
  const administered = async (req: FastifyRequest, name: string): Promise<RepositoryRow> => {
    const who = signedIn(req);
    const repo = await visible(who, name);
    if (!(await authorizer.mayAdminister(who, name))) throw forbidden('repository administrators only');
    return repo;
  };

  const search = async (req: FastifyRequest<{ Querystring: SearchQuery }>, starredOnly: boolean) => {
    const who = caller(req);
    const qs = req.query;
    const starred = starredOnly || qs.starred === true;
    if (starred && !who) throw unauthorized('sign in to filter by your stars');
    const { total, hits } = await store.search(viewerOf(who), { ...qs, starred });
    return { query: qs.q ?? '', page: qs.page, pageSize: qs.n, total, numPages: Math.max(1, Math.ceil(total / qs.n)), results: hits };
  };

  api.get<{ Querystring: SearchQuery }>(
    '/search',
    {
      schema: op('index', 'Search the repositories the caller can see', {
        querystring: searchQuery,
        ok: { 200: searchResult },
        errors: [400],
        anonymous: true,
      }),
    },
    (req) => search(req, false),
  );
  api.get<{ Querystring: SearchQuery }>(
    '/user/starred',
    {
      schema: op('index', "The caller's starred repositories (the search parameters apply)", {
        querystring: searchQuery,
        ok: { 200: searchResult },
        errors: [400],
      }),
    },
    (req) => search(req, true),
  );

  // ---- descriptions ----

  const page = async (who: Principal | null, repo: RepositoryRow) => {
    const info = await store.info(repo.id);
    return {
      name: repo.name,
      description: info.description,
      descriptionSource: info.descriptionSource,
      readme: info.readme,
      readmeHtml: info.readme ? renderReadme(info.readme) : '',
      starCount: info.starCount,
      starred: who ? await store.isStarred(repo.id, who.userId) : false,
      pullCount: info.pullCount,
      lastPullAt: info.lastPullAt,
      lastPushAt: info.lastPushAt,
      platforms: await store.platformsOf(repo.id),
      commentsEnabled: info.commentsEnabled,
    };
  };

  api.get(
    '/repositories/*',
    {
      ...on('GET', 'description'),
      schema: op('index', 'A repository’s description, README, stars, pulls and platforms (those who may pull it)', {
        ok: { 200: repositoryPage },
        errors: [400, 404],
        anonymous: true,
      }),
    },
    async (req) => {
      const who = caller(req);
      return page(who, await visible(who, target(req, 'description').name));
    },
  );

  api.put<{ Body: { description?: string | null; readme?: string | null } }>(
    '/repositories/*',
    {
      ...on('PUT', 'description', { multiline: ['readme'] }),
      bodyLimit: DESCRIPTION_BODY_LIMIT,
      schema: op('index', 'Set the description and README (repository administrators)', {
        body: descriptionBody,
        ok: { 200: repositoryPage },
        errors: [400, 403, 404],
      }),
    },
    async (req) => {
      const repo = await administered(req, target(req, 'description').name);
      const body = req.body ?? {};
      const clean = (s: string | null | undefined) => (s === undefined ? undefined : s === null || s.trim() === '' ? null : s);
      // One line (control characters are refused by src/http/rest-input.ts).
      const description = clean(body.description === undefined || body.description === null ? body.description : body.description.trim());
      const now = d.now();
      await d.meta.transaction(async (tx) => {
        await store.setDescription(tx, repo.id, { description, readme: clean(body.readme) }, now);
        await d.stores.audit.record(tx, { actor: caller(req)?.username ?? null, action: 'repository.description', target: repo.name, address: req.ip }, now);
      });
      return page(caller(req), repo);
    },
  );

  // ---- stars ----

  const star = async (req: FastifyRequest, onOff: boolean) => {
    const who = person(req);
    const repo = await visible(who, target(req, 'star').name);
    const starCount = await store.setStar(repo.id, who.userId, onOff, d.now());
    return { name: repo.name, starred: onOff, starCount };
  };
  const starSchema = (summary: string) => op('index', summary, { ok: { 200: starResult }, errors: [400, 403, 404] });
  api.put('/repositories/*', { ...on('PUT', 'star'), schema: starSchema('Star a repository (people, not robots)') }, (req) => star(req, true));
  api.delete('/repositories/*', { ...on('DELETE', 'star'), schema: starSchema('Take a star back') }, (req) => star(req, false));

  // ---- comments ----

  const view = (c: CommentRow, who: Principal | null) => ({
    id: c.id,
    repository: c.repository,
    author: c.author,
    body: c.body,
    html: renderComment(c.body),
    status: c.status,
    createdAt: c.createdAt,
    editedAt: c.editedAt,
    ...(moderator(who) ? { reportCount: c.reportCount } : {}),
  });

  /** What the index service's comment rules (trust, rate limit) need to know about the author. */
  const authorOf = async (who: Principal, repoName: string): Promise<CommentAuthor> => ({
    userId: who.userId,
    accountCreatedAt: (await d.stores.users.userById(who.userId))?.createdAt ?? null,
    moderator: moderator(who),
    repositoryAdmin: await authorizer.mayAdminister(who, repoName),
  });

  api.get<{ Querystring: { n: number; after?: number } }>(
    '/repositories/*',
    {
      ...on('GET', 'comments'),
      schema: op('comments', 'Comments on a repository, oldest first (those who may pull it; held ones to their authors and moderators)', {
        querystring: commentPage,
        ok: { 200: commentList },
        errors: [400, 404],
        anonymous: true,
      }),
    },
    async (req) => {
      const who = caller(req);
      const repo = await visible(who, target(req, 'comments').name);
      const info = await store.info(repo.id);
      const rows = await store.listComments(repo.id, { userId: who?.userId ?? null, moderator: moderator(who) }, req.query.n, req.query.after);
      return {
        enabled: info.commentsEnabled,
        comments: rows.map((c) => view(c, who)),
        ...(rows.length === req.query.n ? { next: rows[rows.length - 1].id } : {}),
      };
    },
  );

  api.post<{ Body: { body: string } }>(
    '/repositories/*',
    {
      ...on('POST', 'comments', { multiline: ['body'] }),
      schema: op('comments', 'Comment (people, not robots); held for moderation while the author is not trusted', {
        body: commentBody,
        ok: { 201: commentSchema },
        errors: [400, 403, 404],
      }),
    },
    async (req, reply) => {
      const who = person(req);
      const repo = await visible(who, target(req, 'comments').name);
      const text = req.body.body;
      if (text.trim() === '') throw badRequest('the comment is empty');
      const info = await store.info(repo.id);
      if (!info.commentsEnabled) throw forbidden('comments are turned off for this repository');
      const id = await index.addComment(repo.id, await authorOf(who, repo.name), text);
      const row = await store.comment(id);
      reply.code(201);
      return view(row!, who);
    },
  );

  api.put<{ Body: { enabled: boolean } }>(
    '/repositories/*',
    {
      ...on('PUT', 'comment-settings'),
      schema: op('comments', 'Turn comments on or off (repository administrators)', {
        body: commentSettings,
        ok: { 200: commentSettingsResult },
        errors: [400, 403, 404],
      }),
    },
    async (req) => {
      const repo = await administered(req, target(req, 'comment-settings').name);
      const now = d.now();
      await d.meta.transaction(async (tx) => {
        await store.setCommentsEnabled(tx, repo.id, req.body.enabled, now);
        await d.stores.audit.record(
          tx,
          { actor: caller(req)?.username ?? null, action: 'repository.comments', target: repo.name, address: req.ip, detail: { enabled: req.body.enabled } },
          now,
        );
      });
      return { name: repo.name, enabled: req.body.enabled };
    },
  );

  /** A comment the caller may read, on a repository the caller may pull (else 404). */
  const readable = async (req: FastifyRequest, shape: Shape): Promise<{ who: Principal | null; repo: RepositoryRow; comment: CommentRow }> => {
    const who = caller(req);
    const t = target(req, shape);
    const repo = await visible(who, t.name);
    const comment = await store.comment(t.id!);
    if (!comment || comment.repositoryId !== repo.id) throw commentNotFound();
    if (comment.status !== 'visible' && !moderator(who) && comment.authorId !== who?.userId) throw commentNotFound();
    return { who, repo, comment };
  };

  api.patch<{ Body: { body: string } }>(
    '/repositories/*',
    {
      ...on('PATCH', 'comment', { multiline: ['body'] }),
      schema: op('comments', 'Edit your comment', { body: commentBody, ok: { 200: commentSchema }, errors: [400, 403, 404] }),
    },
    async (req) => {
      person(req);
      const { who, repo, comment } = await readable(req, 'comment');
      if (comment.authorId !== who!.userId) throw forbidden('only the author may edit a comment');
      if (comment.status === 'rejected') throw forbidden('a rejected comment cannot be edited');
      const info = await store.info(repo.id);
      if (!info.commentsEnabled) throw forbidden('comments are turned off for this repository');
      if (req.body.body.trim() === '') throw badRequest('the comment is empty');
      await index.editComment(comment, await authorOf(who!, repo.name), req.body.body);
      return view((await store.comment(comment.id))!, who);
    },
  );

  api.delete(
    '/repositories/*',
    {
      ...on('DELETE', 'comment'),
      schema: op('comments', 'Delete a comment (its author, repository administrators, moderators)', { ok: { 204: null }, errors: [400, 403, 404] }),
    },
    async (req, reply) => {
      const who0 = signedIn(req);
      const { repo, comment } = await readable(req, 'comment');
      const allowed = comment.authorId === who0.userId || who0.isAdmin || (await authorizer.mayAdminister(who0, repo.name));
      if (!allowed) throw forbidden('only the author, repository administrators and moderators may delete a comment');
      const now = d.now();
      await d.meta.transaction(async (tx) => {
        await store.deleteComment(tx, comment.id);
        if (comment.authorId !== who0.userId) {
          await d.stores.audit.record(
            tx,
            { actor: who0.username, action: 'comment.delete', target: repo.name, address: req.ip, detail: { id: comment.id, author: comment.author } },
            now,
          );
        }
      });
      return reply.code(204).send();
    },
  );

  api.post<{ Body: { reason?: string } | undefined }>(
    '/repositories/*',
    {
      ...on('POST', 'report'),
      schema: op('comments', "Report someone else's comment; enough reports hold it for the moderators", {
        body: reportBody,
        ok: { 200: reportResult },
        errors: [400, 403, 404],
      }),
    },
    async (req) => {
      const who = person(req);
      const { comment } = await readable(req, 'report');
      if (comment.authorId === who.userId) throw badRequest('you cannot report your own comment');
      await index.reportComment(comment, who.userId, req.body?.reason?.trim() || null);
      return { id: comment.id, reported: true };
    },
  );

  // ---- moderation (administrators) ----

  const moderatorOnly = (req: FastifyRequest): Principal => {
    const p = signedIn(req);
    if (!p.isAdmin) throw forbidden('moderators (administrators) only');
    return p;
  };

  api.get<{ Querystring: { n: number; after?: number } }>(
    '/moderation/comments',
    {
      schema: op('moderation', 'Comments waiting for a moderator, with their reports (administrators)', {
        querystring: commentPage,
        ok: { 200: moderationQueue },
        errors: [400, 403],
      }),
    },
    async (req) => {
      const who = moderatorOnly(req);
      const rows = await store.moderationQueue(req.query.n, req.query.after);
      return {
        comments: rows.map((c) => ({ ...view(c, who), reports: c.reports })),
        ...(rows.length === req.query.n ? { next: rows[rows.length - 1].id } : {}),
      };
    },
  );

  const decide = (status: 'visible' | 'rejected', action: string) => async (req: FastifyRequest<{ Params: { id: string } }>) => {
    const who = moderatorOnly(req);
    if (!/^\d{1,15}$/.test(req.params.id)) throw commentNotFound();
    const comment = await store.comment(Number(req.params.id));
    if (!comment) throw commentNotFound();
    const now = d.now();
    await d.meta.transaction(async (tx) => {
      await store.setCommentStatus(tx, comment.id, status, who.userId, now, true);
      await d.stores.audit.record(
        tx,
        { actor: who.username, action, target: comment.repository, address: req.ip, detail: { id: comment.id, author: comment.author } },
        now,
      );
    });
    return view((await store.comment(comment.id))!, who);
  };
  const decision = (summary: string) => ({
    schema: op('moderation', summary, {
      params: params({ id: { type: 'string', description: 'comment id' } }),
      ok: { 200: commentSchema },
      errors: [403, 404],
    }),
  });
  api.post<{ Params: { id: string } }>(
    '/moderation/comments/:id/approve',
    decision('Publish a held comment (administrators)'),
    decide('visible', 'comment.approve'),
  );
  api.post<{ Params: { id: string } }>(
    '/moderation/comments/:id/reject',
    decision('Reject a comment: only its author and moderators see it (administrators)'),
    decide('rejected', 'comment.reject'),
  );
}
