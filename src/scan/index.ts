// Scanning's parts as the composition root builds them (scanning.enabled): the store, the scanner
// (built-in, or a Harbor adapter), the service, the push sink, the pull check, the namespace
// policies, and the background jobs: `scan` (claims queued scans) and `scan-advisories` (reloads
// the advisory data; a new version re-queues what was scanned with the old one).
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { BerthConfig } from '../config/index.js';
import type { Job } from '../jobs/runner.js';
import type { MetadataDb } from '../metadata/database.js';
import { ScanStore } from '../metadata/scan-store.js';
import { systemResolver, type OutboundGuard, type Resolver } from '../net/outbound-connect.js';
import { OutboundPolicy } from '../net/outbound.js';
import type { ManifestService } from '../registry/manifests.js';
import type { UploadService } from '../registry/uploads.js';
import { AdvisorySource } from './advisories.js';
import { BuiltinScanner } from './builtin-scanner.js';
import { HarborAdapterScanner } from './harbor-adapter.js';
import { VulnerabilityPolicies } from './policies.js';
import { SCANNER_ACTOR_PREFIX, VulnerabilityPullCheck } from './pull-check.js';
import type { ImageScanner } from './scanner.js';
import { ScanService, type ScanLog } from './service.js';
import { ScanSink } from './sink.js';
import './schema.js';

export interface Scanning {
  store: ScanStore;
  service: ScanService;
  policies: VulnerabilityPolicies;
  pullCheck: VulnerabilityPullCheck;
  /** The subject of the tokens the configured adapter pulls with (`scanner:NAME`); null with the built-in scanner. */
  scannerActor: string | null;
  /** Queues scans of pushed images in the push's transaction (scanning.onpush), else null. */
  sink: ScanSink | null;
  jobs: Job[];
}

export interface ScanningDeps {
  manifests: Pick<ManifestService, 'resolve' | 'body' | 'put'>;
  uploads: Pick<UploadService, 'start' | 'commit' | 'cancel'>;
  readBlob: (digest: string) => Promise<Readable>;
  /** Where scanner adapters pull images from when their registryurl is not set. */
  registryUrl: () => string;
  /** A short-lived Authorization that pulls only the repository (token mode), or null. */
  pullAuthorization: (repository: string, scanner: string) => Promise<string | null>;
  resolve?: Resolver;
  now: () => number;
  log: ScanLog;
}

export function createScanning(config: BerthConfig, meta: MetadataDb, deps: ScanningDeps): Scanning {
  const s = config.scanning;
  const store = new ScanStore(meta);
  const guard: OutboundGuard = { policy: new OutboundPolicy(s.allow), resolve: deps.resolve ?? systemResolver };
  let scanner: ImageScanner;
  if (s.scanner === 'builtin') {
    const advisories = new AdvisorySource({ directory: s.advisories.directory, url: s.advisories.url, timeoutMs: s.advisories.timeout }, guard);
    scanner = new BuiltinScanner({ advisories, readBlob: deps.readBlob, version: berthVersion(), maxFileBytes: s.maxfilebytes });
  } else {
    const name = s.scanner;
    const adapter = s.adapters[name];
    scanner = new HarborAdapterScanner(name, adapter, {
      guard,
      registryUrl: () => adapter.registryurl || deps.registryUrl(),
      pullAuthorization: (repository) => deps.pullAuthorization(repository, name),
    });
  }
  const service = new ScanService({
    store,
    scanner,
    manifests: deps.manifests,
    uploads: deps.uploads,
    now: deps.now,
    log: deps.log,
    settings: { sbom: s.sbom, attempts: s.attempts, backoffMs: s.backoff, concurrency: s.concurrency },
  });
  const policies = new VulnerabilityPolicies(store, { ...s.policy, allowlist: [...s.policy.allowlist] });
  // The scan job waits for the first load of the advisory data: a scan before it would report nothing found.
  let loaded: Promise<unknown> | null = null;
  const refresh = () => {
    const run = service.refreshAdvisories();
    loaded ??= run.catch(() => {});
    return run;
  };
  return {
    store,
    service,
    policies,
    pullCheck: new VulnerabilityPullCheck({
      policies,
      store,
      service,
      log: deps.log,
    }),
    scannerActor: s.scanner === 'builtin' ? null : `${SCANNER_ACTOR_PREFIX}${s.scanner}`,
    sink: s.onpush ? new ScanSink(store) : null,
    jobs: [
      {
        name: 'scan',
        every: s.interval,
        run: async () => {
          await (loaded ?? refresh());
          await service.runDue();
        },
      },
      { name: 'scan-advisories', every: s.advisories.reload, run: refresh },
    ],
  };
}

/** Berth's version (package.json sits two levels above both src/scan/ and dist/scan/). */
function berthVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
