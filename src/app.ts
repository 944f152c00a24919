// The composition root: picks drivers from the configuration and wires the
// services into one Fastify instance. Tests build the app the same way.
import Fastify, { LogController, type FastifyInstance, type RouteOptions } from 'fastify';
import { readConfiguredFile, type BerthConfig } from './config/index.js';
import { siblingRelay } from './auth/revocation-relay.js';
import { Identifier } from './auth/identify.js';
import { openAccess } from './auth/registry-access.js';
import { registerAccessLog } from './http/access-log.js';
import { registerHtpasswdAuth } from './http/auth-hook.js';
import type { RegistryContext } from './http/context.js';
import { frameworkErrors, registerErrorResponses } from './http/error-response.js';
import { registerV2Routes } from './http/v2-router.js';
import { registerHealthRoutes } from './http/health-routes.js';
import { databaseProbe, runCheck } from './health/checks.js';
import { reportingFailures, StorageHealth } from './health/storage-health.js';
import { registerV1Routes, v1AuthOf } from './http/v1-routes.js';
import { IndexService } from './index/service.js';
import type { MetadataDb } from './metadata/database.js';
import { openMetadata } from './metadata/open.js';
import { RegistryStore } from './metadata/registry-store.js';
import { BlobService } from './registry/blobs.js';
import { ListingService } from './registry/listing.js';
import { LookupCache } from './registry/lookup-cache.js';
import { ManifestCache } from './registry/manifest-cache.js';
import { ManifestService } from './registry/manifests.js';
import { OutageCache } from './registry/outage-cache.js';
import { combineSinks, type RegistryEventSink } from './registry/events.js';
import { QuotaService } from './registry/quotas.js';
import { TagGuard } from './registry/tag-rules.js';
import { ImmutableTagRuleStore } from './metadata/immutable-tag-rules.js';
import { TagHistoryStore } from './metadata/tag-history.js';
import { RetentionStore } from './metadata/retention-store.js';
import { RetentionRunner } from './retention/runner.js';
import type { Replication } from './replication/index.js';
import { UploadService } from './registry/uploads.js';
import type { MirrorEviction } from './mirror/evict.js';
import { route, routingTable } from './mirror/routing.js';
import { mayPullMirror } from './auth/policy.js';
import type { MirrorService } from './mirror/service.js';
import { MirrorStore } from './metadata/mirror-store.js';
import { createWebhooks } from './webhooks/index.js';
import { BlobGuard } from './gc/blob-guard.js';
import { Collector } from './gc/collector.js';
import { JobRunner } from './jobs/runner.js';
import { DEFAULT_SWEEP_GRACE_MS, LeftoverSweep, SWEEP_EVERY_MS } from './gc/sweep.js';
import { SweepStore } from './metadata/sweep-store.js';
import type { Scanning } from './scan/index.js';
import { exceptFor } from './registry/pull-gate.js';
import { parseDigest } from './oci/digest.js';
import { GcStore } from './metadata/gc-store.js';
import { registerNetworkRules } from './net/access-hook.js';
import { LiveRules, REFRESH_MS } from './net/live-rules.js';
import { NetworkRuleStore } from './net/rule-store.js';
import type { Resolver } from './net/outbound-connect.js';
import type { StorageDriver } from './storage/driver.js';
import { FilesystemDriver } from './storage/filesystem.js';
import { TrustStore } from './metadata/trust-store.js';
import { configPolicies } from './trust/config-policies.js';
import { trustPullCheck } from './trust/pull-check.js';
import { TrustService } from './trust/service.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { tracingEnabled } from './observability/tracing.js';
import { traceRequests } from './observability/tracing-http.js';
import { tracedPlugins } from './metadata/traced-plugin.js';
import { traced } from './storage/traced.js';

export interface AppParts {
  storage: StorageDriver;
  meta: MetadataDb;
  /** Host name resolution for outbound requests (webhooks); the system resolver by default. */
  resolve: Resolver;
  /**
   * The app's one clock (ms since the epoch): expiry of tokens and sessions, throttles and failure
   * windows, the times recorded with changes and events, background jobs' due times. Date.now by
   * default; tests advance theirs instead of sleeping. (Pacing timers and webhook signature times,
   * which receivers check against their own clocks, stay on wall time.)
   */
  now: () => number;
  /** Sees (and may add hooks to) every route as it is registered: the tests' OpenAPI and serialization checks. */
  onRoute: (route: RouteOptions) => void;
  /** The metrics (observability/metrics.ts); by default those the configuration asks for. */
  metrics: Metrics;
}

// The S3 SDK and pg load only when configured: the AWS SDK alone adds ~40 MiB per process.
export async function createStorage(config: BerthConfig): Promise<StorageDriver> {
  if (config.storage.s3) {
    const { S3Driver } = await import('./storage/s3.js');
    return new S3Driver(config.storage.s3, { redirect: !config.storage.redirect.disable });
  }
  return new FilesystemDriver(config.storage.filesystem.rootdirectory, { directio: config.storage.filesystem.directio });
}

export { openMetadata };

/** The registry's stores and the garbage collector over them, as the server and `berth gc` build them. */
export function createRegistryCore(
  config: BerthConfig,
  storage: StorageDriver,
  meta: MetadataDb,
  now: () => number,
  events: RegistryEventSink,
): { store: RegistryStore; gc: GcStore; guard: BlobGuard; collector: Collector; sweep: LeftoverSweep } {
  const { delay, untagged, restorewindow, deleteconcurrency } = config.storage.gc;
  const store = new RegistryStore(meta, { delay, untagged, restoreWindow: restorewindow });
  const gc = new GcStore(meta);
  const guard = new BlobGuard(gc, delay, now);
  const collector = new Collector({
    storage,
    meta,
    store,
    gc,
    events,
    now,
    settings: { delay, untagged, restoreWindow: restorewindow, deleteConcurrency: deleteconcurrency },
  });
  const sweep = new LeftoverSweep(storage, new SweepStore(meta), gc, now, deleteconcurrency);
  return { store, gc, guard, collector, sweep };
}

export interface Background {
  jobs: JobRunner;
  collector: Collector;
  guard: BlobGuard;
  gc: GcStore;
  retention: RetentionRunner;
  /** Replication (token mode only), else null. */
  replication: Replication | null;
  /** The pull-through cache, when upstreams are configured, and its eviction (the mirror-evict job's). */
  mirror?: MirrorService;
  mirrorEviction?: MirrorEviction;
  trust: TrustService;
  /** Vulnerability scanning, when scanning.enabled. */
  scanning?: Scanning;
  /** The app's metrics (a no-op object when they are off). */
  metrics: Metrics;
}

const backgrounds = new WeakMap<FastifyInstance, Background>();

/** The app's job runner and collector (tests run collections through it). */
export function backgroundOf(app: FastifyInstance): Background {
  const b = backgrounds.get(app);
  if (!b) throw new Error('not an app built by createApp');
  return b;
}

export async function createApp(config: BerthConfig, parts?: Partial<AppParts>): Promise<FastifyInstance> {
  const metrics = parts?.metrics ?? (await createMetrics(config));
  const driver = parts?.storage ?? (await createStorage(config));
  // metered(traced(driver)); spans around storage calls only when tracing is on (src/observability/tracing.ts).
  const metered = metrics.meterStorage(tracingEnabled() ? traced(driver) : driver);
  // One state of "the object store works", from checks and from the errors of real calls (docs/operations.md).
  const storageHealth = StorageHealth.of(metered, { threshold: config.health.storagedriver.threshold });
  const storage = reportingFailures(metered, storageHealth);
  const meta = parts?.meta ?? (await openMetadata(config, { log: metrics.queryLog, plugins: tracedPlugins(config) }));
  try {
    return await assemble(config, storage, meta, !parts?.meta, { ...parts, metrics, storageHealth });
  } catch (err) {
    // A failed start (say, signing keys that do not open) must not leave a database pool behind.
    if (!parts?.meta) await meta.close().catch(() => {});
    throw err;
  }
}

async function assemble(
  config: BerthConfig,
  storage: StorageDriver,
  meta: MetadataDb,
  ownsMeta: boolean,
  parts: Partial<AppParts> & { metrics: Metrics; storageHealth: StorageHealth },
): Promise<FastifyInstance> {
  const now = parts.now ?? Date.now;
  const { metrics } = parts;
  // Consumers of registry events (webhooks, the index), written in each change's transaction.
  const eventSinks: RegistryEventSink[] = [];
  const events = combineSinks(eventSinks);
  const { store, gc, guard, collector, sweep } = createRegistryCore(config, storage, meta, now, events);
  // Storage quotas per namespace: refused at manifest PUT (and early at upload commit).
  const quotas = new QuotaService(store.quotas, config.quotas, events);
  const uploads = new UploadService(storage, store, guard, now, quotas);
  // A feature the configuration leaves off is not even loaded (import() below): a registry-only start loads
  // no accounts, API, UI, mirror, scanner or replication code (test/runtime/footprint.test.ts).
  const tokenAuth = config.auth?.token ? await (await import('./auth/token-auth.js')).buildTokenAuth(config, meta, now) : null;
  // Who is calling, for every surface (auth/identify.ts).
  const identifier =
    tokenAuth?.identifier ??
    new Identifier(
      config.auth?.htpasswd
        ? {
            htpasswd: new (await import('./auth/htpasswd.js')).HtpasswdVerifier(config.auth.htpasswd.path, now),
            onLoginFailure: () => metrics.loginFailed('invalid_credentials'),
          }
        : {},
    );
  if (tokenAuth?.services) tokenAuth.services.accounts.onLoginFailure = (reason) => metrics.loginFailed(reason);
  // Search, descriptions, stars, pull counts, comments: last push times from the events.
  const index = new IndexService(meta, storage, { log: { error: (obj, msg) => app.log.error(obj, msg) }, now });
  eventSinks.push(index.sink);
  const webhooks = await createWebhooks(config, meta, tokenAuth?.services ?? null, {
    resolve: parts.resolve,
    now,
    onAttempt: (outcome) => metrics.webhookAttempt(outcome),
  });
  eventSinks.push(webhooks.sink);
  // Tag history and immutable tags (checked inside every manifest PUT and DELETE).
  const tagHistory = new TagHistoryStore(meta);
  const tagRules = new ImmutableTagRuleStore(meta);
  const tagGuard = new TagGuard(tagRules, tagHistory);
  // The pull-through cache (docs/mirror.md): names routed to an upstream are read-only caches of it.
  const mirrorTable = routingTable(config);
  const mirrorStore = new MirrorStore(meta);
  // Pulls' lookups (manifest by tag or digest, readable blob), kept until the database changes.
  const lookups = new LookupCache(store, meta.changes);
  const blobs = new BlobService(storage, store, guard, now, lookups);
  const localNamespaces = new Set(config.mirror.local);
  const users = tokenAuth?.services?.stores.users;
  const mirrorCode =
    mirrorTable.upstreams.length === 0
      ? undefined
      : {
          ...(await import('./mirror/blob-fetch.js')),
          ...(await import('./mirror/service.js')),
          ...(await import('./mirror/clients.js')),
          ...(await import('./mirror/evict.js')),
        };
  // Cold blobs: one upstream download per digest across replicas, streamed to every waiting client.
  const blobFetcher = mirrorCode && new mirrorCode.BlobFetcher({ storage, meta, store, guard, now, log: { warn: (obj, msg) => app.log.warn(obj, msg) } });
  const mirror =
    mirrorCode === undefined
      ? undefined
      : new mirrorCode.MirrorService({
          table: mirrorTable,
          clients: mirrorCode.upstreamClients(mirrorTable, now),
          // With accounts, a namespace is local when an account or organisation owns it; without, when
          // mirror.local lists it or something was pushed to it (adding a default upstream takes no one's names).
          isLocalNamespace: async (ns) =>
            localNamespaces.has(ns) || (users ? (await users.namespaceKind(ns)) !== null : await mirrorStore.hasPushedContent(ns)),
          store,
          mirrorStore,
          storage,
          guard,
          fetcher: blobFetcher!,
          readOnly: config.storage.maintenance.readonly.enabled,
          onLookup: (kind, result) => metrics.mirrorRequest(kind, result),
          now,
          log: { warn: (obj, msg) => app.log.warn(obj, msg), error: (obj, msg) => app.log.error(obj, msg) },
        });
  const manifests = new ManifestService(storage, store, new ManifestCache(64 * 1024 * 1024), guard, events, now, tagGuard, quotas, lookups);
  // Signature trust (docs/trust.md): verdicts computed when signatures arrive, enforced at pull time.
  let trustWake: ReturnType<typeof setTimeout> | undefined;
  let closing = false;
  const trust = new TrustService({
    store: new TrustStore(meta),
    registry: store,
    manifests,
    storage,
    configPolicies: configPolicies(config),
    events,
    now,
    log: { warn: (obj, msg) => app.log.warn(obj, msg), error: (obj, msg) => app.log.error(obj, msg) },
    // A pushed signature is verified right after its push commits (the job catches up on what a crash left).
    onQueued: () => {
      if (trustWake || closing) return;
      trustWake = setTimeout(() => {
        trustWake = undefined;
        if (!closing) void jobs.runNow('trust-verify').catch(() => {});
      }, 10);
    },
  });
  eventSinks.push(trust.sink);
  const ctx: RegistryContext = {
    access: tokenAuth?.access ?? openAccess,
    audit: tokenAuth?.services ? (entry) => tokenAuth.services!.accounts.audit(entry) : undefined,
    blobs,
    uploads,
    manifests,
    listing: new ListingService(
      store,
      tokenAuth?.services?.stores.repositories,
      mirror
        ? {
            isCache: (name) => route(mirrorTable, name, null).kind === 'mirror',
            listed: config.mirror.catalog,
            pullable: (viewer) => mayPullMirror(viewer.userId !== null, config.mirror),
          }
        : undefined,
    ),
    mirror,
    deleteEnabled: config.storage.delete.enabled,
    readOnly: config.storage.maintenance.readonly.enabled,
    manifestLimit: config.limits.manifestbytes,
    baseUrl: config.http.host,
    onPull: (name, digest) => index.recordPull(name, digest),
    pullChecks: [trustPullCheck(trust, { warn: (obj, msg) => app.log.warn(obj, msg) })],
  };
  // Vulnerability scanning (docs/scanning.md): pushes queue scans in their transaction; enforced
  // policies refuse vulnerable images through the pull gate.
  const scanCode = config.scanning.enabled ? { ...(await import('./scan/index.js')), ...(await import('./scan/pull-check.js')) } : undefined;
  const scanning = scanCode
    ? scanCode.createScanning(config, meta, {
        manifests: ctx.manifests,
        uploads,
        readBlob: (digest) => blobs.read(parseDigest(digest)),
        resolve: parts.resolve,
        now,
        log: { info: (obj, msg) => app.log.info(obj, msg), warn: (obj, msg) => app.log.warn(obj, msg), error: (obj, msg) => app.log.error(obj, msg) },
        registryUrl: () => config.http.host || listeningUrl(app, Boolean(config.http.tls)),
        // Scanner adapters pull with a token of the built-in issuer that pulls only that repository.
        pullAuthorization: async (repository, scanner) => {
          const s = tokenAuth?.services;
          if (!s) return null;
          const { token } = await s.issuer.issue(
            `${scanCode.SCANNER_ACTOR_PREFIX}${scanner}`,
            s.service,
            [{ type: 'repository', name: repository, actions: ['pull'] }],
            await s.revocations.mark(),
          );
          return `Bearer ${token}`;
        },
      })
    : undefined;
  if (scanning) {
    if (scanning.sink) eventSinks.push(scanning.sink);
    // The adapter reads what it scans: no content policy (trust included) refuses its pull-only token.
    ctx.pullChecks = exceptFor(scanning.scannerActor, [...(ctx.pullChecks ?? []), scanning.pullCheck]);
  }
  // Pulls served recently, answered from memory while the database is down (docs/operations.md).
  const outageCache = new OutageCache({ ...config.metadata.outagecache, maxAgeMs: config.metadata.outagecache.maxage }, now);
  if (outageCache.enabled) ctx.outage = { cache: outageCache, gateExempt: scanning?.scannerActor ?? null };
  // Retention policies: deletions through the registry's own delete path, on demand and on a schedule.
  const retentionStore = new RetentionStore(meta);
  const retention = new RetentionRunner({
    store: retentionStore,
    immutable: tagRules,
    manifests: ctx.manifests,
    now,
    interval: config.retention.interval,
    log: { info: (obj, msg) => app.log.info(obj, msg), error: (obj, msg) => app.log.error(obj, msg) },
  });
  // Replication (token mode: policies are managed through the API): pushes and deletes queue
  // copies in their own transaction; the job below runs them and the scheduled policies.
  const replication = tokenAuth
    ? (await import('./replication/index.js')).createReplication(config, meta, {
        registry: { ...ctx, uploads },
        resolve: parts.resolve,
        now,
        log: { info: (obj, msg) => app.log.info(obj, msg), error: (obj, msg) => app.log.error(obj, msg) },
      })
    : null;
  if (replication) eventSinks.push(replication.sink);

  // Network rules: the configuration's, and with the API (token mode) those administrators set per namespace.
  const networkRules = new LiveRules(config.network, tokenAuth?.services ? new NetworkRuleStore(meta.db) : null);
  await networkRules.reload();

  const app = Fastify({
    logger: {
      level: config.log.level,
      base: { ...config.log.fields },
      redact: ['req.headers.authorization', 'req.headers.cookie'],
    },
    // One access line per request, written by our onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    frameworkErrors,
    // A field a route does not know is refused (400 INVALID), not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
    // Large blobs take as long as they take; idle sockets are still reaped by keepAliveTimeout.
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: 75_000,
    // Behind nginx/HAProxy: client addresses (login limits, audit) and https URLs come from X-Forwarded-*.
    ...(config.http.trustproxy ? { trustProxy: config.http.trustproxy === 'true' ? true : config.http.trustproxy.split(',') } : {}),
    ...(config.http.tls
      ? {
          https: {
            cert: readConfiguredFile('http.tls.certificate', config.http.tls.certificate),
            key: readConfiguredFile('http.tls.key', config.http.tls.key),
          },
        }
      : {}),
  }) as unknown as FastifyInstance;

  if (parts.onRoute) app.addHook('onRoute', parts.onRoute);
  // A server span per request, in whose context the handlers run (when tracing is on).
  traceRequests(app);
  // First: requests refused by any later hook are counted too.
  metrics.instrumentHttp(app);
  metrics.observeMetadata(meta, now);

  // Bodies are streamed by the handlers themselves (blobs) or read with a limit (manifests).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

  const extraHeaders = Object.entries(config.http.headers);
  app.addHook('onRequest', async (request, reply) => {
    if (request.url.startsWith('/v2')) reply.header('Docker-Distribution-Api-Version', 'registry/2.0');
    for (const [name, values] of extraHeaders) reply.header(name, values.length === 1 ? values[0] : values);
  });
  // Network rules (docs/network-rules.md): a refused address is answered before any other work.
  registerNetworkRules(app, networkRules, mirrorTable);
  if (!config.log.accesslog.disabled) registerAccessLog(app, { fields: config.log.fields });
  if (config.auth?.htpasswd) registerHtpasswdAuth(app, config.auth.htpasswd.realm, identifier);
  registerErrorResponses(app);
  // /livez, /readyz (and /healthz) for load balancers and Kubernetes (docs/operations.md).
  registerHealthRoutes(app, { database: () => runCheck(databaseProbe(meta)), storage: () => parts.storageHealth.check() });
  ctx.storageHealth = parts.storageHealth;
  // Checked in the background too when blob GETs are redirected to the store (nothing else would notice it failing).
  if (config.health.storagedriver.enabled || (config.storage.s3 && !config.storage.redirect.disable))
    parts.storageHealth.start(config.health.storagedriver.interval);
  registerV2Routes(app, ctx);
  registerV1Routes(app, index, v1AuthOf(config, identifier, tokenAuth));
  const services = tokenAuth?.services;
  if (services && replication) {
    const [{ registerUi }, { registerTokenRoutes }, { registerApiRoutes }, { TagRestore }] = await Promise.all([
      import('./ui/routes.js'),
      import('./http/token-routes.js'),
      import('./api/routes.js'),
      import('./registry/tag-restore.js'),
    ]);
    // first: its root hooks reach the API plugins below
    await registerUi(
      app,
      { ...services, meta },
      {
        manifests: ctx.manifests,
        tagFacts: {
          signatures: (repository, digests) => trust.summaries(repository, digests),
          ...(scanning ? { vulnerabilities: (r, images) => scanning.service.summaries(r, images) } : {}),
        },
      },
    );
    registerTokenRoutes(app, { ...services, meta, onTokenRequest: (grant, outcome) => metrics.tokenRequest(grant, outcome) });
    await registerApiRoutes(
      app,
      { ...services, meta, registry: { deleteRepository: (name, origin) => ctx.manifests.deleteRepository(name, origin), deleteEnabled: ctx.deleteEnabled } },
      {
        index,
        webhooks,
        tags: { history: tagHistory, rules: tagRules, restore: new TagRestore(store, tagHistory, tagGuard, events, now) },
        quotas,
        retention: { store: retentionStore, runner: retention, deleteEnabled: ctx.deleteEnabled && !ctx.readOnly },
        replication: { store: replication.store, runner: replication.runner },
        trust: { trust },
        network: { live: networkRules, store: networkRules.store!, configured: config.network.namespaces, global: config.network },
        ...(scanning ? { scanning: { scanning, manifests: ctx.manifests, blobs } } : {}),
      },
    );
  }

  // Background work, on every replica; each job claims its work in the database.
  const jobs = new JobRunner(app.log, (name, seconds, failed) => metrics.jobRun(name, seconds, failed));
  const purging = config.storage.maintenance.uploadpurging;
  if (purging.enabled && !purging.dryrun) jobs.add({ name: 'upload-purge', every: purging.interval, run: () => uploads.purge(now() - purging.age) });
  if (config.storage.gc.enabled && !ctx.readOnly) {
    jobs.add({
      name: 'gc',
      every: config.storage.gc.interval,
      run: async () => {
        const r = await collector.collect();
        metrics.gcCollected(r);
        if (r.manifests + r.blobs + r.links > 0) app.log.info({ gc: r }, 'garbage collection');
      },
    });
    // Crash leftovers: a full storage listing, so daily (every replica; the claims keep them apart).
    jobs.add({
      name: 'gc-sweep',
      every: SWEEP_EVERY_MS,
      run: async () => {
        const r = await sweep.run({ graceMs: DEFAULT_SWEEP_GRACE_MS });
        metrics.sweepRemoved(r);
        if (r.blobs + r.uploads + r.debris > 0) app.log.info({ sweep: r }, 'crash leftovers swept');
      },
    });
  }
  // Cached images not pulled for the TTL, and the least recently pulled while over the budget; GC takes their blobs.
  const mirrorEviction = mirrorCode
    ? new mirrorCode.MirrorEviction({ mirrorStore, store, now, settings: { ttl: config.mirror.ttl || (config.proxy?.ttl ?? 0), budget: config.mirror.budget } })
    : undefined;
  if (mirrorEviction && !ctx.readOnly) {
    const eviction = mirrorEviction;
    if (eviction.enabled) {
      jobs.add({
        name: 'mirror-evict',
        every: config.mirror.evictinterval,
        run: async () => {
          const r = await eviction.run();
          if (r.images > 0) app.log.info({ evicted: r }, 'mirror: cached images evicted');
        },
      });
    }
  }
  if (blobFetcher) {
    // Claims of downloads whose replica died, with their partial bytes.
    jobs.add({ name: 'mirror-fetch-reap', every: 10 * 60_000, run: async () => void (await blobFetcher.reapExpired(now() - 10 * 60_000)) });
  }
  if (config.retention.enabled && ctx.deleteEnabled && !ctx.readOnly) {
    jobs.add({ name: 'retention', every: config.retention.interval, run: () => retention.runDue() });
  }
  if (replication && config.replication.enabled) {
    jobs.add({ name: 'replication', every: config.replication.interval, run: () => replication.runner.runDue() });
  }
  jobs.add({ name: 'trust-verify', every: config.trust.interval, run: async () => void (await trust.drain()) });
  // Rules changed through another replica's API.
  if (networkRules.store) jobs.add({ name: 'network-rules-refresh', every: REFRESH_MS, run: () => networkRules.reload() });
  if (scanning && !ctx.readOnly) {
    for (const job of scanning.jobs) jobs.add(job);
    scanning.service.onQueued = () => void jobs.runNow('scan').catch(() => {});
    scanning.service.onScanned = (outcome) => metrics.scanFinished(outcome);
  }
  backgrounds.set(app, { jobs, collector, guard, gc, retention, replication, mirror, mirrorEviction, scanning, trust, metrics });
  jobs.start();
  webhooks.attach(app);
  webhooks.start(app.log);
  const revocations = tokenAuth?.services?.revocations;
  if (revocations) {
    revocations.relayTo(siblingRelay(() => revocations.poll()));
    revocations.start(app.log);
  }
  index.attach(app).start();
  app.addHook('onClose', async () => {
    parts.storageHealth.stop();
    closing = true;
    clearTimeout(trustWake);
    await jobs.stop();
    await replication?.runner.idle();
    await mirror?.close();
    revocations?.stop();
    await index.stop();
    await webhooks.stop();
    metrics.close();
    if (ownsMeta) await meta.close();
  });
  return app;
}

/** The URL of the address the app listens on (loopback when it listens on every interface). */
function listeningUrl(app: FastifyInstance, tls: boolean): string {
  const a = app.server.address();
  if (!a || typeof a === 'string') return '';
  const host = a.address === '0.0.0.0' || a.address === '::' ? '127.0.0.1' : a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return `${tls ? 'https' : 'http'}://${host}:${a.port}`;
}
