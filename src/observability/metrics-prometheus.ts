// The Metrics interface over prom-client, loaded only when metrics are on (metrics.ts). Label values
// are bounded: route templates (never raw paths), status codes, fixed outcome words, and repository
// names only when http.debug.prometheus.repositories allow-lists them (else "other").
// docs/observability.md lists every family.
import cluster, { type Worker } from 'node:cluster';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { LogEvent } from 'kysely';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type LabelValues } from 'prom-client';
import { v2Route } from '../http/v2-router.js';
import type { MetadataDb } from '../metadata/database.js';
import { meteredQueryLog, type StatementKind } from '../metadata/metered-plugin.js';
import { meteredStorage } from '../storage/metered.js';
import type { StorageDriver } from '../storage/driver.js';
import type { LoginFailure, Metrics, TokenGrant, TokenOutcome } from './metrics.js';
import { RepositoryLabels } from './metrics-labels.js';

/** A scrape waits this long for the database's figures, then goes on without them. */
export const COLLECT_TIMEOUT_MS = 1000;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** A request no route took (404s of unknown paths): one series, whatever the path. */
export const UNMATCHED_ROUTE = 'unmatched';

// Latencies from a cached manifest HEAD (~1 ms) to a large blob (minutes).
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const STORAGE_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120];
const DB_BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];
const JOB_BUCKETS = [0.01, 0.1, 1, 10, 60, 300, 1800, 3600];

interface Inflight {
  start: number;
}

export class PrometheusMetrics implements Metrics {
  readonly enabled = true;
  readonly registry = new Registry();
  readonly queryLog: (event: LogEvent) => void;
  private readonly repos: RepositoryLabels;
  private readonly collectors: (() => void)[] = [];

  private readonly httpRequests = new Counter({
    name: 'berth_http_requests_total',
    help: 'HTTP requests answered, by method, route template, status code and repository (allow-listed names, else "other"; "" for routes without one).',
    labelNames: ['method', 'route', 'status', 'repository'],
    registers: [this.registry],
  });
  private readonly httpDuration = new Histogram({
    name: 'berth_http_request_duration_seconds',
    help: 'Time from a request to the end of its response, by method, route template and status class (2xx, 4xx, ...).',
    labelNames: ['method', 'route', 'status_class'],
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });
  private readonly httpInflight = new Gauge({
    name: 'berth_http_requests_in_flight',
    help: 'Requests received and not yet answered.',
    registers: [this.registry],
  });
  private readonly httpReceived = new Counter({
    name: 'berth_http_received_bytes_total',
    help: 'Bytes received on the main listener (request line, headers and body), by method, route template and repository.',
    labelNames: ['method', 'route', 'repository'],
    registers: [this.registry],
  });
  private readonly httpSent = new Counter({
    name: 'berth_http_sent_bytes_total',
    help: 'Bytes sent on the main listener (status line, headers and body), by method, route template and repository.',
    labelNames: ['method', 'route', 'repository'],
    registers: [this.registry],
  });
  private readonly storageOps = new Counter({
    name: 'berth_storage_operations_total',
    help: 'Storage driver calls, by driver and action.',
    labelNames: ['driver', 'action'],
    registers: [this.registry],
  });
  private readonly storageErrors = new Counter({
    name: 'berth_storage_errors_total',
    help: 'Storage driver calls that failed (not-found answers of stat are not failures), by driver and action.',
    labelNames: ['driver', 'action'],
    registers: [this.registry],
  });
  private readonly storageDuration = new Histogram({
    name: 'berth_storage_operation_duration_seconds',
    help: 'Storage driver call durations (a read: until the stream is open), by driver and action.',
    labelNames: ['driver', 'action'],
    buckets: STORAGE_BUCKETS,
    registers: [this.registry],
  });
  private readonly storageWritten = new Counter({
    name: 'berth_storage_written_bytes_total',
    help: 'Bytes written to storage (upload appends and whole objects), by driver.',
    labelNames: ['driver'],
    registers: [this.registry],
  });
  private readonly dbQueries = new Counter({
    name: 'berth_db_queries_total',
    help: 'Metadata database statements, by kind (select, insert, update, delete, transaction, ddl, other).',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  private readonly dbErrors = new Counter({
    name: 'berth_db_query_errors_total',
    help: 'Metadata database statements that failed, by kind.',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  private readonly dbDuration = new Histogram({
    name: 'berth_db_query_duration_seconds',
    help: 'Metadata database statement durations, by kind.',
    labelNames: ['kind'],
    buckets: DB_BUCKETS,
    registers: [this.registry],
  });
  private readonly tokenRequests = new Counter({
    name: 'berth_token_requests_total',
    help: 'Requests to the built-in token service, by grant (basic, password, refresh_token) and outcome.',
    labelNames: ['grant', 'outcome'],
    registers: [this.registry],
  });
  private readonly loginFailures = new Counter({
    name: 'berth_login_failures_total',
    help: 'Failed sign-ins (any surface), by reason: invalid_credentials, or throttled by the failure limits.',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly jobRuns = new Counter({
    name: 'berth_job_runs_total',
    help: 'Background job runs finished, by job name (a label "job" would clash with the scrape job).',
    labelNames: ['name'],
    registers: [this.registry],
  });
  private readonly jobFailures = new Counter({
    name: 'berth_job_failures_total',
    help: 'Background job runs that failed, by job name.',
    labelNames: ['name'],
    registers: [this.registry],
  });
  private readonly jobDuration = new Histogram({
    name: 'berth_job_duration_seconds',
    help: 'Background job run durations, by job name.',
    labelNames: ['name'],
    buckets: JOB_BUCKETS,
    registers: [this.registry],
  });
  private readonly gcObjects = new Counter({
    name: 'berth_gc_reclaimed_objects_total',
    help: 'What online garbage collection and the leftover sweep removed, by kind (manifest, blob, link, upload, debris).',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  private readonly gcBytes = new Counter({
    name: 'berth_gc_reclaimed_bytes_total',
    help: 'Bytes garbage collection and the leftover sweep deleted from storage.',
    registers: [this.registry],
  });
  private readonly webhookAttempts = new Counter({
    name: 'berth_webhook_delivery_attempts_total',
    help: 'Webhook delivery attempts by this process, by outcome (delivered; failed: will be retried; dead: the last attempt failed).',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly mirrorRequests = new Counter({
    name: 'berth_mirror_requests_total',
    help: 'Pull-through cache lookups, by kind (manifest, blob) and result (hit: served from the cache; miss: fetched from the upstream; stale: cached copy served while the upstream fails).',
    labelNames: ['kind', 'result'],
    registers: [this.registry],
  });
  private readonly scans = new Counter({
    name: 'berth_scans_total',
    help: 'Vulnerability scans finished, by outcome (scanned; retry: failed, to be tried again; failed: the last attempt failed).',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly collectFailures = new Counter({
    name: 'berth_metrics_collect_failures_total',
    help: 'Scrape-time reads of the database that failed or took over 1 s (their gauges are then NaN), by collector.',
    labelNames: ['collector'],
    registers: [this.registry],
  });

  private readonly workers = new Gauge({
    name: 'berth_workers',
    help: 'Processes whose metrics these are: 1, or the number of workers whose sum a cluster primary serves.',
    registers: [this.registry],
  });

  // Cached children: prom-client hashes the label object on every inc() otherwise.
  private readonly children = new Map<string, { requests: Counter; duration: Histogram; received: Counter; sent: Counter }>();

  constructor(repositories: readonly string[]) {
    this.repos = new RepositoryLabels(repositories);
    collectDefaultMetrics({ register: this.registry });
    this.workers.set(1);
    this.queryLog = meteredQueryLog({ query: (kind, seconds, failed) => this.query(kind, seconds, failed) });
  }

  instrumentHttp(app: FastifyInstance): void {
    const started = new WeakMap<FastifyRequest, Inflight>();
    // Bytes per request are the socket's counters since the previous response on the connection.
    const seen = new WeakMap<Socket, { read: number; written: number }>();
    app.addHook('onRequest', (req, reply, done) => {
      this.httpInflight.inc();
      const state: Inflight = { start: performance.now() };
      started.set(req, state);
      reply.raw.once('close', () => this.finish(req, reply.raw.statusCode, state, seen));
      done();
    });
  }

  private finish(req: FastifyRequest, status: number, state: Inflight, seen: WeakMap<Socket, { read: number; written: number }>): void {
    this.httpInflight.dec();
    const seconds = (performance.now() - state.start) / 1000;
    const method = METHODS.has(req.method) ? req.method : 'other';
    let route = req.routeOptions.url ?? UNMATCHED_ROUTE;
    let repository = '';
    if (route === '/v2/*') {
      const url = req.url;
      const q = url.indexOf('?');
      const r = v2Route(url.slice('/v2/'.length, q < 0 ? undefined : q));
      route = r.template;
      if (r.name !== null) repository = this.repos.label(r.name);
    }
    const key = `${method} ${route} ${status} ${repository}`;
    let c = this.children.get(key);
    if (!c) {
      const labels: LabelValues<string> = { method, route, repository };
      c = {
        requests: this.httpRequests.labels({ ...labels, status: String(status) }) as unknown as Counter,
        duration: this.httpDuration.labels({ method, route, status_class: `${Math.floor(status / 100)}xx` }) as unknown as Histogram,
        received: this.httpReceived.labels(labels) as unknown as Counter,
        sent: this.httpSent.labels(labels) as unknown as Counter,
      };
      this.children.set(key, c);
    }
    c.requests.inc();
    c.duration.observe(seconds);
    const socket = req.raw.socket;
    if (socket) {
      const before = seen.get(socket) ?? { read: 0, written: 0 };
      const now = { read: socket.bytesRead, written: socket.bytesWritten };
      seen.set(socket, now);
      if (now.read > before.read) c.received.inc(now.read - before.read);
      if (now.written > before.written) c.sent.inc(now.written - before.written);
    }
  }

  meterStorage(driver: StorageDriver): StorageDriver {
    return meteredStorage(driver, {
      operation: (name, action, seconds, failed) => {
        const labels = { driver: name, action };
        this.storageOps.inc(labels);
        this.storageDuration.observe(labels, seconds);
        if (failed) this.storageErrors.inc(labels);
      },
      written: (name, bytes) => {
        if (bytes > 0) this.storageWritten.inc({ driver: name }, bytes);
      },
    });
  }

  private query(kind: StatementKind, seconds: number, failed: boolean): void {
    this.dbQueries.inc({ kind });
    this.dbDuration.observe({ kind }, seconds);
    if (failed) this.dbErrors.inc({ kind });
  }

  observeMetadata(meta: MetadataDb, now: () => number): void {
    const registers = [this.registry];
    if (meta.poolStats) {
      const stats = meta.poolStats.bind(meta);
      // Each worker has its own pool: the aggregate is the sum.
      new Gauge({
        name: 'berth_db_pool_connections',
        help: 'PostgreSQL connections of the pool, by state (idle, active).',
        labelNames: ['state'],
        registers,
        collect() {
          const s = stats();
          this.set({ state: 'idle' }, s.idle);
          this.set({ state: 'active' }, s.total - s.idle);
        },
      });
      new Gauge({
        name: 'berth_db_pool_waiting_requests',
        help: 'Queries waiting for a PostgreSQL connection of the pool.',
        registers,
        collect() {
          this.set(stats().waiting);
        },
      });
    }
    // Every worker reads the same database: the aggregate of these is the largest, not the sum.
    const pending = new Gauge({
      name: 'berth_webhook_deliveries_pending',
      help: 'Webhook deliveries waiting to be delivered or retried.',
      registers,
      aggregator: 'max',
    });
    const lag = new Gauge({
      name: 'berth_webhook_oldest_pending_age_seconds',
      help: 'Age of the oldest webhook delivery still pending (0 when none is).',
      registers,
      aggregator: 'max',
    });
    const dead = new Gauge({
      name: 'berth_webhook_deliveries_dead',
      help: 'Webhook deliveries that failed their last attempt (dead letters), until pruned or redelivered.',
      registers,
      aggregator: 'max',
    });
    const scanQueue = new Gauge({ name: 'berth_scan_queue_depth', help: 'Vulnerability scans requested and not yet done.', registers, aggregator: 'max' });
    const gauges = [pending, lag, dead, scanQueue];
    const read = async () => {
      const db = meta.db;
      const [p, d, s] = await Promise.all([
        db
          .selectFrom('webhook_deliveries')
          .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min('created_at').as('oldest')])
          .where('status', '=', 'pending')
          .executeTakeFirstOrThrow(),
        db
          .selectFrom('webhook_deliveries')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('status', '=', 'dead')
          .executeTakeFirstOrThrow(),
        db
          .selectFrom('scan_requests')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow(),
      ]);
      pending.set(Number(p.n));
      lag.set(p.oldest === null || p.oldest === undefined ? 0 : Math.max(0, (now() - Number(p.oldest)) / 1000));
      dead.set(Number(d.n));
      scanQueue.set(Number(s.n));
    };
    let running: Promise<void> | null = null;
    const failures = this.collectFailures;
    // One read serves all four gauges of a scrape; a read still hanging (database down) is not repeated.
    let scrape: Promise<void> | null = null;
    const collect = () => {
      scrape ??= (async () => {
        try {
          running ??= read().finally(() => {
            running = null;
          });
          await withTimeout(running, COLLECT_TIMEOUT_MS);
        } catch {
          failures.inc({ collector: 'database' });
          // Unknown, not zero (no backlog) nor the last figure: NaN until the database answers again.
          for (const g of gauges) g.set(Number.NaN);
        }
      })().finally(() => {
        scrape = null;
      });
      return scrape;
    };
    // The failure count too: a scrape reports its own read's failure.
    for (const g of [...gauges, failures]) (g as unknown as { collect: () => Promise<void> }).collect = collect;
    failures.inc({ collector: 'database' }, 0);
  }

  tokenRequest(grant: TokenGrant, outcome: TokenOutcome): void {
    this.tokenRequests.inc({ grant, outcome });
  }
  loginFailed(reason: LoginFailure): void {
    this.loginFailures.inc({ reason });
  }
  jobRun(name: string, seconds: number, failed: boolean): void {
    this.jobRuns.inc({ name });
    this.jobDuration.observe({ name }, seconds);
    if (failed) this.jobFailures.inc({ name });
  }
  gcCollected(r: { manifests: number; blobs: number; bytes: number; links: number }): void {
    if (r.manifests) this.gcObjects.inc({ kind: 'manifest' }, r.manifests);
    if (r.blobs) this.gcObjects.inc({ kind: 'blob' }, r.blobs);
    if (r.links) this.gcObjects.inc({ kind: 'link' }, r.links);
    if (r.bytes) this.gcBytes.inc(r.bytes);
  }
  sweepRemoved(r: { blobs: number; uploads: number; debris: number; bytes: number; debrisBytes: number }): void {
    if (r.bytes + r.debrisBytes) this.gcBytes.inc(r.bytes + r.debrisBytes);
    if (r.blobs) this.gcObjects.inc({ kind: 'blob' }, r.blobs);
    if (r.uploads) this.gcObjects.inc({ kind: 'upload' }, r.uploads);
    if (r.debris) this.gcObjects.inc({ kind: 'debris' }, r.debris);
  }
  webhookAttempt(outcome: 'delivered' | 'failed' | 'dead'): void {
    this.webhookAttempts.inc({ outcome });
  }
  mirrorRequest(kind: 'manifest' | 'blob', result: 'hit' | 'miss' | 'stale'): void {
    this.mirrorRequests.inc({ kind, result });
  }
  scanFinished(outcome: 'scanned' | 'retry' | 'failed'): void {
    this.scans.inc({ outcome });
  }

  async joinCluster(): Promise<void> {
    const registry = this.registry;
    process.on('message', (msg: ClusterMessage) => {
      if (msg?.type !== METRICS_REQUEST) return;
      registry.getMetricsAsJSON().then(
        (metrics) => process.send?.({ type: METRICS_REPLY, id: msg.id, metrics }),
        (err: Error) => process.send?.({ type: METRICS_REPLY, id: msg.id, error: err.message }),
      );
    });
    // Asked only from now on: a worker still starting does not hold up the primary's scrapes.
    process.send?.({ type: METRICS_READY });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    for (const stop of this.collectors) stop();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const METRICS_READY = 'berth:metrics:ready'; // worker → primary, once its registry exists
const METRICS_REQUEST = 'berth:metrics:request'; // primary → each ready worker
const METRICS_REPLY = 'berth:metrics:reply'; // worker → primary
/** A worker that has not answered by then is left out of that scrape (berth_workers says how many are in). */
export const WORKER_REPLY_MS = 3000;

interface ClusterMessage {
  type?: string;
  id?: number;
  metrics?: object[];
  error?: string;
}

/**
 * The cluster primary's metrics: the sum of its ready workers' registries (each gauge by its
 * aggregator: the database's figures are the largest, not the sum). prom-client's own
 * AggregatorRegistry.clusterMetrics asks every connected worker, so a worker still starting (or
 * restarting) would fail every scrape for its timeout; here only workers that said they are
 * ready are asked, and one that does not answer in time is left out rather than failing the scrape.
 */
export function clusterMetrics(): () => Promise<{ contentType: string; body: string }> {
  const ready = new Set<number>();
  const pending = new Map<number, (worker: number, m: ClusterMessage) => void>();
  let next = 0;
  cluster.on('message', (worker: Worker, msg: ClusterMessage) => {
    if (msg?.type === METRICS_READY) ready.add(worker.id);
    else if (msg?.type === METRICS_REPLY && typeof msg.id === 'number') pending.get(msg.id)?.(worker.id, msg);
  });
  cluster.on('exit', (worker) => ready.delete(worker.id));
  return async () => {
    const id = ++next;
    const workers = [...ready].map((w) => cluster.workers?.[w]).filter((w): w is Worker => !!w && w.isConnected());
    const replies: object[][] = [];
    await new Promise<void>((resolve) => {
      const waiting = new Set(workers.map((w) => w.id));
      const finish = () => {
        clearTimeout(timer);
        pending.delete(id);
        resolve();
      };
      const timer = setTimeout(finish, WORKER_REPLY_MS);
      pending.set(id, (worker, m) => {
        if (!waiting.delete(worker)) return;
        if (m.metrics) replies.push(m.metrics);
        if (waiting.size === 0) finish();
      });
      for (const w of workers) w.send({ type: METRICS_REQUEST, id });
      if (waiting.size === 0) finish();
    });
    const registry = AggregatorRegistry.aggregate(replies);
    return { contentType: registry.contentType, body: await registry.metrics() };
  };
}
