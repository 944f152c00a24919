// What a report means, without I/O: counting findings by severity, an index's report from its
// children's, and a vulnerability policy's decision about one report (which findings at or above
// its severity count once the allow-list is applied). The pull check and the API both use these.
import type { Finding, ScanReport, SeverityCounts, VulnerabilityPolicy } from '../metadata/scan-store.js';
import { SEVERITIES, type Severity } from './schema.js';

const RANK: Record<Severity, number> = { unknown: 0, low: 1, medium: 2, high: 3, critical: 4 };

export function atOrAbove(s: Severity, threshold: Severity): boolean {
  return RANK[s] >= RANK[threshold];
}

export function emptyCounts(): SeverityCounts {
  return { critical: 0, high: 0, medium: 0, low: 0, unknown: 0 };
}

export function countFindings(findings: readonly Finding[]): SeverityCounts {
  const c = emptyCounts();
  for (const f of findings) c[f.severity]++;
  return c;
}

/** Highest severity first, then by id and package. */
export function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort(
    (a, b) => RANK[b.severity] - RANK[a.severity] || a.id.localeCompare(b.id) || a.package.localeCompare(b.package) || a.installed.localeCompare(b.installed),
  );
}

const findingKey = (f: Finding) => `${f.id}\u0000${f.ecosystem}\u0000${f.package}\u0000${f.installed}`;

/**
 * An index's report: the union of its children's findings (one per advisory and installed
 * package), 'scanned' only when every child is; 'failed' when one failed; null when a child has
 * no report yet (the index is then pending or unscanned).
 */
export function aggregate(digest: string, children: (ScanReport | null)[]): ScanReport | null {
  if (children.length === 0 || children.some((c) => c === null)) return null;
  const reports = children as ScanReport[];
  const seen = new Map<string, Finding>();
  for (const r of reports) for (const f of r.findings) if (!seen.has(findingKey(f))) seen.set(findingKey(f), f);
  const findings = sortFindings([...seen.values()]);
  const failed = reports.find((r) => r.status === 'failed');
  const latest = reports.reduce((a, b) => (b.scannedAt > a.scannedAt ? b : a));
  return {
    digest,
    status: failed ? 'failed' : 'scanned',
    scanner: latest.scanner,
    scannerVersion: latest.scannerVersion,
    advisoryVersion: latest.advisoryVersion,
    scannedAt: latest.scannedAt,
    counts: countFindings(findings),
    findings,
    os: [...new Set(reports.map((r) => r.os).filter((x): x is string => x !== null))].join(', ') || null,
    packages: reports.reduce((n, r) => n + r.packages, 0),
    error: failed?.error ?? null,
  };
}

/** A finding the allow-list names (by its id or any alias, case-insensitive). */
export function allowListed(f: Finding, allowlist: readonly string[]): boolean {
  if (allowlist.length === 0) return false;
  const ids = new Set(allowlist.map((x) => x.toUpperCase()));
  return ids.has(f.id.toUpperCase()) || f.aliases.some((a) => ids.has(a.toUpperCase()));
}

/** The findings that count against the policy: at or above its severity and not allow-listed. */
export function violations(policy: Pick<VulnerabilityPolicy, 'severity' | 'allowlist'>, findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => atOrAbove(f.severity, policy.severity) && !allowListed(f, policy.allowlist));
}

const TITLE: Record<Severity, string> = { critical: 'Critical', high: 'High', medium: 'Medium', low: 'Low', unknown: 'Unknown' };

export function policyName(p: Pick<VulnerabilityPolicy, 'scope'>): string {
  return p.scope === '*' ? 'the global vulnerability policy' : `the vulnerability policy of namespace ${p.scope}`;
}

/** The DENIED message for an image with violations: the policy, the severity and the count, and the first ids. */
export function vulnerabilityRefusal(policy: Pick<VulnerabilityPolicy, 'scope' | 'severity'>, found: readonly Finding[]): string {
  const ids = [...new Set(found.map((f) => f.id))];
  const shown = ids.slice(0, 5).join(', ') + (ids.length > 5 ? ', …' : '');
  const n = found.length;
  return `refused by ${policyName(policy)}: ${n} ${n === 1 ? 'vulnerability' : 'vulnerabilities'} of severity ${TITLE[policy.severity]} or higher (${shown}); allow-list them or fix the image`;
}

export { SEVERITIES };
