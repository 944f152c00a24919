// JSON schemas of the replication-policy routes (replication-routes.ts); shapes in docs/replication.md.
// The schema checks types and sizes; what the fields may hold (names, globs, the remote URL and the
// outbound policy, intervals, which trigger suits which direction) is src/replication/policy-fields.ts's
// to judge, through the store, so the API and any other surface refuse the same policies.
import { GLOB_LIMITS } from '../registry/tag-rules.js';
import { body, params } from './schemas.js';

export const REPLICATION_LIMITS = {
  name: 64,
  url: 2048,
  username: 255,
  password: 4096,
  prefix: 255,
  patterns: GLOB_LIMITS.exclusions,
  /** Runs listed at most per request. */
  runs: 100,
} as const;

const policyName = {
  type: 'string',
  minLength: 1,
  maxLength: REPLICATION_LIMITS.name,
  description: 'unique; lowercase letters, digits, . _ -, starting and ending with a letter or digit',
} as const;

export const idParams = params({ id: { type: 'integer', minimum: 1, description: "the policy's id" } });
export const runsQuery = {
  type: 'object',
  properties: { n: { type: 'integer', minimum: 1, maximum: REPLICATION_LIMITS.runs, default: 20, description: 'how many runs, newest first' } },
  additionalProperties: false,
} as const;

const iso = { type: 'string', format: 'date-time', description: 'ISO 8601' } as const;
const nullableIso = { type: ['string', 'null'], format: 'date-time', description: 'ISO 8601, or null' } as const;
const nullableString = { type: ['string', 'null'] } as const;

const repositoriesGlob = {
  type: 'string',
  minLength: 1,
  maxLength: GLOB_LIMITS.repositories,
  description: 'glob over repository names ("**" = all, "library/*", "team/**")',
} as const;
const tagsGlob = { type: 'string', minLength: 1, maxLength: GLOB_LIMITS.tags, description: 'glob over tag names ("*", "v*", "{latest,stable}")' } as const;
const globs = (item: object, min: number) => ({ type: 'array', items: item, minItems: min, maxItems: REPLICATION_LIMITS.patterns }) as const;

const direction = {
  type: 'string',
  enum: ['push', 'pull'],
  description: 'push: copy from this registry to the remote one; pull: copy from the remote registry into this one',
} as const;
const trigger = {
  type: 'string',
  enum: ['event', 'schedule', 'manual'],
  description:
    'event: each push (and delete) here is copied at once (push policies only); schedule: every `interval`; manual: only "run now". Default: event for push, schedule for pull',
} as const;
const duration = {
  type: 'string',
  minLength: 1,
  maxLength: 32,
  description: 'for trigger schedule: a duration from 1m to 366d (30m, 1h, 12h, 1d, 1h30m); default 1h',
} as const;

/** The fields of a policy as given; POST requires the first ones, PATCH takes any. */
const fields = {
  name: policyName,
  direction,
  remoteUrl: {
    type: 'string',
    minLength: 1,
    maxLength: REPLICATION_LIMITS.url,
    description: 'the other registry: http(s)://host[:port], no path (e.g. https://registry-1.docker.io)',
  },
  remoteUsername: { type: ['string', 'null'], maxLength: REPLICATION_LIMITS.username, description: 'null or absent: anonymous' },
  remotePassword: {
    type: ['string', 'null'],
    maxLength: REPLICATION_LIMITS.password,
    description: 'write-only: stored encrypted, never returned (see hasPassword); in PATCH, absent keeps it and null removes it',
  },
  repositories: { ...globs(repositoriesGlob, 1), description: 'which repositories the policy copies, by their names here; default ["**"]' },
  excludeRepositories: { ...globs(repositoriesGlob, 0), description: 'repositories left out again' },
  tags: { ...globs(tagsGlob, 1), description: 'which tags; default ["*"]' },
  excludeTags: { ...globs(tagsGlob, 0), description: 'tags left out again' },
  remotePrefix: {
    type: 'string',
    maxLength: REPLICATION_LIMITS.prefix,
    description:
      'the remote registry\'s names are this prefix + "/" + the names here ("" = the same names; "dr": library/alpine here is dr/library/alpine there)',
  },
  trigger,
  interval: { ...duration, type: ['string', 'null'] },
  replicateDeletes: { type: 'boolean', description: 'deleted tags and manifests are deleted on the destination too (default false)' },
  enabled: { type: 'boolean', description: 'a disabled policy runs only when asked to (default true)' },
} as const;

export const createBody = body(fields, ['name', 'direction', 'remoteUrl']);
export const patchBody = { ...body(fields), minProperties: 1 } as const;

export const runSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    policyId: { type: 'integer' },
    trigger: { type: 'string', enum: ['event', 'schedule', 'manual'] },
    status: { type: 'string', enum: ['running', 'succeeded', 'failed', 'partial'] },
    startedAt: iso,
    finishedAt: nullableIso,
    copied: { type: 'integer', description: 'manifests (with their blobs) copied' },
    skipped: { type: 'integer', description: 'tags and manifests the destination already had' },
    failed: { type: 'integer', description: 'items that failed after their retries' },
    deleted: { type: 'integer', description: 'deletes replicated' },
    bytes: { type: 'integer', description: 'bytes copied' },
    error: { ...nullableString, description: 'why the run failed or what failed in it' },
  },
  required: ['id', 'policyId', 'trigger', 'status', 'startedAt', 'finishedAt', 'copied', 'skipped', 'failed', 'deleted', 'bytes', 'error'],
} as const;

export const runList = { type: 'object', properties: { runs: { type: 'array', items: runSchema } }, required: ['runs'] } as const;

export const policySchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    direction: { type: 'string', enum: ['push', 'pull'] },
    remoteUrl: { type: 'string' },
    remoteUsername: nullableString,
    hasPassword: { type: 'boolean', description: 'a password is stored (it is never returned)' },
    repositories: { type: 'array', items: { type: 'string' } },
    excludeRepositories: { type: 'array', items: { type: 'string' } },
    tags: { type: 'array', items: { type: 'string' } },
    excludeTags: { type: 'array', items: { type: 'string' } },
    remotePrefix: { type: 'string' },
    trigger: { type: 'string', enum: ['event', 'schedule', 'manual'] },
    interval: { ...nullableString, description: 'the schedule, for trigger schedule' },
    replicateDeletes: { type: 'boolean' },
    enabled: { type: 'boolean' },
    running: { type: 'boolean', description: 'a replica is running it now' },
    createdBy: nullableString,
    createdAt: iso,
    updatedAt: iso,
    nextRunAt: { ...nullableIso, description: 'when the schedule runs it next (trigger schedule, enabled)' },
    lastRun: { ...runSchema, type: ['object', 'null'], description: 'the newest run, null before the first' },
  },
  required: [
    'id',
    'name',
    'direction',
    'remoteUrl',
    'remoteUsername',
    'hasPassword',
    'repositories',
    'excludeRepositories',
    'tags',
    'excludeTags',
    'remotePrefix',
    'trigger',
    'interval',
    'replicateDeletes',
    'enabled',
    'running',
    'createdBy',
    'createdAt',
    'updatedAt',
    'nextRunAt',
    'lastRun',
  ],
} as const;

export const policyList = { type: 'object', properties: { policies: { type: 'array', items: policySchema } }, required: ['policies'] } as const;
