// Vulnerability scanning's rows (src/scan/): the queue of scans (one row per repository and
// image; any replica claims due rows with a lease, a conditional UPDATE, so two never scan one at
// once), the reports by manifest digest, namespace vulnerability policies, and the advisory data
// version each scanner last loaded. No policy decisions here, only SQL.
import type { ExpressionBuilder, Selectable } from 'kysely';
import type { MetadataDb, Tx } from './database.js';
import type { Database } from './schema.js';
import type { PolicyMode, ScanReason, ScanReportsTable, ScanRequestsTable, Severity, UnscannedRule, VulnerabilityPoliciesTable } from '../scan/schema.js';

/** One vulnerability found in one package of an image: as the analyser and the adapters report it. */
export type { Finding } from '../scan/analyze/types.js';
import type { Finding } from '../scan/analyze/types.js';

export type SeverityCounts = Record<Severity, number>;

export interface ScanReport {
  digest: string;
  status: 'scanned' | 'failed';
  scanner: string;
  scannerVersion: string;
  advisoryVersion: string;
  scannedAt: number;
  counts: SeverityCounts;
  findings: Finding[];
  os: string | null;
  packages: number;
  error: string | null;
}

export interface ScanRequest {
  id: number;
  repository: string;
  digest: string;
  reason: ScanReason;
  requestedBy: string | null;
  createdAt: number;
  attempts: number;
  lastError: string | null;
}

export interface NewScanRequest {
  repository: string;
  digest: string;
  reason: ScanReason;
  requestedBy?: string | null;
}

export interface VulnerabilityPolicy {
  /** The namespace, or '*' for the global policy from the configuration. */
  scope: string;
  severity: Severity;
  mode: PolicyMode;
  allowlist: string[];
  unscanned: UnscannedRule;
  updatedBy: string | null;
  updatedAt: number | null;
}

export type PolicyFields = Pick<VulnerabilityPolicy, 'severity' | 'mode' | 'allowlist' | 'unscanned'>;

const num = (v: unknown) => Number(v);

function reportOf(r: Selectable<ScanReportsTable>): ScanReport {
  return {
    digest: r.digest,
    status: r.status,
    scanner: r.scanner,
    scannerVersion: r.scanner_version,
    advisoryVersion: r.advisory_version,
    scannedAt: num(r.scanned_at),
    counts: { critical: num(r.critical), high: num(r.high), medium: num(r.medium), low: num(r.low), unknown: num(r.unknown) },
    findings: JSON.parse(r.findings) as Finding[],
    os: r.os,
    packages: num(r.packages),
    error: r.error,
  };
}

function requestOf(r: Selectable<ScanRequestsTable>): ScanRequest {
  return {
    id: num(r.id),
    repository: r.repository,
    digest: r.digest,
    reason: r.reason,
    requestedBy: r.requested_by,
    createdAt: num(r.created_at),
    attempts: num(r.attempts),
    lastError: r.last_error,
  };
}

function vulnerabilityPolicyOf(r: Selectable<VulnerabilityPoliciesTable>): VulnerabilityPolicy {
  return {
    scope: r.namespace,
    severity: r.severity,
    mode: r.mode,
    allowlist: JSON.parse(r.allowlist) as string[],
    unscanned: r.unscanned,
    updatedBy: r.updated_by,
    updatedAt: num(r.updated_at),
  };
}

export class ScanStore {
  constructor(readonly meta: MetadataDb) {}

  private get db() {
    return this.meta.db;
  }

  // ---- the queue ----

  /** Queues scans; an image already queued for the repository stays queued once (its due time kept). */
  async queue(tx: Tx, requests: NewScanRequest[], now: number): Promise<void> {
    for (const r of requests) {
      await tx
        .insertInto('scan_requests')
        .values({ repository: r.repository, digest: r.digest, reason: r.reason, requested_by: r.requestedBy ?? null, created_at: now, next_attempt_at: now })
        .onConflict((oc) => oc.columns(['repository', 'digest']).doNothing())
        .execute();
    }
  }

  /** Whether a scan of the digest is queued (in any repository). */
  async queued(digests: string[], tx: Tx = this.db): Promise<Set<string>> {
    if (digests.length === 0) return new Set();
    const rows = await tx.selectFrom('scan_requests').select('digest').distinct().where('digest', 'in', digests).execute();
    return new Set(rows.map((r) => r.digest));
  }

  async requests(limit = 100): Promise<ScanRequest[]> {
    const rows = await this.db.selectFrom('scan_requests').selectAll().orderBy('id').limit(limit).execute();
    return rows.map(requestOf);
  }

  /**
   * Claims up to `limit` due requests no replica holds, in one conditional UPDATE (of two replicas
   * only one gets a row), oldest first.
   */
  async claim(now: number, owner: string, leaseMs: number, limit: number): Promise<ScanRequest[]> {
    const due = (eb: ExpressionBuilder<Database, 'scan_requests'>) =>
      eb.and([eb('next_attempt_at', '<=', now), eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)])]);
    // A read first: most passes find nothing, and then no replica takes a write lock.
    const candidates = await this.db.selectFrom('scan_requests').select('id').where(due).orderBy('next_attempt_at').orderBy('id').limit(limit).execute();
    if (candidates.length === 0) return [];
    await this.db
      .updateTable('scan_requests')
      .set({ lease_owner: owner, lease_until: now + leaseMs })
      .where(
        'id',
        'in',
        candidates.map((c) => c.id),
      )
      .where(due)
      .execute();
    const rows = await this.db.selectFrom('scan_requests').selectAll().where('lease_owner', '=', owner).where('lease_until', '>=', now).orderBy('id').execute();
    return rows.map(requestOf);
  }

  /** Extends claims still held by `owner`; the ids whose claim holds. */
  async renew(ids: number[], owner: string, now: number, leaseMs: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .updateTable('scan_requests')
      .set({ lease_until: now + leaseMs })
      .where('id', 'in', ids)
      .where('lease_owner', '=', owner)
      .execute();
  }

  /** Ends a request (done, or nothing left to scan); false when another replica took it over. */
  async finish(tx: Tx, id: number, owner: string): Promise<boolean> {
    const res = await tx.deleteFrom('scan_requests').where('id', '=', id).where('lease_owner', '=', owner).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  /** A failed attempt: tried again at `nextAttemptAt`, claim released. */
  async retry(id: number, owner: string, nextAttemptAt: number, error: string): Promise<void> {
    await this.db
      .updateTable('scan_requests')
      .set((eb) => ({
        attempts: eb('attempts', '+', 1),
        next_attempt_at: nextAttemptAt,
        last_error: error.slice(0, 2000),
        lease_owner: null,
        lease_until: null,
      }))
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .execute();
  }

  // ---- reports ----

  async saveReport(tx: Tx, r: ScanReport): Promise<void> {
    const row = {
      status: r.status,
      scanner: r.scanner,
      scanner_version: r.scannerVersion,
      advisory_version: r.advisoryVersion,
      scanned_at: r.scannedAt,
      ...r.counts,
      findings: JSON.stringify(r.findings),
      os: r.os,
      packages: r.packages,
      error: r.error === null ? null : r.error.slice(0, 2000),
    };
    await tx
      .insertInto('scan_reports')
      .values({ digest: r.digest, ...row })
      .onConflict((oc) => oc.column('digest').doUpdateSet(row))
      .execute();
  }

  async report(digest: string, tx: Tx = this.db): Promise<ScanReport | null> {
    const row = await tx.selectFrom('scan_reports').selectAll().where('digest', '=', digest).executeTakeFirst();
    return row ? reportOf(row) : null;
  }

  async reports(digests: string[], tx: Tx = this.db): Promise<Map<string, ScanReport>> {
    if (digests.length === 0) return new Map();
    const rows = await tx.selectFrom('scan_reports').selectAll().where('digest', 'in', digests).execute();
    return new Map(rows.map((r) => [r.digest, reportOf(r)]));
  }

  /** Counts and status only (tag listings): no findings parsed. */
  async summaries(digests: string[]): Promise<Map<string, { status: 'scanned' | 'failed'; counts: SeverityCounts }>> {
    if (digests.length === 0) return new Map();
    const rows = await this.db
      .selectFrom('scan_reports')
      .select(['digest', 'status', 'critical', 'high', 'medium', 'low', 'unknown'])
      .where('digest', 'in', digests)
      .execute();
    return new Map(
      rows.map((r) => [
        r.digest,
        { status: r.status, counts: { critical: num(r.critical), high: num(r.high), medium: num(r.medium), low: num(r.low), unknown: num(r.unknown) } },
      ]),
    );
  }

  /** The child manifests of each of `digests` in the repository (empty for images). */
  async children(repository: string, digests: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (digests.length === 0) return out;
    const rows = await this.db
      .selectFrom('manifest_references as mr')
      .innerJoin('manifests as m', 'm.id', 'mr.manifest_id')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['m.digest as parent', 'mr.digest as child'])
      .where('r.name', '=', repository)
      .where('mr.kind', '=', 'manifest')
      .where('m.digest', 'in', digests)
      .execute();
    for (const r of rows) out.set(r.parent, [...(out.get(r.parent) ?? []), r.child]);
    return out;
  }

  /** The manifest's recorded facts in the repository: media type, artifact type, subject; null when it is not there. */
  async manifest(repository: string, digest: string): Promise<{ mediaType: string; artifactType: string | null; subject: string | null } | null> {
    const row = await this.db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['m.media_type', 'm.artifact_type', 'm.subject_digest'])
      .where('r.name', '=', repository)
      .where('m.digest', '=', digest)
      .executeTakeFirst();
    return row ? { mediaType: row.media_type, artifactType: row.artifact_type, subject: row.subject_digest } : null;
  }

  /** The newest SBOM referrer of the image in the repository (its manifest digest), or null. */
  async sbom(repository: string, digest: string, artifactType: string): Promise<string | null> {
    const row = await this.db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select('m.digest')
      .where('r.name', '=', repository)
      .where('m.subject_digest', '=', digest)
      .where('m.artifact_type', '=', artifactType)
      .orderBy('m.id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.digest ?? null;
  }

  /**
   * Queues a scan of every reported image of `scanner` made with other advisory data (or by another
   * scanner), in a repository that holds it; reports of digests no repository holds any more go.
   */
  async queueStale(scanner: string, advisoryVersion: string, now: number): Promise<number> {
    return this.meta.transaction(async (tx) => {
      await tx
        .deleteFrom('scan_reports')
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('manifests as m').select('m.id').whereRef('m.digest', '=', 'scan_reports.digest'))))
        .execute();
      const stale = await tx
        .selectFrom('scan_reports as s')
        .innerJoin('manifests as m', 'm.digest', 's.digest')
        .innerJoin('repositories as r', 'r.id', 'm.repository_id')
        .select(['s.digest', (eb) => eb.fn.min('r.name').as('repository')])
        .where((eb) => eb.or([eb('s.advisory_version', '!=', advisoryVersion), eb('s.scanner', '!=', scanner)]))
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('scan_requests as q').select('q.id').whereRef('q.digest', '=', 's.digest'))))
        .groupBy('s.digest')
        .execute();
      await this.queue(
        tx,
        stale.map((s) => ({ repository: String(s.repository), digest: s.digest, reason: 'advisories' as const })),
        now,
      );
      return stale.length;
    });
  }

  // ---- advisory data versions ----

  /** Records the version a scanner loaded; true when it differs from the one recorded before. */
  async recordAdvisoryVersion(scanner: string, version: string, now: number): Promise<boolean> {
    return this.meta.transaction(async (tx) => {
      const row = await tx.selectFrom('scan_state').select('advisory_version').where('scanner', '=', scanner).executeTakeFirst();
      if (row?.advisory_version === version) return false;
      if (row) await tx.updateTable('scan_state').set({ advisory_version: version, changed_at: now }).where('scanner', '=', scanner).execute();
      else await tx.insertInto('scan_state').values({ scanner, advisory_version: version, changed_at: now }).execute();
      return true;
    });
  }

  async advisoryVersion(scanner: string): Promise<string | null> {
    const row = await this.db.selectFrom('scan_state').select('advisory_version').where('scanner', '=', scanner).executeTakeFirst();
    return row?.advisory_version ?? null;
  }

  // ---- policies ----

  async policy(namespace: string, tx: Tx = this.db): Promise<VulnerabilityPolicy | null> {
    const row = await tx.selectFrom('vulnerability_policies').selectAll().where('namespace', '=', namespace).executeTakeFirst();
    return row ? vulnerabilityPolicyOf(row) : null;
  }

  async setPolicy(tx: Tx, namespace: string, f: PolicyFields, by: string | null, now: number): Promise<void> {
    const row = { severity: f.severity, mode: f.mode, allowlist: JSON.stringify(f.allowlist), unscanned: f.unscanned, updated_by: by, updated_at: now };
    await tx
      .insertInto('vulnerability_policies')
      .values({ namespace, ...row })
      .onConflict((oc) => oc.column('namespace').doUpdateSet(row))
      .execute();
  }

  async deletePolicy(tx: Tx, namespace: string): Promise<boolean> {
    const res = await tx.deleteFrom('vulnerability_policies').where('namespace', '=', namespace).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}
