// Table types of replication (migration 0014), added to the metadata schema by module
// augmentation so src/metadata/schema.ts stays as is. Timestamps are ms since the epoch (BIGINT).
import type { ColumnType, Generated } from 'kysely';

export type ReplicationDirection = 'push' | 'pull';
export const REPLICATION_DIRECTIONS: readonly ReplicationDirection[] = ['push', 'pull'];
/** What starts a policy's runs: pushes and deletes here (push policies only), a schedule, or only a person. */
export type ReplicationTrigger = 'event' | 'schedule' | 'manual';
export const REPLICATION_TRIGGERS: readonly ReplicationTrigger[] = ['event', 'schedule', 'manual'];
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'partial';
export type TaskKind = 'copy' | 'delete';

type Nullable<T> = ColumnType<T | null, T | null | undefined, T | null>;

export interface ReplicationPoliciesTable {
  id: Generated<number>;
  name: string;
  direction: ReplicationDirection;
  /** Scheme, host and port only ('https://registry.example.com'). */
  remote_url: string;
  remote_username: string | null;
  /** The remote password sealed (src/replication/credentials.ts); never returned. */
  remote_password_sealed: Nullable<string>;
  /** JSON arrays of globs: repositories (full local names) and tags, less the exclusions. */
  repositories: string;
  tags: string;
  exclude_repositories: Generated<string>;
  exclude_tags: Generated<string>;
  /** Remote name = prefix + '/' + local name ('' = the same name). */
  remote_prefix: Generated<string>;
  trigger: ReplicationTrigger;
  interval_ms: number | null;
  replicate_deletes: Generated<number>;
  enabled: Generated<number>;
  created_by: string | null;
  created_at: number;
  updated_at: number;
  next_run_at: Nullable<number>;
  lease_owner: Nullable<string>;
  lease_until: Nullable<number>;
}

export interface ReplicationRunsTable {
  id: Generated<number>;
  policy_id: number;
  /** What started the run: the policy's own trigger, or 'manual'. */
  trigger: ReplicationTrigger;
  started_at: number;
  finished_at: Nullable<number>;
  status: RunStatus;
  copied: Generated<number>;
  skipped: Generated<number>;
  failed: Generated<number>;
  deleted: Generated<number>;
  bytes: Generated<number>;
  error: Nullable<string>;
}

/** A copy or delete a push or delete here queued for an event-triggered push policy. */
export interface ReplicationTasksTable {
  id: Generated<number>;
  policy_id: number;
  repository: string;
  /** A tag or a digest; '' for a whole repository. */
  reference: string;
  digest: Nullable<string>;
  kind: TaskKind;
  attempts: Generated<number>;
  created_at: number;
  next_attempt_at: number;
  lease_until: Nullable<number>;
  last_error: Nullable<string>;
}

declare module '../metadata/schema.js' {
  interface Database {
    replication_policies: ReplicationPoliciesTable;
    replication_runs: ReplicationRunsTable;
    replication_tasks: ReplicationTasksTable;
  }
}
