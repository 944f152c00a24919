// The app's metrics as the rest of Berth sees them: a small interface that app.ts wires into the
// features' own hooks. Off by default; then nothing of prom-client is loaded and every call is a
// no-op. On (http.debug.addr + http.debug.prometheus.enabled), metrics-prometheus.ts implements it
// and the debug listener (debug-server.ts) serves it. docs/observability.md lists every family.
import type { FastifyInstance } from 'fastify';
import type { LogEvent } from 'kysely';
import type { BerthConfig } from '../config/index.js';
import type { MetadataDb } from '../metadata/database.js';
import type { StorageDriver } from '../storage/driver.js';

/** How a token request ended (bounded: the label's only values). */
export type TokenOutcome = 'issued' | 'invalid_credentials' | 'throttled' | 'invalid_request' | 'error';
/** The token endpoint's ways in: GET /token (Basic or anonymous) and POST /token's grants. */
export type TokenGrant = 'basic' | 'password' | 'refresh_token' | 'other';
export type LoginFailure = 'invalid_credentials' | 'throttled';

export interface Metrics {
  readonly enabled: boolean;
  /** Request counts, durations, in-flight and bytes for every route of `app`. */
  instrumentHttp(app: FastifyInstance): void;
  /** A StorageDriver that counts and times every call of `driver` (itself when off). */
  meterStorage(driver: StorageDriver): StorageDriver;
  /** Kysely's `log` hook: query counts, durations and errors (undefined when off: Kysely then times nothing). */
  readonly queryLog?: (event: LogEvent) => void;
  /** Scrape-time gauges read from the database: pool, webhook outbox, scan queue (`now`: the app's clock, as the rows'). */
  observeMetadata(meta: MetadataDb, now: () => number): void;
  tokenRequest(grant: TokenGrant, outcome: TokenOutcome): void;
  loginFailed(reason: LoginFailure): void;
  jobRun(name: string, seconds: number, failed: boolean): void;
  gcCollected(r: { manifests: number; blobs: number; bytes: number; links: number }): void;
  sweepRemoved(r: { blobs: number; uploads: number; debris: number; bytes: number; debrisBytes: number }): void;
  /** Workers of a cluster: answer the primary's requests for this registry (its debug listener sums them). */
  joinCluster(): Promise<void>;
  webhookAttempt(outcome: 'delivered' | 'failed' | 'dead'): void;
  mirrorRequest(kind: 'manifest' | 'blob', result: 'hit' | 'miss' | 'stale'): void;
  scanFinished(outcome: 'scanned' | 'retry' | 'failed'): void;
  /** The registry in Prometheus text (a worker's own; the primary aggregates them). */
  render(): Promise<{ contentType: string; body: string }>;
  /** Stops scrape-time collectors. */
  close(): void;
}

const noop = () => {};

/** Metrics off: every hook costs one call of an empty function. */
export const NO_METRICS: Metrics = {
  enabled: false,
  instrumentHttp: noop,
  meterStorage: (driver) => driver,
  observeMetadata: noop,
  tokenRequest: noop,
  loginFailed: noop,
  jobRun: noop,
  gcCollected: noop,
  sweepRemoved: noop,
  webhookAttempt: noop,
  mirrorRequest: noop,
  scanFinished: noop,
  joinCluster: async () => {},
  render: async () => ({ contentType: 'text/plain', body: '' }),
  close: noop,
};

export function metricsEnabled(config: BerthConfig): boolean {
  return config.http.debug.addr !== '' && config.http.debug.prometheus.enabled;
}

/** The configured metrics: prom-client is imported only when they are on. */
export async function createMetrics(config: BerthConfig): Promise<Metrics> {
  if (!metricsEnabled(config)) return NO_METRICS;
  const { PrometheusMetrics } = await import('./metrics-prometheus.js');
  return new PrometheusMetrics(config.http.debug.prometheus.repositories);
}
