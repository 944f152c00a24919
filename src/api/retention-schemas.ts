// JSON schemas of the retention-policy routes (retention-routes.ts); shapes in /work RETENTION.md
// and docs/retention.md. Semantic checks (globs, durations, at least one keep criterion) are
// src/retention/rules.ts's, so the API and any other surface refuse the same rules.
import { RETENTION_LIMITS } from '../retention/rules.js';
import { GLOB_LIMITS } from '../registry/tag-rules.js';
import { body, nullableString, params } from './schemas.js';

const policyName = {
  type: 'string',
  minLength: 1,
  maxLength: RETENTION_LIMITS.name,
  pattern: '^[A-Za-z0-9._-]+$',
  description: 'unique in the namespace',
} as const;
const ns = { type: 'string', maxLength: 64, description: 'a user or an organisation' } as const;
export const nsParams = params({ ns });
export const policyParams = params({ ns, name: policyName });

const iso = { type: 'string', format: 'date-time', description: 'ISO 8601' } as const;
const nullableIso = { type: ['string', 'null'], format: 'date-time', description: 'ISO 8601, or null' } as const;
const duration = { type: 'string', minLength: 1, maxLength: 32, description: 'a duration: 30d, 12h, 90m, 1h30m' } as const;
const repositoriesGlob = {
  type: 'string',
  minLength: 1,
  maxLength: GLOB_LIMITS.repositories,
  description: 'glob over the repository path below the namespace ("**" = all)',
} as const;
const tagsGlob = { type: 'string', minLength: 1, maxLength: GLOB_LIMITS.tags, description: 'glob over tag names' } as const;
const globList = (item: object) => ({ type: 'array', items: item, maxItems: GLOB_LIMITS.exclusions }) as const;

const keep = {
  type: 'object',
  description: 'what the rule keeps among the tags it selects in each repository (at least one criterion; any keeps)',
  properties: {
    latestPushed: { type: 'integer', minimum: 1, maximum: RETENTION_LIMITS.count, description: 'the N most recently pushed' },
    latestPulled: { type: 'integer', minimum: 1, maximum: RETENTION_LIMITS.count, description: 'the N most recently pulled (never pulled counts as oldest)' },
    pushedWithin: { ...duration, description: 'pushed within this duration' },
    pulledWithin: { ...duration, description: 'pulled within this duration' },
    forever: { type: 'boolean', description: 'every selected tag' },
  },
  additionalProperties: false,
} as const;

const ruleInput = {
  type: 'object',
  properties: {
    repositories: { ...repositoriesGlob, default: '**' },
    excludeRepositories: globList(repositoriesGlob),
    tags: tagsGlob,
    excludeTags: globList(tagsGlob),
    keep,
    untagged: { type: ['string', 'null'], minLength: 1, maxLength: 32, description: 'untagged manifests go once untagged this long (null: left alone)' },
  },
  required: ['tags', 'keep'],
  additionalProperties: false,
} as const;

const ruleOutput = {
  type: 'object',
  properties: {
    repositories: { type: 'string' },
    excludeRepositories: { type: 'array', items: { type: 'string' } },
    tags: { type: 'string' },
    excludeTags: { type: 'array', items: { type: 'string' } },
    keep: { ...keep, additionalProperties: true },
    untagged: nullableString,
  },
  required: ['repositories', 'excludeRepositories', 'tags', 'excludeTags', 'keep', 'untagged'],
} as const;

export const policyBody = body(
  {
    name: policyName,
    repository: { type: ['string', 'null'], maxLength: 255, description: 'one repository of the namespace (full name); null or absent: all of them' },
    enabled: { type: 'boolean', default: true },
    rules: { type: 'array', items: ruleInput, minItems: 1, maxItems: RETENTION_LIMITS.rules },
  },
  ['name', 'rules'],
);

export const runBody = body({ dryRun: { type: 'boolean', description: 'true: only list what would go' } }, ['dryRun']);

const lastRun = {
  type: ['object', 'null'],
  description: 'the last real run (scheduled or on demand), null before the first',
  properties: {
    at: iso,
    dryRun: { type: 'boolean' },
    tagsDeleted: { type: 'integer' },
    manifestsDeleted: { type: 'integer' },
    bytes: { type: 'integer' },
    protected: { type: 'integer' },
  },
  required: ['at', 'dryRun', 'tagsDeleted', 'manifestsDeleted', 'bytes', 'protected'],
} as const;

export const policySchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    namespace: { type: 'string' },
    repository: nullableString,
    enabled: { type: 'boolean' },
    rules: { type: 'array', items: ruleOutput },
    createdBy: nullableString,
    createdAt: iso,
    updatedAt: iso,
    lastRun,
  },
  required: ['name', 'namespace', 'repository', 'enabled', 'rules', 'createdBy', 'createdAt', 'updatedAt', 'lastRun'],
} as const;

export const policyList = { type: 'object', properties: { policies: { type: 'array', items: policySchema } }, required: ['policies'] } as const;

export const runResult = {
  type: 'object',
  properties: {
    policy: { type: 'string' },
    dryRun: { type: 'boolean' },
    at: iso,
    tags: {
      type: 'array',
      description: 'tags deleted (or that would be)',
      items: {
        type: 'object',
        properties: { repository: { type: 'string' }, tag: { type: 'string' }, digest: { type: 'string' }, pushedAt: iso, pulledAt: nullableIso },
        required: ['repository', 'tag', 'digest', 'pushedAt', 'pulledAt'],
      },
    },
    manifests: {
      type: 'array',
      description: 'untagged manifests deleted (or that would be)',
      items: {
        type: 'object',
        properties: { repository: { type: 'string' }, digest: { type: 'string' }, size: { type: 'integer' } },
        required: ['repository', 'digest', 'size'],
      },
    },
    protected: {
      type: 'array',
      description: 'tags no rule keeps that an immutable-tag rule protects',
      items: {
        type: 'object',
        properties: { repository: { type: 'string' }, tag: { type: 'string' }, rule: { type: 'string' } },
        required: ['repository', 'tag', 'rule'],
      },
    },
    kept: { type: 'integer', description: 'selected tags that stay' },
    bytes: {
      type: 'integer',
      description: 'what garbage collection frees once the deleted manifests go: their bodies and the blobs no remaining manifest uses',
    },
  },
  required: ['policy', 'dryRun', 'at', 'tags', 'manifests', 'protected', 'kept', 'bytes'],
} as const;
