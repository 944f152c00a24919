// Scans as a service: the queue (pushes, the schedule and people add to it; any replica claims
// due requests with a lease and renews it while it scans), the scan of one image (an index is
// fanned out to its children), its report and SBOM, retries with backoff, and what the API, the
// tag listings and the pull check read: an image's status and report, an index's aggregated from
// its children's.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ScanReport, ScanRequest, ScanStore, SeverityCounts } from '../metadata/scan-store.js';
import { parseDigest } from '../oci/digest.js';
import type { ManifestService } from '../registry/manifests.js';
import type { UploadService } from '../registry/uploads.js';
import type { ScanReason } from './schema.js';
import { scannableKind, type ImageScanner } from './scanner.js';
import { SBOM_ARTIFACT_TYPE, pushSbom } from './sbom.js';
import { aggregate, countFindings, emptyCounts } from './verdict.js';

export type VulnerabilityStatus = 'scanned' | 'pending' | 'failed' | 'unscanned';

export interface ImageVulnerabilities {
  status: VulnerabilityStatus;
  /** The report (an index's: aggregated from its children's); null while there is none. */
  report: ScanReport | null;
  /** A scan of it (or of one of an index's children) is queued. */
  queued: boolean;
}

export interface VulnerabilitySummary extends SeverityCounts {
  status: VulnerabilityStatus;
}

export interface ScanSettings {
  /** Push the built-in scanner's SBOM as a referrer of the image. */
  sbom: boolean;
  /** Attempts of a scan before its report records the failure. */
  attempts: number;
  /** The first retry's wait; each next one waits twice as long. */
  backoffMs: number;
  /** Requests one replica scans at once. */
  concurrency: number;
}

export interface ScanLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** How long a claim holds without renewal; renewed every third of it while the scan runs. */
const LEASE_MS = 60_000;

export class ScanService {
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  /** Called after requests are queued here (the composition root runs the scan job soon). */
  onQueued: () => void = () => {};
  /** Called as each scan ends: scanned, retry (failed, tried again later) or failed (the last attempt); metrics. */
  onScanned: (outcome: 'scanned' | 'retry' | 'failed') => void = () => {};

  constructor(
    private readonly d: {
      store: ScanStore;
      scanner: ImageScanner;
      manifests: Pick<ManifestService, 'resolve' | 'body' | 'put'>;
      uploads: Pick<UploadService, 'start' | 'commit' | 'cancel'>;
      now: () => number;
      log: ScanLog;
      settings: ScanSettings;
    },
  ) {}

  get scannerName(): string {
    return this.d.scanner.name;
  }

  /** Queues a scan of an image or index of the repository; null when the manifest is not there, 'artifact' when it is no image. */
  async request(repository: string, digest: string, reason: ScanReason, by: string | null): Promise<'queued' | 'artifact' | null> {
    const m = await this.d.store.manifest(repository, digest);
    if (!m) return null;
    if (!scannableKind(m.mediaType, m.artifactType) || m.subject) return 'artifact';
    await this.d.store.meta.transaction((tx) => this.d.store.queue(tx, [{ repository, digest, reason, requestedBy: by }], this.d.now()));
    this.onQueued();
    return 'queued';
  }

  /** Claims due requests and scans them (the `scan` job); resolves with how many it handled. */
  async runDue(): Promise<number> {
    let handled = 0;
    for (;;) {
      const claimed = await this.d.store.claim(this.d.now(), this.owner, LEASE_MS, this.d.settings.concurrency);
      if (claimed.length === 0) return handled;
      const renew = setInterval(
        () =>
          void this.d.store
            .renew(
              claimed.map((c) => c.id),
              this.owner,
              this.d.now(),
              LEASE_MS,
            )
            .catch(() => {}),
        LEASE_MS / 3,
      );
      renew.unref();
      try {
        await Promise.all(claimed.map((r) => this.process(r)));
      } finally {
        clearInterval(renew);
      }
      handled += claimed.length;
    }
  }

  private async process(req: ScanRequest): Promise<void> {
    const { store } = this.d;
    const m = await store.manifest(req.repository, req.digest);
    const kind = m && !m.subject ? scannableKind(m.mediaType, m.artifactType) : null;
    if (!kind) {
      await store.meta.transaction((tx) => store.finish(tx, req.id, this.owner));
      return;
    }
    if (kind === 'index') {
      // An index has no report of its own: its children are scanned, each as an image.
      const children = (await store.children(req.repository, [req.digest])).get(req.digest) ?? [];
      await store.meta.transaction(async (tx) => {
        await store.queue(
          tx,
          children.map((c) => ({ repository: req.repository, digest: c, reason: req.reason, requestedBy: req.requestedBy })),
          this.d.now(),
        );
        await store.finish(tx, req.id, this.owner);
      });
      return;
    }
    try {
      const row = await this.d.manifests.resolve(req.repository, { digest: parseDigest(req.digest) });
      const manifest = JSON.parse((await this.d.manifests.body(row)).toString('utf8'));
      const started = this.d.now();
      const result = await this.d.scanner.scan({ repository: req.repository, digest: req.digest, mediaType: row.mediaType, size: row.size, manifest });
      if (result.sbom && this.d.settings.sbom && !(await store.sbom(req.repository, req.digest, SBOM_ARTIFACT_TYPE))) {
        await pushSbom(
          this.d,
          req.repository,
          { mediaType: row.mediaType, digest: row.digest, size: row.size },
          result.sbom,
          { actor: `scanner:${this.d.scanner.name}` },
          { 'org.opencontainers.image.created': new Date(started).toISOString(), 'dev.berth.scanner': `${this.d.scanner.name} ${result.scannerVersion}` },
        );
      }
      const report: ScanReport = {
        digest: req.digest,
        status: 'scanned',
        scanner: this.d.scanner.name,
        scannerVersion: result.scannerVersion,
        advisoryVersion: result.advisoryVersion,
        scannedAt: this.d.now(),
        counts: countFindings(result.findings),
        findings: result.findings,
        os: result.os,
        packages: result.packages,
        error: null,
      };
      await store.meta.transaction(async (tx) => {
        await store.saveReport(tx, report);
        await store.finish(tx, req.id, this.owner);
      });
      this.d.log.info({ repository: req.repository, digest: req.digest, counts: report.counts, ms: this.d.now() - started }, 'image scanned');
      this.onScanned('scanned');
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      const attempts = req.attempts + 1;
      if (attempts < this.d.settings.attempts) {
        const wait = this.d.settings.backoffMs * 2 ** (attempts - 1);
        await store.retry(req.id, this.owner, this.d.now() + wait, message);
        this.d.log.warn({ err, repository: req.repository, digest: req.digest, attempts }, 'scan failed; trying again');
        this.onScanned('retry');
        return;
      }
      this.d.log.error({ err, repository: req.repository, digest: req.digest, attempts }, 'scan failed');
      this.onScanned('failed');
      await store.meta.transaction(async (tx) => {
        await store.saveReport(tx, {
          digest: req.digest,
          status: 'failed',
          scanner: this.d.scanner.name,
          scannerVersion: '',
          advisoryVersion: '',
          scannedAt: this.d.now(),
          counts: emptyCounts(),
          findings: [],
          os: null,
          packages: 0,
          error: message,
        });
        await store.finish(tx, req.id, this.owner);
      });
    }
  }

  /**
   * Reloads the scanner's advisory data (the schedule); when its version is new, records it and
   * queues a scan of every image reported with other data. Resolves with the version.
   */
  async refreshAdvisories(): Promise<string> {
    const version = await this.d.scanner.refresh();
    const now = this.d.now();
    const changed = await this.d.store.recordAdvisoryVersion(this.d.scanner.name, version, now);
    // Queued on every pass, not only on a change: a replica that scanned with older data meanwhile is caught up.
    const queued = await this.d.store.queueStale(this.d.scanner.name, version, now);
    if (changed) this.d.log.info({ scanner: this.d.scanner.name, version, rescans: queued }, 'advisory data changed');
    if (queued > 0) this.onQueued();
    return version;
  }

  /** An image's or index's status and report in the repository. */
  async vulnerabilities(repository: string, digest: string, mediaType: string): Promise<ImageVulnerabilities> {
    const [result] = (await this.many(repository, [{ digest, mediaType }], true)).values();
    return result;
  }

  /** Status and counts of each of `images` (tag listings). */
  async summaries(repository: string, images: { digest: string; mediaType: string }[]): Promise<Map<string, VulnerabilitySummary>> {
    const out = new Map<string, VulnerabilitySummary>();
    for (const [digest, v] of await this.many(repository, images, false)) out.set(digest, { status: v.status, ...(v.report?.counts ?? emptyCounts()) });
    return out;
  }

  private async many(repository: string, images: { digest: string; mediaType: string }[], findings: boolean): Promise<Map<string, ImageVulnerabilities>> {
    const { store } = this.d;
    const indexes = images.filter((i) => scannableKind(i.mediaType, null) === 'index').map((i) => i.digest);
    const children = await store.children(repository, indexes);
    const all = [...new Set([...images.map((i) => i.digest), ...[...children.values()].flat()])];
    const [reports, queued] = await Promise.all([findings || indexes.length > 0 ? store.reports(all) : summaryReports(store, all), store.queued(all)]);
    const out = new Map<string, ImageVulnerabilities>();
    for (const { digest } of images) {
      const kids = children.get(digest);
      if (kids) {
        const report = aggregate(
          digest,
          kids.map((c) => reports.get(c) ?? null),
        );
        const isQueued = queued.has(digest) || kids.some((c) => queued.has(c));
        out.set(digest, { status: report ? report.status : isQueued ? 'pending' : 'unscanned', report, queued: isQueued });
      } else {
        const report = reports.get(digest) ?? null;
        out.set(digest, { status: report ? report.status : queued.has(digest) ? 'pending' : 'unscanned', report, queued: queued.has(digest) });
      }
    }
    return out;
  }
}

/** Reports without their findings (counts only), for listings of images. */
async function summaryReports(store: ScanStore, digests: string[]): Promise<Map<string, ScanReport>> {
  const out = new Map<string, ScanReport>();
  for (const [digest, s] of await store.summaries(digests)) {
    out.set(digest, {
      digest,
      status: s.status,
      counts: s.counts,
      findings: [],
      scanner: '',
      scannerVersion: '',
      advisoryVersion: '',
      scannedAt: 0,
      os: null,
      packages: 0,
      error: null,
    });
  }
  return out;
}
