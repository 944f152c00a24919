// Table types of webhooks, their outbox (deliveries and attempts) and watching, added
// to the metadata schema by module augmentation so src/metadata/schema.ts stays as is.
// Timestamps are milliseconds since the epoch (BIGINT), as everywhere else.
import type { Generated } from 'kysely';

export type WebhookEventType = 'push' | 'tag.delete' | 'manifest.delete' | 'repository.create' | 'repository.delete' | 'quota.warning' | 'signature.failed';
export const WEBHOOK_EVENTS: readonly WebhookEventType[] = [
  'push',
  'tag.delete',
  'manifest.delete',
  'repository.create',
  'repository.delete',
  'quota.warning',
  'signature.failed',
];

export type WebhookFormat = 'dockerhub' | 'distribution' | 'cloudevents';
export const WEBHOOK_FORMATS: readonly WebhookFormat[] = ['dockerhub', 'distribution', 'cloudevents'];

/** Whose events a webhook receives. */
export type WebhookScopeKind = 'namespace' | 'repository' | 'user' | 'config';

export interface WebhooksTable {
  id: Generated<number>;
  /** namespace: every repository of a user or organisation; repository: one; user: repositories the user watches; config: registry:2 `notifications.endpoints`. */
  scope_kind: WebhookScopeKind;
  /** The namespace, repository name, user name, or config endpoint name. */
  scope: string;
  /** The owning namespace (FK, ON DELETE CASCADE): a deleted user or organisation takes its webhooks with it, so a name reused later inherits none. */
  namespace: string | null;
  /** Set for config endpoints only (unique), so replicas syncing the same config upsert one row. */
  config_name: string | null;
  name: string | null;
  url: string;
  /** HMAC key; "" = unsigned (config endpoints). Needed in clear to sign, so it is never returned after creation. */
  secret: string;
  /** Comma-separated WebhookEventType values. */
  events: string;
  /** Glob over tag names (`*`, `?`), or null for every tag. */
  tag_pattern: string | null;
  format: WebhookFormat;
  active: number;
  /** JSON: { headers?: Record<string,string[]>, timeout?: ms, ignoreMediaTypes?: string[] } (config endpoints). */
  options: string | null;
  created_by: string | null;
  created_at: number;
  updated_at: number;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'dead' | 'skipped';

/** The outbox: one row per (event, matching webhook), written in the change's transaction. */
export interface WebhookDeliveriesTable {
  id: Generated<number>;
  /** Sent as Berth-Delivery; stays the same across retries and redeliveries. */
  uuid: string;
  /** The event's id (shared by every webhook that received the event). */
  event_id: string;
  webhook_id: number;
  event_type: WebhookEventType;
  repository: string;
  tag: string | null;
  digest: string | null;
  /** The rendered request body (rendered once, so retries send the same bytes). */
  body: string;
  content_type: string;
  status: DeliveryStatus;
  /** Attempts since the delivery was created or last redelivered. */
  attempts: number;
  next_attempt_at: number;
  /** A worker owns the delivery until then; after that any worker may claim it again. */
  claimed_until: number | null;
  claim_token: string | null;
  created_at: number;
  finished_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
}

export interface WebhookAttemptsTable {
  id: Generated<number>;
  delivery_id: number;
  at: number;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  /** The first KiB of the response body. */
  response_body: string | null;
  ok: number;
}

export interface WatchesTable {
  user_id: number;
  repository: string;
  /** 'watch' (PUT …/watch); other features (stars) may insert their own kind. */
  source: string;
  created_at: number;
}

/** New tags of repositories someone watches, for the in-app notification list. */
export interface WatchEventsTable {
  id: Generated<number>;
  repository: string;
  tag: string;
  digest: string | null;
  actor: string | null;
  at: number;
}

/** Per user: notifications up to this watch_events id have been seen. */
export interface NotificationReadsTable {
  user_id: number;
  seen_id: number;
}

declare module '../metadata/schema.js' {
  interface Database {
    webhooks: WebhooksTable;
    webhook_deliveries: WebhookDeliveriesTable;
    webhook_attempts: WebhookAttemptsTable;
    watches: WatchesTable;
    watch_events: WatchEventsTable;
    notification_reads: NotificationReadsTable;
  }
}
