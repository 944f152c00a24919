// JSON schemas of the REST API: they validate requests, shape (and so filter)
// responses, and are what @fastify/swagger turns into the OpenAPI document.
import type { FastifySchema } from 'fastify';
import { REST_ERRORS } from '../errors/rest.js';

/** Same rule as accounts.ts isValidAccountName: a repository path component, 2–64 characters. */
export const ACCOUNT_NAME = '^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$';
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';

export const accountName = { type: 'string', minLength: 2, maxLength: 64, pattern: ACCOUNT_NAME } as const;
/** A user or an organisation's robot ("<org>+<name>"). */
export const memberName = { type: 'string', minLength: 2, maxLength: 129, pattern: `^${COMPONENT}(?:\\+${COMPONENT})?$` } as const;
export const permission = { type: 'string', enum: ['read', 'write', 'admin'] } as const;
export const orgRole = { type: 'string', enum: ['owner', 'member'] } as const;
export const action = { type: 'string', enum: ['pull', 'push', 'delete'] } as const;
export const nullableString = { type: ['string', 'null'] } as const;
export const nullableInt = { type: ['integer', 'null'] } as const;
/** Milliseconds since the epoch. */
export const time = { type: 'integer', description: 'milliseconds since the epoch' } as const;
export const nullableTime = { type: ['integer', 'null'], description: 'milliseconds since the epoch' } as const;

export const errorSchema = {
  type: 'object',
  description: 'The error body: {code, message, detail?} with a code of the REST vocabulary (docs/api.md).',
  properties: {
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          code: { type: 'string', enum: Object.keys(REST_ERRORS) },
          message: { type: 'string' },
          detail: { description: 'for INVALID: {location, field}' },
        },
        required: ['code', 'message'],
      },
    },
  },
  required: ['errors'],
} as const;

export const userSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    email: nullableString,
    admin: { type: 'boolean' },
    disabled: { type: 'boolean' },
    robotOf: { ...nullableString, description: 'the owning organisation, for robot accounts' },
    createdAt: { type: 'integer', description: 'milliseconds since the epoch' },
  },
  required: ['name', 'email', 'admin', 'disabled', 'robotOf', 'createdAt'],
} as const;

export const meSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    email: nullableString,
    admin: { type: 'boolean' },
    orgs: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, role: orgRole }, required: ['name', 'role'] } },
  },
  required: ['name', 'email', 'admin', 'orgs'],
} as const;

export const orgSchema = {
  type: 'object',
  properties: { name: { type: 'string' }, role: { type: ['string', 'null'], enum: ['owner', 'member', null] }, createdAt: { type: 'integer' } },
  required: ['name', 'role'],
} as const;

export const memberSchema = { type: 'object', properties: { name: { type: 'string' }, role: orgRole }, required: ['name', 'role'] } as const;

export const teamSchema = {
  type: 'object',
  properties: { name: { type: 'string' }, permission, members: { type: 'array', items: { type: 'string' } } },
  required: ['name', 'permission', 'members'],
} as const;

export const robotSchema = {
  type: 'object',
  properties: {
    name: { type: 'string', description: '<org>+<name>' },
    createdAt: { type: 'integer' },
    secret: { type: 'string', description: 'only in the reply that created or rotated it' },
  },
  required: ['name', 'createdAt'],
} as const;

export const repositorySchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    namespace: { type: 'string' },
    visibility: { type: 'string', enum: ['public', 'private'] },
    actions: { type: 'array', items: action, description: "the caller's actions on it" },
  },
  required: ['name', 'namespace', 'visibility'],
} as const;

export const collaboratorSchema = { type: 'object', properties: { name: { type: 'string' }, permission }, required: ['name', 'permission'] } as const;

export const tokenSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    scopes: { type: 'array', items: action },
    resource: { ...nullableString, description: 'null = every repository; "ns/*" = a namespace; else one repository' },
    expiresAt: nullableInt,
    createdAt: { type: 'integer' },
    lastUsedAt: nullableInt,
    revokedAt: nullableInt,
    secret: { type: 'string', description: 'only in the reply that created it' },
  },
  required: ['id', 'name', 'scopes', 'resource', 'expiresAt', 'createdAt', 'lastUsedAt', 'revokedAt'],
} as const;

export const auditSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    at: { type: 'integer' },
    actor: nullableString,
    action: { type: 'string' },
    target: nullableString,
    address: nullableString,
    detail: { description: 'action-specific; never holds a secret' },
  },
  required: ['id', 'at', 'actor', 'action', 'target', 'address'],
} as const;

export const listOf = (key: string, item: object) =>
  ({
    type: 'object',
    properties: { [key]: { type: 'array', items: item }, next: { type: 'string', description: 'pass as `last` for the next page' } },
    required: [key],
  }) as const;

export const pageQuery = {
  type: 'object',
  properties: { n: { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, last: { type: 'string', maxLength: 255 } },
  additionalProperties: false,
} as const;

const ERRORS = {
  400: 'INVALID: the request breaks the schema or the input rules',
  401: 'UNAUTHORIZED: authentication required or failed',
  403: 'DENIED: not allowed',
  404: 'NOT_FOUND: not found (or not visible to the caller)',
  405: 'UNSUPPORTED: this registry does not offer the operation',
  409: 'CONFLICT: conflicts with the current state',
  413: 'TOO_LARGE: the body is over the limit',
  415: 'UNSUPPORTED_MEDIA_TYPE: the body is not application/json',
  429: 'TOO_MANY_REQUESTS: too many failed logins or new comments (see Retry-After)',
} as const;

/**
 * A route's schema with the OpenAPI details: `ok` maps success statuses to response
 * schemas (null = no body), `errors` lists the error statuses the route can answer.
 */
export function op(
  tag: string,
  summary: string,
  parts: { params?: object; querystring?: object; body?: object; ok: Record<number, object | null>; errors?: (keyof typeof ERRORS)[]; anonymous?: boolean },
): FastifySchema {
  const response: Record<string, unknown> = {};
  for (const [status, schema] of Object.entries(parts.ok)) response[status] = schema ?? { type: 'null', description: 'no content' };
  const bodyErrors = parts.body ? ([400, 413, 415] as const) : [];
  for (const status of [...new Set([401, 429, ...bodyErrors, ...(parts.errors ?? [])])].sort())
    response[status] = { ...errorSchema, description: ERRORS[status as keyof typeof ERRORS] };
  return {
    tags: [tag],
    summary,
    ...(parts.params ? { params: parts.params } : {}),
    ...(parts.querystring ? { querystring: parts.querystring } : {}),
    ...(parts.body ? { body: parts.body } : {}),
    response,
    security: parts.anonymous ? [{}, { basic: [] }, { bearer: [] }] : [{ basic: [] }, { bearer: [] }],
  } as FastifySchema;
}

export const params = (props: Record<string, object>) => ({ type: 'object', properties: props, required: Object.keys(props) }) as const;
export const body = (props: Record<string, object>, required: string[] = []) =>
  ({ type: 'object', properties: props, required, additionalProperties: false }) as const;

/**
 * Route config for a wildcard route (repository names hold slashes, so /repositories/* serves
 * several shapes told apart by a route constraint): documented under its real path and parameters.
 */
export const documentedAs = (url: string, pathParams: Record<string, object>) => ({
  swaggerTransform: ({ schema }: { schema: object }) => ({ url: `/api/v1${url}`, schema: { ...schema, params: params(pathParams) } }),
});

/** A repository name in a documented path: it may contain slashes. */
export const repositoryNameParam = { type: 'string', description: 'repository name; may contain slashes' } as const;
