// Webhooks as the app sees them: the event sink (written in each change's
// transaction), the delivery worker (started and stopped with the app) and the store
// the REST routes use. docs/webhooks.md describes the whole feature.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { AccountServices } from '../auth/token-auth.js';
import type { BerthConfig } from '../config/index.js';
import type { MetadataDb } from '../metadata/database.js';
import { systemResolver, type OutboundGuard, type Resolver } from '../net/outbound-connect.js';
import { OutboundPolicy } from '../net/outbound.js';
import type { RegistryEventSink } from '../registry/events.js';
import type { PayloadContext } from './payloads.js';
import { WebhookSink } from './sink.js';
import { WebhookStore, type Delivery, type Webhook } from './store.js';
import { DeliveryWorker, type WorkerLog, type WorkerSettings } from './worker.js';

export interface Webhooks {
  store: WebhookStore;
  sink: RegistryEventSink;
  settings: WorkerSettings;
  /** Default outbound rule plus notifications.webhooks.allow (also judges URLs when webhooks are created). */
  policy: OutboundPolicy;
  /** Starts this process's delivery worker (unless notifications.webhooks.worker is off). */
  start(log: WorkerLog): void;
  stop(): Promise<void>;
  /** The running worker (tests drain it: DeliveryWorker.drain), or null. */
  worker(): DeliveryWorker | null;
  /** Registers these webhooks for webhooksOf(app). */
  attach(app: FastifyInstance): void;
}

const byApp = new WeakMap<FastifyInstance, Webhooks>();

/** The webhooks of an app (tests drain its worker through it). */
export function webhooksOf(app: FastifyInstance): Webhooks | undefined {
  return byApp.get(app);
}

export interface WebhookDeps {
  /** Host name resolution for deliveries (tests inject one to play DNS rebinding). */
  resolve?: Resolver;
  /** The worker's clock for due times, backoff and claims (tests advance one). */
  now?: () => number;
  /** Told how each delivery attempt ended (metrics). */
  onAttempt?: (outcome: 'delivered' | 'failed' | 'dead') => void;
}

export async function createWebhooks(config: BerthConfig, meta: MetadataDb, services: AccountServices | null, deps: WebhookDeps = {}): Promise<Webhooks> {
  const store = new WebhookStore(meta.db);
  const { allow, ...settings } = config.notifications.webhooks;
  const policy = new OutboundPolicy(allow);
  const guard: OutboundGuard = { policy, resolve: deps.resolve ?? systemResolver };
  await meta.transaction((tx) => store.syncConfigEndpoints(tx, config.notifications.endpoints, (deps.now ?? Date.now)()));
  const ctx: PayloadContext = { baseUrl: config.http.host, source: { addr: `${hostname()}:${config.http.listen.port}`, instanceID: randomUUID() } };
  let worker: DeliveryWorker | null = null;
  const sink = new WebhookSink(store, ctx, () => worker?.nudge());

  /** Personal (watch) webhooks reach only repositories their owner may still pull. */
  const mayDeliver = async (hook: Webhook, d: Delivery): Promise<boolean> => {
    if (hook.scopeKind !== 'user') return true;
    if (!services) return false;
    const user = await services.stores.users.userByName(hook.scope);
    if (!user || user.disabled) return false;
    const principal = { userId: user.id, username: user.username, isAdmin: user.isAdmin, robotOrgId: user.robotOrgId };
    return (await services.authorizer.actions(principal, d.repository)).has('pull');
  };

  const webhooks: Webhooks = {
    store,
    sink,
    settings,
    policy,
    start(log) {
      if (!config.notifications.webhooks.worker || worker) return;
      worker = new DeliveryWorker(store, meta, settings, log, { guard, now: deps.now ?? Date.now, mayDeliver, onAttempt: deps.onAttempt });
      worker.start();
    },
    async stop() {
      const w = worker;
      worker = null;
      await w?.stop();
    },
    worker: () => worker,
    attach(app) {
      byApp.set(app, webhooks);
    },
  };
  return webhooks;
}
