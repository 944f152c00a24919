// Table types of vulnerability scanning (migration 0016), added to the metadata schema by module
// augmentation so src/metadata/schema.ts stays as is. Timestamps are ms since the epoch (BIGINT).
import type { ColumnType, Generated } from 'kysely';
import type { Severity } from './analyze/types.js';

type Nullable<T> = ColumnType<T | null, T | null | undefined, T | null>;

export type { Severity };

/** Highest first. */
export const SEVERITIES: readonly Severity[] = ['critical', 'high', 'medium', 'low', 'unknown'];
export type ScanReason = 'push' | 'schedule' | 'manual' | 'advisories' | 'pull';
export type PolicyMode = 'audit' | 'enforce';
export type UnscannedRule = 'allow' | 'deny';

export interface ScanRequestsTable {
  id: Generated<number>;
  repository: string;
  digest: string;
  reason: ScanReason;
  requested_by: Nullable<string>;
  created_at: number;
  next_attempt_at: number;
  attempts: Generated<number>;
  lease_owner: Nullable<string>;
  lease_until: Nullable<number>;
  last_error: Nullable<string>;
}

export interface ScanReportsTable {
  digest: string;
  status: 'scanned' | 'failed';
  scanner: string;
  scanner_version: string;
  advisory_version: string;
  scanned_at: number;
  critical: number;
  high: number;
  medium: number;
  low: number;
  unknown: number;
  findings: string;
  os: Nullable<string>;
  packages: number;
  error: Nullable<string>;
}

export interface VulnerabilityPoliciesTable {
  namespace: string;
  severity: Severity;
  mode: PolicyMode;
  allowlist: string;
  unscanned: UnscannedRule;
  updated_by: Nullable<string>;
  updated_at: number;
}

export interface ScanStateTable {
  scanner: string;
  advisory_version: string;
  changed_at: number;
}

declare module '../metadata/schema.js' {
  interface Database {
    scan_requests: ScanRequestsTable;
    scan_reports: ScanReportsTable;
    vulnerability_policies: VulnerabilityPoliciesTable;
    scan_state: ScanStateTable;
  }
}
