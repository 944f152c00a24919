// The registry event sink of webhooks: inside the transaction of the change, one
// outbox row per (event, matching webhook), already rendered, plus a watch event for
// each new tag of a watched repository. The delivery worker does the rest.
import { randomUUID } from 'node:crypto';
import { namespaceOf } from '../auth/policy.js';
import type { Tx } from '../metadata/database.js';
import type { RegistryEvent, RegistryEventSink } from '../registry/events.js';
import { eventMatches } from './filters.js';
import { render, type PayloadContext, type RepositoryInfo } from './payloads.js';
import type { NewDelivery, WebhookStore } from './store.js';

export class WebhookSink implements RegistryEventSink {
  constructor(
    private readonly store: WebhookStore,
    private readonly ctx: PayloadContext,
    /** Called after rows were written (the transaction may still be open): wakes the local worker. */
    private readonly onQueued: () => void = () => {},
  ) {}

  async record(tx: Tx, events: RegistryEvent[]): Promise<void> {
    const rows: NewDelivery[] = [];
    for (const e of events) {
      if (e.type === 'push' && e.tag) {
        await this.store.addWatchEvent(tx, { repository: e.repository, tag: e.tag, digest: e.digest ?? null, actor: e.actor, at: e.at });
      }
      const hooks = (await this.store.candidates(tx, e.repository, namespaceOf(e.repository))).filter(
        (h) =>
          eventMatches(e, h.events, h.tagPattern) &&
          !(e.mediaType && h.options.ignoreMediaTypes?.includes(e.mediaType)) &&
          // A namespace's usage is for those who administer it, not a repository's or a watcher's webhooks.
          (e.type !== 'quota.warning' || h.scopeKind === 'namespace'),
      );
      if (hooks.length === 0) continue;
      const repo = await repositoryInfo(tx, e.repository);
      const eventId = randomUUID();
      // A webhook reached twice (say, a watcher's hook that is also the namespace's) gets one delivery.
      const seen = new Set<number>();
      for (const h of hooks) {
        if (seen.has(h.id)) continue;
        seen.add(h.id);
        const { body, contentType } = render(h.format, e, eventId, repo, this.ctx);
        rows.push({
          uuid: randomUUID(),
          eventId,
          webhookId: h.id,
          eventType: e.type,
          repository: e.repository,
          tag: e.tag ?? null,
          digest: e.digest ?? null,
          body,
          contentType,
        });
      }
    }
    if (rows.length === 0) return;
    await this.store.insertDeliveries(tx, rows, Math.max(...events.map((e) => e.at)));
    this.onQueued();
  }
}

async function repositoryInfo(tx: Tx, name: string): Promise<RepositoryInfo> {
  const r = await tx.selectFrom('repositories').select(['visibility', 'created_at']).where('name', '=', name).executeTakeFirst();
  return { visibility: r?.visibility ?? 'private', createdAt: r ? Number(r.created_at) : null };
}
