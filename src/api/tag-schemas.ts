// JSON schemas of the tag routes (tag-routes.ts): tag history, restore, immutable-tag rules.
import { GLOB_LIMITS } from '../registry/tag-rules.js';
import { body, nullableString, params, time } from './schemas.js';

const digest = { type: 'string', minLength: 8, maxLength: 200, description: 'a manifest digest (sha256:…)' } as const;
const nullableDigest = { type: ['string', 'null'], description: 'a manifest digest, or null' } as const;
export const tagName = { type: 'string', minLength: 1, maxLength: 128, description: 'a tag' } as const;

export const historyQuery = {
  type: 'object',
  properties: {
    tag: tagName,
    n: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    before: { type: 'integer', minimum: 1, description: 'entries with a smaller id (the `next` of the previous page)' },
  },
  additionalProperties: false,
} as const;

export const historyEntry = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    tag: { type: 'string' },
    action: { type: 'string', enum: ['push', 'delete', 'restore'], description: 'push creates or moves the tag; restore moved it back through the API' },
    digest: { ...nullableDigest, description: 'what the tag points at after the change; null for a delete' },
    previousDigest: { ...nullableDigest, description: 'what it pointed at before; null when the change created the tag' },
    actor: { ...nullableString, description: 'the account that made the change; null when anonymous' },
    at: time,
    restorable: {
      type: 'boolean',
      description: 'the tag can be restored to this entry’s digest (previousDigest for a delete): that manifest still exists and the tag points elsewhere',
    },
  },
  required: ['id', 'tag', 'action', 'digest', 'previousDigest', 'actor', 'at', 'restorable'],
} as const;

export const historyList = {
  type: 'object',
  properties: { entries: { type: 'array', items: historyEntry }, next: { type: 'integer', description: 'pass as `before` for the next page' } },
  required: ['entries'],
} as const;

export const restoreBody = body({ digest }, ['digest']);

export const restoreResult = {
  type: 'object',
  properties: {
    tag: { type: 'string' },
    digest,
    previousDigest: { ...nullableDigest, description: 'what the tag pointed at before; null when it had been deleted' },
    restored: { type: 'boolean', description: 'false when the tag already pointed at the digest (nothing changed)' },
  },
  required: ['tag', 'digest', 'previousDigest', 'restored'],
} as const;

export const ruleName = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-z0-9]+(?:[._-][a-z0-9]+)*$' } as const;
const repositoriesGlob = {
  type: 'string',
  minLength: 1,
  maxLength: GLOB_LIMITS.repositories,
  description: 'glob over the repository path below the namespace ("**" = all, "app", "team/*")',
} as const;
const tagsGlob = { type: 'string', minLength: 1, maxLength: GLOB_LIMITS.tags, description: 'glob over tag names ("v*", "{latest,stable}", "*")' } as const;
const globList = (item: object, what: string) => ({ type: 'array', items: item, maxItems: GLOB_LIMITS.exclusions, description: what }) as const;

const ruleFields = {
  repositories: repositoriesGlob,
  tags: tagsGlob,
  excludeRepositories: globList(repositoriesGlob, 'repositories the rule leaves out'),
  excludeTags: globList(tagsGlob, 'tags the rule leaves out'),
};

export const createRuleBody = body({ name: ruleName, ...ruleFields }, ['name', 'tags']);
export const updateRuleBody = body(ruleFields);

export const rule = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    namespace: { type: 'string' },
    repositories: { type: 'string' },
    tags: { type: 'string' },
    excludeRepositories: { type: 'array', items: { type: 'string' } },
    excludeTags: { type: 'array', items: { type: 'string' } },
    createdBy: nullableString,
    createdAt: time,
    updatedAt: time,
  },
  required: ['name', 'namespace', 'repositories', 'tags', 'excludeRepositories', 'excludeTags', 'createdBy', 'createdAt', 'updatedAt'],
} as const;

export const ruleList = { type: 'object', properties: { rules: { type: 'array', items: rule } }, required: ['rules'] } as const;

const ns = { type: 'string', maxLength: 64, description: 'a user or an organisation' } as const;
export const nsParams = params({ ns });
export const ruleParams = params({ ns, rule: ruleName });
