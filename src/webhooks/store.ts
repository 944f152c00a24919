// SQL of webhooks, the delivery outbox, the attempt log, watches and notifications.
// Portable Kysely (SQLite and PostgreSQL); BIGINT columns come back as strings from
// PostgreSQL, so every number read is passed through Number().
import { sql, type Selectable } from 'kysely';
import type { Db, Tx } from '../metadata/database.js';
import type { NotificationEndpointConfig } from '../config/types.js';
import type { DeliveryStatus, WebhookDeliveriesTable, WebhookEventType, WebhookFormat, WebhookScopeKind, WebhooksTable } from './schema.js';
import { parseEvents } from './filters.js';

export interface Webhook {
  id: number;
  scopeKind: WebhookScopeKind;
  scope: string;
  namespace: string | null;
  name: string | null;
  url: string;
  secret: string;
  events: WebhookEventType[];
  tagPattern: string | null;
  format: WebhookFormat;
  active: boolean;
  options: WebhookOptions;
  createdBy: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface WebhookOptions {
  headers?: Record<string, string[]>;
  /** Per-webhook request timeout in ms (config endpoints). */
  timeout?: number;
  ignoreMediaTypes?: string[];
}

export interface NewDelivery {
  uuid: string;
  eventId: string;
  webhookId: number;
  eventType: WebhookEventType;
  repository: string;
  tag: string | null;
  digest: string | null;
  body: string;
  contentType: string;
}

export interface Delivery extends NewDelivery {
  id: number;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number;
  createdAt: number;
  finishedAt: number | null;
  lastStatusCode: number | null;
  lastError: string | null;
}

export interface Attempt {
  id: number;
  at: number;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  responseBody: string | null;
  ok: boolean;
}

const num = (v: unknown) => Number(v);
const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));

function toWebhook(r: Selectable<WebhooksTable>): Webhook {
  return {
    id: num(r.id),
    scopeKind: r.scope_kind,
    scope: r.scope,
    namespace: r.namespace,
    name: r.name,
    url: r.url,
    secret: r.secret,
    events: parseEvents(r.events),
    tagPattern: r.tag_pattern,
    format: r.format,
    active: num(r.active) === 1,
    options: r.options ? (JSON.parse(r.options) as WebhookOptions) : {},
    createdBy: r.created_by,
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

function toDelivery(r: Selectable<WebhookDeliveriesTable>): Delivery {
  return {
    id: num(r.id),
    uuid: r.uuid,
    eventId: r.event_id,
    webhookId: num(r.webhook_id),
    eventType: r.event_type,
    repository: r.repository,
    tag: r.tag,
    digest: r.digest,
    body: r.body,
    contentType: r.content_type,
    status: r.status,
    attempts: num(r.attempts),
    nextAttemptAt: num(r.next_attempt_at),
    createdAt: num(r.created_at),
    finishedAt: numOrNull(r.finished_at),
    lastStatusCode: numOrNull(r.last_status_code),
    lastError: r.last_error,
  };
}

export class WebhookStore {
  constructor(readonly db: Db) {}

  // ---- webhooks ----

  async create(tx: Tx, w: Omit<Webhook, 'id' | 'options' | 'createdAt' | 'updatedAt'>, now: number): Promise<number> {
    const row = await tx
      .insertInto('webhooks')
      .values({
        scope_kind: w.scopeKind,
        scope: w.scope,
        namespace: w.namespace,
        config_name: null,
        name: w.name,
        url: w.url,
        secret: w.secret,
        events: w.events.join(','),
        tag_pattern: w.tagPattern,
        format: w.format,
        active: w.active ? 1 : 0,
        options: null,
        created_by: w.createdBy,
        created_at: now,
        updated_at: now,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return num(row.id);
  }

  async get(id: number, tx: Tx = this.db): Promise<Webhook | null> {
    const r = await tx.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toWebhook(r) : null;
  }

  async list(scopeKind: WebhookScopeKind, scope: string): Promise<Webhook[]> {
    const rows = await this.db.selectFrom('webhooks').selectAll().where('scope_kind', '=', scopeKind).where('scope', '=', scope).orderBy('id').execute();
    return rows.map(toWebhook);
  }

  /** Every webhook (administrators), optionally of one kind. */
  async listAll(scopeKind?: WebhookScopeKind, limit = 500): Promise<Webhook[]> {
    let q = this.db.selectFrom('webhooks').selectAll();
    if (scopeKind) q = q.where('scope_kind', '=', scopeKind);
    return (await q.orderBy('id').limit(limit).execute()).map(toWebhook);
  }

  async update(
    tx: Tx,
    id: number,
    patch: Partial<{
      name: string | null;
      url: string;
      secret: string;
      events: WebhookEventType[];
      tagPattern: string | null;
      format: WebhookFormat;
      active: boolean;
    }>,
    now: number,
  ): Promise<void> {
    await tx
      .updateTable('webhooks')
      .set({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.url !== undefined ? { url: patch.url } : {}),
        ...(patch.secret !== undefined ? { secret: patch.secret } : {}),
        ...(patch.events !== undefined ? { events: patch.events.join(',') } : {}),
        ...(patch.tagPattern !== undefined ? { tag_pattern: patch.tagPattern } : {}),
        ...(patch.format !== undefined ? { format: patch.format } : {}),
        ...(patch.active !== undefined ? { active: patch.active ? 1 : 0 } : {}),
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
  }

  async delete(tx: Tx, id: number): Promise<boolean> {
    const res = await tx.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  /**
   * Active webhooks that may receive an event of `repository`: those of its namespace,
   * of the repository itself, config endpoints, and personal webhooks of its watchers.
   * Nothing else: a webhook never sees another namespace's repositories.
   */
  async candidates(tx: Tx, repository: string, namespace: string): Promise<Webhook[]> {
    const own = await tx
      .selectFrom('webhooks')
      .selectAll()
      .where('active', '=', 1)
      .where((eb) =>
        eb.or([
          eb.and([eb('scope_kind', '=', 'namespace'), eb('scope', '=', namespace)]),
          eb.and([eb('scope_kind', '=', 'repository'), eb('scope', '=', repository)]),
          eb('scope_kind', '=', 'config'),
        ]),
      )
      .orderBy('id')
      .execute();
    const watchers = await tx
      .selectFrom('webhooks as w')
      .innerJoin('users as u', 'u.username', 'w.scope')
      .innerJoin('watches as wa', 'wa.user_id', 'u.id')
      .selectAll('w')
      .where('w.active', '=', 1)
      .where('w.scope_kind', '=', 'user')
      .where('wa.repository', '=', repository)
      .orderBy('w.id')
      .execute();
    return [...own, ...watchers].map(toWebhook);
  }

  /** registry:2 endpoints from the configuration, upserted by name; config endpoints no longer listed are deactivated. */
  async syncConfigEndpoints(tx: Tx, endpoints: readonly NotificationEndpointConfig[], now: number): Promise<void> {
    for (const e of endpoints) {
      const ignored = [...e.ignoredmediatypes, ...e.ignore.mediatypes];
      const events = (['push', 'tag.delete', 'manifest.delete', 'repository.delete'] as const).filter(
        (t) => !e.ignore.actions.includes(t === 'push' ? 'push' : 'delete'),
      );
      const options: WebhookOptions = { headers: { ...e.headers } as Record<string, string[]>, timeout: e.timeout, ignoreMediaTypes: ignored };
      const values = {
        url: e.url,
        events: events.join(','),
        active: e.disabled ? 0 : 1,
        options: JSON.stringify(options),
        updated_at: now,
      };
      await tx
        .insertInto('webhooks')
        .values({
          scope_kind: 'config',
          scope: e.name,
          namespace: null,
          config_name: e.name,
          name: e.name,
          secret: '',
          tag_pattern: null,
          format: 'distribution',
          created_by: null,
          created_at: now,
          ...values,
        })
        .onConflict((oc) => oc.column('config_name').doUpdateSet(values))
        .execute();
    }
    let q = tx.updateTable('webhooks').set({ active: 0, updated_at: now }).where('scope_kind', '=', 'config').where('active', '=', 1);
    if (endpoints.length)
      q = q.where(
        'config_name',
        'not in',
        endpoints.map((e) => e.name),
      );
    await q.execute();
  }

  // ---- deliveries ----

  async insertDeliveries(tx: Tx, rows: NewDelivery[], now: number): Promise<void> {
    if (rows.length === 0) return;
    await tx
      .insertInto('webhook_deliveries')
      .values(
        rows.map((d) => ({
          uuid: d.uuid,
          event_id: d.eventId,
          webhook_id: d.webhookId,
          event_type: d.eventType,
          repository: d.repository,
          tag: d.tag,
          digest: d.digest,
          body: d.body,
          content_type: d.contentType,
          status: 'pending' as const,
          attempts: 0,
          next_attempt_at: now,
          claimed_until: null,
          claim_token: null,
          created_at: now,
          finished_at: null,
          last_status_code: null,
          last_error: null,
        })),
      )
      .execute();
  }

  async deliveries(webhookId: number, limit: number, beforeId?: number, status?: DeliveryStatus): Promise<Delivery[]> {
    let q = this.db.selectFrom('webhook_deliveries').selectAll().where('webhook_id', '=', webhookId);
    if (beforeId !== undefined) q = q.where('id', '<', beforeId);
    if (status) q = q.where('status', '=', status);
    return (await q.orderBy('id', 'desc').limit(limit).execute()).map(toDelivery);
  }

  async delivery(id: number, tx: Tx = this.db): Promise<Delivery | null> {
    const r = await tx.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toDelivery(r) : null;
  }

  async attempts(deliveryId: number): Promise<Attempt[]> {
    const rows = await this.db.selectFrom('webhook_attempts').selectAll().where('delivery_id', '=', deliveryId).orderBy('id').execute();
    return rows.map((r) => ({
      id: num(r.id),
      at: num(r.at),
      durationMs: num(r.duration_ms),
      statusCode: numOrNull(r.status_code),
      error: r.error,
      responseBody: r.response_body,
      ok: num(r.ok) === 1,
    }));
  }

  /** Sends the delivery again from the start (same Berth-Delivery id; the attempt log is kept). */
  async redeliver(tx: Tx, id: number, now: number): Promise<void> {
    await tx
      .updateTable('webhook_deliveries')
      .set({ status: 'pending', attempts: 0, next_attempt_at: now, claimed_until: null, claim_token: null, finished_at: null })
      .where('id', '=', id)
      .execute();
  }

  /** Ids of pending deliveries that are due and not claimed (or whose claim expired). */
  async due(now: number, limit: number): Promise<number[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries')
      .select('id')
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => num(r.id));
  }

  /** When the next pending delivery falls due: its retry time, or just after its claim expires. */
  async nextDueAt(): Promise<number | null> {
    const r = await this.db
      .selectFrom('webhook_deliveries')
      .select(sql<string | number | null>`min(case when claimed_until >= next_attempt_at then claimed_until + 1 else next_attempt_at end)`.as('at'))
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return numOrNull(r?.at);
  }

  /**
   * Takes the delivery for `until` if nobody holds it: one conditional UPDATE, so of
   * several workers (processes, replicas) exactly one sees a row changed.
   */
  async claim(id: number, token: string, now: number, until: number): Promise<boolean> {
    const res = await this.db
      .updateTable('webhook_deliveries')
      .set({ claimed_until: until, claim_token: token })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /** Records an attempt and the delivery's new state, if the claim is still ours. */
  async finish(
    tx: Tx,
    id: number,
    token: string,
    attempt: { at: number; durationMs: number; statusCode: number | null; error: string | null; responseBody: string | null; ok: boolean },
    next: { status: DeliveryStatus; attempts: number; nextAttemptAt: number; finishedAt: number | null },
  ): Promise<boolean> {
    const res = await tx
      .updateTable('webhook_deliveries')
      .set({
        status: next.status,
        attempts: next.attempts,
        next_attempt_at: next.nextAttemptAt,
        finished_at: next.finishedAt,
        claimed_until: null,
        claim_token: null,
        last_status_code: attempt.statusCode,
        last_error: attempt.error,
      })
      .where('id', '=', id)
      .where('claim_token', '=', token)
      .executeTakeFirst();
    // The attempt happened either way; log it even if another worker took over meanwhile
    // (but not when the webhook, and with it the delivery, was deleted during the request).
    if (!(await tx.selectFrom('webhook_deliveries').select('id').where('id', '=', id).executeTakeFirst())) return false;
    await tx
      .insertInto('webhook_attempts')
      .values({
        delivery_id: id,
        at: attempt.at,
        duration_ms: attempt.durationMs,
        status_code: attempt.statusCode,
        error: attempt.error,
        response_body: attempt.responseBody,
        ok: attempt.ok ? 1 : 0,
      })
      .execute();
    return Number(res.numUpdatedRows) === 1;
  }

  /** Drops finished deliveries (and their attempts) and old watch events. */
  async prune(tx: Tx, before: number): Promise<void> {
    await tx.deleteFrom('webhook_deliveries').where('status', '!=', 'pending').where('created_at', '<', before).execute();
    await tx.deleteFrom('watch_events').where('at', '<', before).execute();
  }

  // ---- watches and notifications ----

  async watch(tx: Tx, userId: number, repository: string, now: number): Promise<void> {
    await tx
      .insertInto('watches')
      .values({ user_id: userId, repository, source: 'watch', created_at: now })
      .onConflict((oc) => oc.columns(['user_id', 'repository']).doNothing())
      .execute();
  }

  async unwatch(tx: Tx, userId: number, repository: string): Promise<boolean> {
    const res = await tx.deleteFrom('watches').where('user_id', '=', userId).where('repository', '=', repository).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async watching(userId: number, repository: string): Promise<{ source: string; createdAt: number } | null> {
    const r = await this.db
      .selectFrom('watches')
      .select(['source', 'created_at'])
      .where('user_id', '=', userId)
      .where('repository', '=', repository)
      .executeTakeFirst();
    return r ? { source: r.source, createdAt: num(r.created_at) } : null;
  }

  async watched(userId: number): Promise<{ repository: string; source: string; createdAt: number }[]> {
    const rows = await this.db
      .selectFrom('watches')
      .select(['repository', 'source', 'created_at'])
      .where('user_id', '=', userId)
      .orderBy('repository')
      .execute();
    return rows.map((r) => ({ repository: r.repository, source: r.source, createdAt: num(r.created_at) }));
  }

  /** A new tag for the notification list, only when someone watches the repository. */
  async addWatchEvent(tx: Tx, e: { repository: string; tag: string; digest: string | null; actor: string | null; at: number }): Promise<void> {
    const watched = await tx.selectFrom('watches').select('user_id').where('repository', '=', e.repository).limit(1).executeTakeFirst();
    if (!watched) return;
    await tx.insertInto('watch_events').values(e).execute();
  }

  /** New tags of repositories the user watches (since they started watching), newest first. */
  async notifications(
    userId: number,
    limit: number,
    beforeId?: number,
  ): Promise<{ id: number; repository: string; tag: string; digest: string | null; actor: string | null; at: number }[]> {
    let q = this.db
      .selectFrom('watch_events as e')
      .innerJoin('watches as w', 'w.repository', 'e.repository')
      .select(['e.id', 'e.repository', 'e.tag', 'e.digest', 'e.actor', 'e.at'])
      .where('w.user_id', '=', userId)
      .whereRef('e.at', '>=', 'w.created_at');
    if (beforeId !== undefined) q = q.where('e.id', '<', beforeId);
    const rows = await q.orderBy('e.id', 'desc').limit(limit).execute();
    return rows.map((r) => ({ id: num(r.id), repository: r.repository, tag: r.tag, digest: r.digest, actor: r.actor, at: num(r.at) }));
  }

  async seenId(userId: number): Promise<number> {
    const r = await this.db.selectFrom('notification_reads').select('seen_id').where('user_id', '=', userId).executeTakeFirst();
    return r ? num(r.seen_id) : 0;
  }

  async markSeen(tx: Tx, userId: number, seenId: number): Promise<void> {
    await tx
      .insertInto('notification_reads')
      .values({ user_id: userId, seen_id: seenId })
      .onConflict((oc) => oc.column('user_id').doUpdateSet({ seen_id: seenId }))
      .execute();
  }
}
