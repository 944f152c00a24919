// JSON schemas of the index's routes (search, descriptions, stars, comments, moderation):
// request validation and the OpenAPI document. Each response schema lists every field
// its handler returns (the tests compare the two on every reply).
import { COMMENT_RULES, DESCRIPTION_MAX } from '../index/service.js';
import { nullableString, nullableTime, time } from './schemas.js';

export const README_MAX = 100_000;

const visibility = { type: 'string', enum: ['public', 'private'] } as const;
const platforms = { type: 'array', items: { type: 'string' }, description: 'os/architecture[/variant] of the images' } as const;

export const searchQuery = {
  type: 'object',
  properties: {
    q: { type: 'string', maxLength: 200, description: 'words in the name, description or README' },
    namespace: { type: 'string', maxLength: 64 },
    platform: { type: 'string', maxLength: 100, pattern: '^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)?$', description: 'os/architecture[/variant]' },
    mediaType: { type: 'string', maxLength: 255 },
    artifactType: { type: 'string', maxLength: 255 },
    starred: { type: 'boolean', description: "only the caller's stars (signed in)" },
    sort: { type: 'string', enum: ['relevance', 'stars', 'pulls', 'pushed', 'name'] },
    n: { type: 'integer', minimum: 1, maximum: 100, default: 25 },
    page: { type: 'integer', minimum: 1, maximum: 10000, default: 1 },
  },
  additionalProperties: false,
} as const;

const searchHit = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    namespace: { type: 'string' },
    visibility,
    description: nullableString,
    starCount: { type: 'integer' },
    pullCount: { type: 'integer' },
    lastPushAt: nullableTime,
    lastPullAt: nullableTime,
    starred: { type: 'boolean' },
    platforms,
  },
  required: ['name', 'namespace', 'visibility', 'description', 'starCount', 'pullCount', 'lastPushAt', 'lastPullAt', 'starred', 'platforms'],
} as const;

export const searchResult = {
  type: 'object',
  properties: {
    query: { type: 'string' },
    page: { type: 'integer' },
    pageSize: { type: 'integer' },
    total: { type: 'integer' },
    numPages: { type: 'integer' },
    results: { type: 'array', items: searchHit },
  },
  required: ['query', 'page', 'pageSize', 'total', 'numPages', 'results'],
} as const;

export const repositoryPage = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    description: nullableString,
    descriptionSource: { type: ['string', 'null'], enum: ['manual', 'annotation', null], description: 'set by hand, or from the image annotation' },
    readme: nullableString,
    readmeHtml: { type: 'string', description: 'the README rendered as inert HTML' },
    starCount: { type: 'integer' },
    starred: { type: 'boolean' },
    pullCount: { type: 'integer' },
    lastPullAt: nullableTime,
    lastPushAt: nullableTime,
    platforms,
    commentsEnabled: { type: 'boolean' },
  },
  required: [
    'name',
    'description',
    'descriptionSource',
    'readme',
    'readmeHtml',
    'starCount',
    'starred',
    'pullCount',
    'lastPullAt',
    'lastPushAt',
    'platforms',
    'commentsEnabled',
  ],
} as const;

export const descriptionBody = {
  type: 'object',
  properties: {
    description: { type: ['string', 'null'], maxLength: DESCRIPTION_MAX, description: 'one line; null or "" clears' },
    readme: { type: ['string', 'null'], maxLength: README_MAX, description: 'Markdown; null or "" clears' },
  },
  additionalProperties: false,
} as const;

export const starResult = {
  type: 'object',
  properties: { name: { type: 'string' }, starred: { type: 'boolean' }, starCount: { type: 'integer' } },
  required: ['name', 'starred', 'starCount'],
} as const;

const commentProps = {
  id: { type: 'integer' },
  repository: { type: 'string' },
  author: { type: 'string' },
  body: { type: 'string', description: 'Markdown as written' },
  html: { type: 'string', description: 'rendered as inert HTML' },
  status: { type: 'string', enum: ['visible', 'held', 'rejected'] },
  createdAt: time,
  editedAt: nullableTime,
  reportCount: { type: 'integer', description: 'moderators only' },
} as const;
const commentRequired = ['id', 'repository', 'author', 'body', 'html', 'status', 'createdAt', 'editedAt'] as const;

export const comment = { type: 'object', properties: commentProps, required: commentRequired } as const;

export const commentList = {
  type: 'object',
  properties: {
    enabled: { type: 'boolean' },
    comments: { type: 'array', items: comment },
    next: { type: 'integer', description: 'pass as `after` for the next page' },
  },
  required: ['enabled', 'comments'],
} as const;

export const moderationQueue = {
  type: 'object',
  properties: {
    comments: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          ...commentProps,
          reports: { type: 'array', items: { type: 'object', properties: { user: { type: 'string' }, reason: nullableString }, required: ['user', 'reason'] } },
        },
        required: [...commentRequired, 'reports'],
      },
    },
    next: { type: 'integer', description: 'pass as `after` for the next page' },
  },
  required: ['comments'],
} as const;

export const commentBody = {
  type: 'object',
  properties: { body: { type: 'string', minLength: 1, maxLength: COMMENT_RULES.maxLength, description: 'Markdown; may span lines' } },
  required: ['body'],
  additionalProperties: false,
} as const;

export const commentPage = {
  type: 'object',
  properties: { n: { type: 'integer', minimum: 1, maximum: 100, default: 50 }, after: { type: 'integer', minimum: 0 } },
  additionalProperties: false,
} as const;

export const commentSettings = { type: 'object', properties: { enabled: { type: 'boolean' } }, required: ['enabled'], additionalProperties: false } as const;
export const commentSettingsResult = {
  type: 'object',
  properties: { name: { type: 'string' }, enabled: { type: 'boolean' } },
  required: ['name', 'enabled'],
} as const;

export const reportBody = { type: ['object', 'null'], properties: { reason: { type: 'string', maxLength: 500 } }, additionalProperties: false } as const;
export const reportResult = { type: 'object', properties: { id: { type: 'integer' }, reported: { type: 'boolean' } }, required: ['id', 'reported'] } as const;

export const commentId = { type: 'integer', minimum: 1, maximum: 999_999_999_999_999 } as const;
