// JSON schemas of the webhook, watching and notification routes (request validation and
// the OpenAPI document), beside the views that build webhook and delivery replies. Each
// response schema lists every field its handler returns (the tests compare the two on
// every reply).
import { WEBHOOK_EVENTS, WEBHOOK_FORMATS } from '../webhooks/schema.js';
import type { Delivery, Webhook } from '../webhooks/store.js';
import { nullableInt, nullableString, nullableTime, params, time } from './schemas.js';

const events = { type: 'array', items: { type: 'string', enum: WEBHOOK_EVENTS }, minItems: 1, uniqueItems: true } as const;
const scopeKind = { type: 'string', enum: ['namespace', 'repository', 'user', 'config'] } as const;
const deliveryStatus = { type: 'string', enum: ['pending', 'delivered', 'dead', 'skipped'] } as const;

const hookProps = {
  url: { type: 'string', minLength: 1, maxLength: 2048, description: 'http or https; internal addresses are refused unless the operator allows them' },
  name: { type: ['string', 'null'], maxLength: 100 },
  secret: { type: 'string', minLength: 16, maxLength: 200, description: 'signs each delivery (generated when left out)' },
  events,
  tagPattern: { type: ['string', 'null'], maxLength: 128, description: 'only tags matching this glob' },
  format: { type: 'string', enum: WEBHOOK_FORMATS },
  active: { type: 'boolean' },
} as const;

export const createBody = { type: 'object', properties: hookProps, required: ['url'], additionalProperties: false } as const;
export const updateBody = {
  type: 'object',
  properties: { ...hookProps, rotateSecret: { type: 'boolean', description: 'generate a new secret (in the reply, once)' } },
  additionalProperties: false,
} as const;

export const webhook = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    scope: { type: 'object', properties: { kind: scopeKind, name: { type: 'string' } }, required: ['kind', 'name'] },
    name: nullableString,
    url: { type: 'string' },
    events: { type: 'array', items: { type: 'string', enum: WEBHOOK_EVENTS } },
    tagPattern: nullableString,
    format: { type: 'string', enum: WEBHOOK_FORMATS },
    active: { type: 'boolean' },
    signed: { type: 'boolean', description: 'deliveries carry a signature' },
    createdBy: nullableString,
    createdAt: time,
    updatedAt: time,
    secret: { type: 'string', description: 'only in the reply that created it or changed it' },
  },
  required: ['id', 'scope', 'name', 'url', 'events', 'tagPattern', 'format', 'active', 'signed', 'createdBy', 'createdAt', 'updatedAt'],
} as const;

export const webhookList = { type: 'object', properties: { webhooks: { type: 'array', items: webhook } }, required: ['webhooks'] } as const;

const deliveryProps = {
  id: { type: 'integer' },
  uuid: { type: 'string' },
  eventId: { type: 'string' },
  event: { type: 'string', enum: WEBHOOK_EVENTS },
  repository: { type: 'string' },
  tag: nullableString,
  digest: nullableString,
  status: deliveryStatus,
  attempts: { type: 'integer' },
  nextAttemptAt: nullableTime,
  createdAt: time,
  finishedAt: nullableTime,
  lastStatusCode: nullableInt,
  lastError: nullableString,
} as const;
const deliveryRequired = Object.keys(deliveryProps);

export const delivery = { type: 'object', properties: deliveryProps, required: deliveryRequired } as const;

export const deliveryList = {
  type: 'object',
  properties: { deliveries: { type: 'array', items: delivery }, next: { type: 'integer', description: 'pass as `before` for the next page' } },
  required: ['deliveries'],
} as const;

export const deliveryDetail = {
  type: 'object',
  properties: {
    ...deliveryProps,
    contentType: { type: 'string' },
    payload: { type: 'string', description: 'the body as sent' },
    attempts: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'integer' },
          at: time,
          durationMs: { type: 'integer' },
          statusCode: nullableInt,
          error: nullableString,
          responseBody: { type: ['string', 'null'], description: 'the first KiB' },
          ok: { type: 'boolean' },
        },
        required: ['id', 'at', 'durationMs', 'statusCode', 'error', 'responseBody', 'ok'],
      },
    },
  },
  required: [...deliveryRequired, 'contentType', 'payload'],
} as const;

export const deliveryQuery = {
  type: 'object',
  properties: { n: { type: 'integer', minimum: 1, maximum: 500, default: 50 }, before: { type: 'integer', minimum: 1 }, status: deliveryStatus },
  additionalProperties: false,
} as const;

export const kindQuery = { type: 'object', properties: { kind: scopeKind }, additionalProperties: false } as const;

const id = { type: 'integer', minimum: 1 } as const;
export const hookParams = params({ id });
export const deliveryParams = params({ id, delivery: id });
export const namespaceParams = params({ ns: { type: 'string', maxLength: 64, description: 'a user or an organisation' } });

export const watchState = {
  type: 'object',
  properties: {
    repository: { type: 'string' },
    watching: { type: 'boolean' },
    source: { type: 'string', description: 'how the watch began (watch, star, push)' },
    since: time,
  },
  required: ['repository', 'watching'],
} as const;

export const watchList = {
  type: 'object',
  properties: {
    watching: {
      type: 'array',
      items: {
        type: 'object',
        properties: { repository: { type: 'string' }, source: { type: 'string' }, since: time },
        required: ['repository', 'source', 'since'],
      },
    },
  },
  required: ['watching'],
} as const;

export const notificationQuery = {
  type: 'object',
  properties: { n: { type: 'integer', minimum: 1, maximum: 200, default: 50 }, before: { type: 'integer', minimum: 1 } },
  additionalProperties: false,
} as const;

export const notificationList = {
  type: 'object',
  properties: {
    notifications: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'integer' },
          type: { type: 'string', enum: ['tag.push'] },
          repository: { type: 'string' },
          tag: { type: 'string' },
          digest: nullableString,
          pusher: nullableString,
          at: time,
          unread: { type: 'boolean' },
        },
        required: ['id', 'type', 'repository', 'tag', 'digest', 'pusher', 'at', 'unread'],
      },
    },
    unread: { type: 'integer' },
    next: { type: 'integer', description: 'pass as `before` for the next page' },
  },
  required: ['notifications', 'unread'],
} as const;

export const seenBody = { type: ['object', 'null'], properties: { upTo: { type: 'integer', minimum: 0 } }, additionalProperties: false } as const;

/** A webhook as the API shows it (never its secret). */
export function webhookView(h: Webhook) {
  return {
    id: h.id,
    scope: { kind: h.scopeKind, name: h.scope },
    name: h.name,
    url: h.url,
    events: h.events,
    tagPattern: h.tagPattern,
    format: h.format,
    active: h.active,
    signed: h.secret !== '',
    createdBy: h.createdBy,
    createdAt: h.createdAt,
    updatedAt: h.updatedAt,
  };
}

export function deliveryView(x: Delivery) {
  return {
    id: x.id,
    uuid: x.uuid,
    eventId: x.eventId,
    event: x.eventType,
    repository: x.repository,
    tag: x.tag,
    digest: x.digest,
    status: x.status,
    attempts: x.attempts,
    nextAttemptAt: x.status === 'pending' ? x.nextAttemptAt : null,
    createdAt: x.createdAt,
    finishedAt: x.finishedAt,
    lastStatusCode: x.lastStatusCode,
    lastError: x.lastError,
  };
}
