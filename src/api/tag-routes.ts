// REST routes of tags: a repository's tag history and restoring a tag to an earlier digest
// (src/registry/tag-restore.ts), and each namespace's immutable-tag rules (src/registry/tag-rules.ts).
// Who may do what is policy.ts's (mayReadTagHistory, mayRestoreTag, and for the rules
// namespaceRulesAccess); a private repository answers exactly like a missing one.
//
// Repository names contain slashes: a route constraint of ours tells …/{name}/tag-history and
// …/{name}/tags/{tag}/restore apart from the other /repositories/* routes (it must match when derived).
import { repositorySubpaths } from './path-strategy.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ImmutableTagRule, ImmutableTagRuleStore, RuleFields } from '../metadata/immutable-tag-rules.js';
import type { TagHistoryStore } from '../metadata/tag-history.js';
import { parseDigest } from '../oci/digest.js';
import { isValidTag } from '../oci/names.js';
import { invalidRule } from '../registry/tag-rules.js';
import type { TagRestore } from '../registry/tag-restore.js';
import { auditOf, badRequest, caller, conflict, forbidden, namespaceRulesAccess, notFound, unauthorized, unknownRepository } from './caller.js';
import { change, type ApiDeps } from './deps.js';
import { documentedAs, op, repositoryNameParam } from './schemas.js';
import {
  createRuleBody,
  historyList,
  historyQuery,
  nsParams,
  restoreBody,
  restoreResult,
  ruleList,
  ruleParams,
  rule as ruleSchema,
  updateRuleBody,
} from './tag-schemas.js';

/** What the tag routes use besides the API's own dependencies (built in app.ts). */
export interface TagParts {
  history: TagHistoryStore;
  rules: ImmutableTagRuleStore;
  restore: TagRestore;
}

type Shape = 'tag-history' | 'restore';
const paths = repositorySubpaths<Shape>('berthTagPath', [
  ['tag-history', /^(.+)\/tag-history$/],
  ['restore', /^(.+)\/tags\/([^/]+)\/restore$/],
]);

/** The route constraint: …/repositories/{name}/tag-history and …/{name}/tags/{tag}/restore. */
export const tagPathStrategy = paths.strategy;

const tagParam = { type: 'string', description: 'the tag' } as const;
const on = (shape: Shape) => ({
  constraints: { berthTagPath: shape },
  config:
    shape === 'restore'
      ? documentedAs('/repositories/{name}/tags/{tag}/restore', { name: repositoryNameParam, tag: tagParam })
      : documentedAs('/repositories/{name}/tag-history', { name: repositoryNameParam }),
});

function tagPath(req: FastifyRequest, want: Shape): { name: string; tag?: string } {
  const { name, param: tag } = paths.parse(req, want);
  if (tag !== undefined && !isValidTag(tag)) throw badRequest(`invalid tag "${tag.slice(0, 140)}"`, { location: 'params', field: 'tag' });
  return { name, tag };
}

const ruleView = (r: ImmutableTagRule) => ({
  name: r.name,
  namespace: r.namespace,
  repositories: r.repositories,
  tags: r.tags,
  excludeRepositories: r.excludeRepositories,
  excludeTags: r.excludeTags,
  createdBy: r.createdBy,
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
});

export function registerTagRoutes(api: FastifyInstance, d: ApiDeps, tags: TagParts): void {
  const { authorizer } = d;

  // ---- tag history and restore ----

  api.get<{ Querystring: { tag?: string; n: number; before?: number } }>(
    '/repositories/*',
    {
      ...on('tag-history'),
      schema: op('tags', "A repository's tag history, newest first: pushes that created or moved a tag, deletes and restores (whoever may pull it)", {
        querystring: historyQuery,
        ok: { 200: historyList },
        errors: [400, 404],
        anonymous: true,
      }),
    },
    async (req) => {
      const { name } = tagPath(req, 'tag-history');
      const who = caller(req);
      const repo = await d.stores.repositories.repository(name);
      if (!repo || !(await authorizer.tagAccess(who, name)).read) throw unknownRepository();
      const { n, before, tag } = req.query;
      const entries = await tags.history.list(repo.id, { n, before, tag });
      const target = (e: (typeof entries)[number]) => (e.action === 'delete' ? e.previousDigest : e.digest);
      const [current, existing] = await Promise.all([
        tags.history.current(repo.id, [...new Set(entries.map((e) => e.tag))]),
        tags.history.existing(
          repo.id,
          entries.map(target).filter((x): x is string => x !== null),
        ),
      ]);
      const view = entries.map((e) => {
        const t = target(e);
        return { ...e, restorable: t !== null && existing.has(t) && current.get(e.tag) !== t };
      });
      return { entries: view, ...(entries.length === n ? { next: entries[entries.length - 1].id } : {}) };
    },
  );

  api.post<{ Body: { digest: string } }>(
    '/repositories/*',
    {
      ...on('restore'),
      schema: op('tags', 'Point a tag at a digest it pointed at before, while that manifest exists (whoever may push to the repository)', {
        body: restoreBody,
        ok: { 200: restoreResult },
        errors: [400, 403, 404, 409],
      }),
    },
    async (req) => {
      const { name, tag } = tagPath(req, 'restore');
      const who = caller(req);
      const access = await authorizer.tagAccess(who, name);
      if (!access.read) throw unknownRepository();
      if (!access.restore) throw who ? forbidden('restoring a tag needs push access to the repository') : unauthorized();
      let digest: string;
      try {
        digest = parseDigest(req.body.digest).value;
      } catch (err) {
        throw badRequest(`body/digest: ${(err as Error).message}`, { location: 'body', field: 'digest' });
      }
      const r = await tags.restore.restore(name, tag!, digest, { actor: who?.username ?? null, address: req.ip });
      if (r.outcome === 'no-repository') throw unknownRepository();
      if (r.outcome === 'not-in-history') throw notFound(`tag ${tag} never pointed at ${digest}: history entry`);
      if (r.outcome === 'manifest-gone') throw conflict(`the manifest ${digest} no longer exists in ${name} (deleted or collected); it cannot be restored`);
      if (r.outcome === 'restored') {
        await d.accounts.audit({
          actor: who?.username ?? null,
          action: 'tag.restore',
          target: `${name}:${tag}`,
          address: req.ip,
          detail: { digest, previous: r.previousDigest },
        });
      }
      return { tag: r.tag, digest: r.digest, previousDigest: r.previousDigest, restored: r.outcome === 'restored' };
    },
  );

  // ---- immutable-tag rules, per namespace ----

  const namespaceAccess = (req: FastifyRequest, ns: string, manage: boolean) => namespaceRulesAccess(d, req, ns, manage);

  const fields = (b: Partial<RuleFields>, base: RuleFields): RuleFields => {
    const f: RuleFields = {
      repositories: b.repositories ?? base.repositories,
      tags: b.tags ?? base.tags,
      excludeRepositories: b.excludeRepositories ?? base.excludeRepositories,
      excludeTags: b.excludeTags ?? base.excludeTags,
    };
    const why = invalidRule(f);
    if (why) throw badRequest(why, { location: 'body' });
    return f;
  };

  api.get<{ Params: { ns: string } }>(
    '/namespaces/:ns/immutable-tag-rules',
    {
      schema: op('tags', "A namespace's immutable-tag rules (its user, the organisation's members, administrators)", {
        params: nsParams,
        ok: { 200: ruleList },
        errors: [404],
      }),
    },
    async (req) => {
      await namespaceAccess(req, req.params.ns, false);
      return { rules: (await tags.rules.forNamespace(req.params.ns)).map(ruleView) };
    },
  );

  api.post<{ Params: { ns: string }; Body: { name: string } & Partial<RuleFields> }>(
    '/namespaces/:ns/immutable-tag-rules',
    {
      schema: op('tags', 'Add an immutable-tag rule: matching tags can no longer be moved or deleted (namespace administrators)', {
        params: nsParams,
        body: createRuleBody,
        ok: { 201: ruleSchema },
        errors: [400, 403, 404, 409],
      }),
    },
    async (req, reply) => {
      const { ns } = req.params;
      await namespaceAccess(req, ns, true);
      const { name, ...rest } = req.body;
      const f = fields(rest, { repositories: '**', tags: '', excludeRepositories: [], excludeTags: [] });
      await change(d, auditOf(req, 'tag-rule.create', ns, { rule: name, ...f }), async (tx, now) => {
        if (!(await tags.rules.create(tx, ns, name, f, caller(req)?.username ?? null, now))) throw conflict(`namespace ${ns} already has a rule named ${name}`);
      });
      return reply.code(201).send(ruleView((await tags.rules.get(ns, name))!));
    },
  );

  api.patch<{ Params: { ns: string; rule: string }; Body: Partial<RuleFields> }>(
    '/namespaces/:ns/immutable-tag-rules/:rule',
    {
      schema: op('tags', 'Change an immutable-tag rule (namespace administrators)', {
        params: ruleParams,
        body: updateRuleBody,
        ok: { 200: ruleSchema },
        errors: [400, 403, 404],
      }),
    },
    async (req) => {
      const { ns, rule } = req.params;
      await namespaceAccess(req, ns, true);
      const current = await tags.rules.get(ns, rule);
      if (!current) throw notFound('rule');
      const f = fields(req.body, current);
      await change(d, auditOf(req, 'tag-rule.update', ns, { rule, ...f }), async (tx, now) => {
        if (!(await tags.rules.update(tx, ns, rule, f, now))) throw notFound('rule');
      });
      return ruleView((await tags.rules.get(ns, rule))!);
    },
  );

  api.delete<{ Params: { ns: string; rule: string } }>(
    '/namespaces/:ns/immutable-tag-rules/:rule',
    {
      schema: op('tags', 'Remove an immutable-tag rule: its tags can be moved and deleted again (namespace administrators)', {
        params: ruleParams,
        ok: { 204: null },
        errors: [400, 403, 404],
      }),
    },
    async (req, reply) => {
      const { ns, rule } = req.params;
      await namespaceAccess(req, ns, true);
      await change(d, auditOf(req, 'tag-rule.delete', ns, { rule }), async (tx) => {
        if (!(await tags.rules.delete(tx, ns, rule))) throw notFound('rule');
      });
      return reply.code(204).send();
    },
  );
}
