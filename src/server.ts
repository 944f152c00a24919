// Runs the registry: one process, or several workers sharing the port (node:cluster).
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import type { MetadataDb } from './metadata/database.js';
import { relayRevocations } from './auth/revocation-relay.js';
import { databaseWarning, describeAuth, describeDatabase, describeMirror, describeStorage, describeUi } from './config/describe.js';
import type { BerthConfig } from './config/index.js';
import { describeRules } from './net/access-rules.js';
import { startDebugServer } from './observability/debug-server.js';
import { createMetrics, metricsEnabled, type Metrics } from './observability/metrics.js';
import { describeTracing, tracingSettings } from './observability/tracing-config.js';

/** Set by the primary for the first worker it forks: that one migrates and releases stale upload claims. */
const FIRST_WORKER = 'BERTH_CLUSTER_FIRST_WORKER';

export async function serve(config: BerthConfig): Promise<void> {
  // OTEL_* (docs/observability.md#traces) are checked in every process: a bad value stops the start before a fork.
  const traces = tracingSettings(process.env);
  const workers = config.http.workers === 0 ? availableParallelism() : config.http.workers;
  if (workers > 1 && cluster.isPrimary) {
    // The primary only forks (and serves the debug listener): it loads no database or HTTP code. The first
    // worker migrates the database; the others start once it listens, so no two migrate at once.
    // The debug listener sums the workers' metrics (prom-client loads only when they are on).
    const render = metricsEnabled(config) ? (await import('./observability/metrics-prometheus.js')).clusterMetrics() : null;
    const debug = await startDebugServer(config, render);
    relayRevocations();
    const first = cluster.fork({ [FIRST_WORKER]: '1' });
    const firstFate = await new Promise<number | null>((resolve) => {
      first.once('listening', () => resolve(null));
      first.once('exit', (code) => resolve(code || 1));
    });
    if (firstFate !== null) {
      // It could not start (it said why on stderr): a configuration or database problem every worker would hit.
      await debug?.close();
      process.exit(firstFate);
    }
    for (let i = 1; i < workers; i++) cluster.fork();
    cluster.on('exit', (worker, code, signal) => {
      if (shuttingDown) return;
      console.error(`berth: worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
      cluster.fork();
    });
    let shuttingDown = false;
    const stop = () => {
      shuttingDown = true;
      void debug?.close();
      for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    return;
  }

  // Each worker exports its own spans; until the app's logger exists, the SDK's warnings go to stderr.
  let tracingWarn = (msg: string): void => {
    process.stderr.write(`berth: tracing: ${msg}\n`);
  };
  const { startTracing } = await import('./observability/tracing.js');
  const tracing = await startTracing(traces, { version: packageVersion(), warn: (msg) => tracingWarn(msg) });
  // Loaded here, not at the top: a cluster primary only forks and needs none of it.
  const { createApp } = await import('./app.js');
  const metrics = await createMetrics(config);
  const meta = await prepareMetadata(config, cluster.isPrimary || process.env[FIRST_WORKER] === '1', metrics);
  const app = await createApp(config, { meta, metrics });
  tracingWarn = (msg) => {
    app.log.warn({ tracing: msg }, `tracing: ${msg}`);
  };
  if (traces) app.log.info({ tracing: describeTracing(traces) }, `tracing: ${describeTracing(traces)}`);
  // A worker's metrics go to the primary's debug listener; a single process serves its own.
  if (cluster.isWorker) await metrics.joinCluster();
  const debug = cluster.isWorker ? null : await startDebugServer(config, metrics.enabled ? () => metrics.render() : null);
  const { host, port } = config.http.listen;
  await app.listen({ host, port });
  // The UI's code is loaded only where it is served (token auth with the built-in issuer).
  const uiBuilt = config.auth?.token?.builtin ? (await import('./ui/routes.js')).uiClientBuilt() : false;
  const summary = startupSummary(config, app.server.address() as AddressInfo, uiBuilt);
  app.log.info(
    summary,
    `Berth serving ${summary.address} on ${summary.runtime}; auth: ${summary.auth}; storage: ${summary.storage}; database: ${summary.database}; UI: ${summary.ui}${summary.mirror ? `; mirror: ${summary.mirror}` : ''}${summary.network ? `; network rules: ${summary.network}` : ''}`,
  );
  const warning = databaseWarning(config);
  if (warning) app.log.warn(warning);
  const stop = async () => {
    // Let in-flight requests (a long upload) finish for http.draintimeout, then close what is left:
    // an upload cut here keeps its session, and the client resumes it on another replica.
    setTimeout(() => app.server.closeAllConnections(), config.http.draintimeout).unref();
    await app.close();
    await debug?.close();
    await meta.close();
    // The spans of the last requests and jobs, exported before the process ends.
    await tracing.shutdown();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/** What this server runs with, for its start-up log line: no secrets (config/describe.ts). */
export function startupSummary(config: BerthConfig, bound: AddressInfo, uiBuilt: boolean) {
  const scheme = config.http.tls ? 'https' : 'http';
  const hostPart = (h: string) => (h.includes(':') ? `[${h}]` : h);
  const address = `${scheme}://${hostPart(bound.address)}:${bound.port}`;
  // A wildcard address is not one to browse to; the configured external URL is, when there is one.
  const local = bound.address === '0.0.0.0' || bound.address === '::' ? `${scheme}://localhost:${bound.port}` : address;
  return {
    address,
    runtime: `Node.js ${process.version}`,
    auth: describeAuth(config),
    storage: describeStorage(config),
    database: describeDatabase(config),
    ui: describeUi(config, config.http.host || local, uiBuilt),
    ...(describeMirror(config) ? { mirror: describeMirror(config) } : {}),
    ...(describeRules(config.network) ? { network: describeRules(config.network) } : {}),
  };
}

/**
 * Opens (and migrates) the metadata database. On SQLite, a starting registry owns the database alone, so
 * upload claims still held were held by processes that died (kill -9): released, so clients resume at once.
 * On PostgreSQL other replicas may be writing; their claims expire by themselves.
 */
async function prepareMetadata(config: BerthConfig, starting: boolean, metrics?: Metrics): Promise<MetadataDb> {
  const [{ inContext }, { openMetadata }, { tracedPlugins }, { RegistryStore }] = await Promise.all([
    import('./cli/errors.js'),
    import('./metadata/open.js'),
    import('./metadata/traced-plugin.js'),
    import('./metadata/registry-store.js'),
  ]);
  const meta = await inContext(`metadata database ${describeDatabase(config)}`, () =>
    openMetadata(config, { log: metrics?.queryLog, plugins: tracedPlugins(config) }),
  );
  if (starting && !config.metadata.postgres) await new RegistryStore(meta).releaseAllUploadClaims();
  return meta;
}

function packageVersion(): string {
  try {
    // package.json sits one level above both src/ (tsx) and dist/ (built).
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
