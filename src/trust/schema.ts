// Table types of signature trust (migration 0015), added to the metadata schema by module
// augmentation so src/metadata/schema.ts stays as is. Timestamps are ms since the epoch (BIGINT).
import type { ColumnType, Generated } from 'kysely';

type Nullable<T> = ColumnType<T | null, T | null | undefined, T | null>;

export type ScopeKind = 'global' | 'namespace' | 'repository';
export type TrustMode = 'audit' | 'enforce';
export type VerdictStatus = 'verified' | 'untrusted' | 'invalid';
export type PendingKind = 'signature' | 'scope';

export interface TrustPoliciesTable {
  id: Generated<number>;
  scope_kind: ScopeKind;
  /** '' for the global policy, else the namespace or the repository's full name. */
  scope: string;
  mode: TrustMode;
  /** JSON of the policy's trust material (src/trust/policies.ts TrustPolicyMaterial). */
  material: string;
  version: string;
  created_by: string | null;
  created_at: number;
  updated_at: number;
}

export interface TrustVerdictsTable {
  subject_digest: string;
  signature_digest: string;
  policy_version: string;
  format: string;
  status: VerdictStatus;
  signer: string | null;
  reason: string;
  verified_at: number;
}

export interface TrustPendingTable {
  id: Generated<number>;
  kind: PendingKind;
  key: string;
  attempts: Generated<number>;
  created_at: number;
  next_attempt_at: number;
  lease_until: Nullable<number>;
  last_error: Nullable<string>;
}

declare module '../metadata/schema.js' {
  interface Database {
    trust_policies: TrustPoliciesTable;
    trust_verdicts: TrustVerdictsTable;
    trust_pending: TrustPendingTable;
  }
}
