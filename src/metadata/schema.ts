// Table types for Kysely. Timestamps are milliseconds since the epoch, stored
// as BIGINT so the same schema runs on SQLite and PostgreSQL.
import type { ColumnType, Generated } from 'kysely';

/** The two engines the metadata runs on (src/metadata/database.ts, postgres.ts). */
export type Dialect = 'sqlite' | 'postgres';

export interface RepositoriesTable {
  id: Generated<number>;
  name: string;
  /** First path component: the user or organisation that owns the repository. */
  namespace: Generated<string>;
  visibility: Generated<'public' | 'private'>;
  created_at: number;
}

export type BlobState = 'live' | 'deleting';

export interface BlobsTable {
  digest: string;
  size: number;
  created_at: number;
  /** 'live': readers see it; 'deleting': garbage collection is removing its bytes (src/gc/). */
  state: ColumnType<BlobState, BlobState | undefined, BlobState>;
  deleting_since: ColumnType<number | null, number | null | undefined, number | null>;
}

/** A writer putting a blob's bytes into storage: the collector leaves the digest alone until `until`. */
export interface GcBlobProtectionsTable {
  token: string;
  digest: string;
  until: number;
}

/**
 * A blob being fetched from an upstream registry (mirror/blob-fetch.ts): the download that owns the claim
 * until `lease_until`, the upload session its bytes go into, the expected size once the upstream said it,
 * and how many bytes other replicas may read so far.
 */
export interface MirrorFetchesTable {
  digest: string;
  owner: string;
  lease_until: number;
  upload_id: string;
  size: number | null;
  published: ColumnType<number, number | undefined, number>;
  started_at: number;
}

/** Which blobs a repository may read: uploaded, mounted, or referenced by its manifests. */
export interface RepositoryBlobsTable {
  repository_id: number;
  digest: string;
  created_at: number;
}

export interface ManifestsTable {
  id: Generated<number>;
  repository_id: number;
  digest: string;
  media_type: string;
  size: number;
  artifact_type: string | null;
  subject_digest: string | null;
  /** JSON of the manifest's annotations, for the referrers API. */
  annotations: string | null;
  created_at: number;
  /** When the manifest lost its last tag (or was pushed without one); null while tagged. */
  untagged_at: ColumnType<number | null, number | null | undefined, number | null>;
  /** When the manifest was last pulled (GET by tag or digest), written by the index's batched flush; null = never. */
  last_pulled_at: ColumnType<number | null, number | null | undefined, number | null>;
  /** When the manifest was fetched from an upstream (the pull-through cache, src/mirror/); null = pushed here. */
  mirrored_at: ColumnType<number | null, number | null | undefined, number | null>;
}

/** Blobs and child manifests each manifest references (for validation history and GC). */
export interface ManifestReferencesTable {
  manifest_id: number;
  digest: string;
  /** 'blob' or 'manifest'. */
  kind: string;
}

export interface TagsTable {
  repository_id: number;
  name: string;
  manifest_id: number;
  updated_at: number;
  /** A mirrored tag: when the upstream last confirmed its digest (null = never; src/mirror/). */
  validated_at: ColumnType<number | null, number | null | undefined, number | null>;
}

/** What happened to a tag: pushed (created or moved), deleted, or restored to an earlier digest through the API. */
export type TagAction = 'push' | 'delete' | 'restore';

export interface TagHistoryTable {
  id: Generated<number>;
  repository_id: number;
  name: string;
  /** What the tag points at after the change; null when the tag was deleted. */
  digest: string | null;
  /** What it pointed at before; null when the change created the tag. */
  previous_digest: ColumnType<string | null, string | null | undefined, string | null>;
  /** The account that made the change (null when anonymous or unknown). */
  actor: ColumnType<string | null, string | null | undefined, string | null>;
  action: ColumnType<TagAction, TagAction | undefined, TagAction>;
  at: number;
}

/**
 * A namespace's rule that makes tags immutable (src/registry/tag-rules.ts): tags matching `tags` in
 * repositories matching `repositories` (globs below the namespace), less the exclusions (JSON arrays of globs).
 */
export interface ImmutableTagRulesTable {
  id: Generated<number>;
  namespace: string;
  name: string;
  repositories: string;
  tags: string;
  exclude_repositories: string;
  exclude_tags: string;
  created_by: string | null;
  created_at: number;
  updated_at: number;
}

/** A namespace's retention policy (src/retention/): `rules` is JSON; the lease keeps replicas from running it at once. */
export interface RetentionPoliciesTable {
  id: Generated<number>;
  namespace: string;
  name: string;
  /** One repository of the namespace (full name), or null for all of them. */
  repository: string | null;
  enabled: Generated<number>;
  rules: string;
  created_by: string | null;
  created_at: number;
  updated_at: number;
  lease_token: ColumnType<string | null, string | null | undefined, string | null>;
  lease_until: ColumnType<number | null, number | null | undefined, number | null>;
  last_run_at: ColumnType<number | null, number | null | undefined, number | null>;
  /** JSON summary of the last real run. */
  last_run: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface UploadsTable {
  id: string;
  repository_id: number;
  created_at: number;
  updated_at: number;
  /** The request writing to the session now, and until when its claim holds (ms); null when idle. */
  lease_token: ColumnType<string | null, string | null | undefined, string | null>;
  lease_until: ColumnType<number | null, number | null | undefined, number | null>;
}

/** Blobs whose last reference may have gone; garbage collection reviews them. */
export interface GcBlobReviewTable {
  digest: string;
  review_after: number;
  /** The collector batch reviewing the digest now, and until when its claim holds (ms). */
  claimed_by: ColumnType<string | null, string | null | undefined, string | null>;
  claimed_until: ColumnType<number | null, number | null | undefined, number | null>;
}

/** Manifests that may have become collectable (untagged; their index or subject went). */
export interface GcManifestReviewTable {
  manifest_id: number;
  review_after: number;
  claimed_by: ColumnType<string | null, string | null | undefined, string | null>;
  claimed_until: ColumnType<number | null, number | null | undefined, number | null>;
}

export type Permission = 'read' | 'write' | 'admin';

export interface UsersTable {
  id: Generated<number>;
  username: string;
  password_hash: string;
  email: string | null;
  is_admin: Generated<number>;
  robot_org_id: number | null;
  disabled: Generated<number>;
  created_at: number;
  password_changed_at: number;
}

export interface NamespacesTable {
  name: string;
  kind: 'user' | 'org';
  created_at: number;
}

export interface OrganizationsTable {
  id: Generated<number>;
  name: string;
  created_at: number;
}

export interface OrgMembersTable {
  org_id: number;
  user_id: number;
  role: 'owner' | 'member';
}

export interface TeamsTable {
  id: Generated<number>;
  org_id: number;
  name: string;
  permission: Permission;
  created_at: number;
}

export interface TeamMembersTable {
  team_id: number;
  user_id: number;
}

export interface CollaboratorsTable {
  repository_id: number;
  user_id: number;
  permission: Permission;
}

export interface AccessTokensTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  token_hash: string;
  /** Comma-separated actions: pull, push, delete. */
  scopes: string;
  /** null = every repository the owner may reach; "ns/*" or an exact repository name. */
  resource: string | null;
  expires_at: number | null;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface RefreshTokensTable {
  token_hash: string;
  user_id: number;
  /** Set when the login that produced it used an access token: the refresh is bound to it. */
  access_token_id: number | null;
  client_id: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  private_pem: string;
  public_jwk: string;
  created_at: number;
  retired_at: number | null;
}

export interface LoginFailuresTable {
  key: string;
  window_start: number;
  count: number;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  actor: string | null;
  action: string;
  target: string | null;
  address: string | null;
  /** JSON. Never holds a secret. */
  detail: string | null;
}

/** One signed-in browser of the web UI (auth/sessions.ts). Rows live in the database, so every replica serves them. */
export interface SessionsTable {
  /** SHA-256 (hex) of the cookie's secret: a copy of the table holds no live cookie. */
  id: string;
  user_id: number;
  /** The per-session CSRF token the browser must echo in X-Berth-CSRF. */
  csrf: string;
  created_at: number;
  last_seen_at: number;
  /** Absolute end of the session; it also ends after SESSION_IDLE_MS without use. */
  expires_at: number;
  address: string | null;
  user_agent: string | null;
}

/**
 * Rights taken away (auth/revocations.ts): a registry token issued before the row (its
 * `rev` claim below the row's id) and naming the subject, repository or namespace is refused.
 */
export interface RevocationsTable {
  id: Generated<number>;
  kind: 'subject' | 'repository' | 'namespace';
  /** A user or robot name; a repository name; a namespace (first path component). */
  key: string;
  at: number;
}

export interface Database {
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  tag_history: TagHistoryTable;
  immutable_tag_rules: ImmutableTagRulesTable;
  retention_policies: RetentionPoliciesTable;
  uploads: UploadsTable;
  gc_blob_review: GcBlobReviewTable;
  gc_blob_protections: GcBlobProtectionsTable;
  gc_manifest_review: GcManifestReviewTable;
  mirror_fetches: MirrorFetchesTable;
  users: UsersTable;
  namespaces: NamespacesTable;
  organizations: OrganizationsTable;
  org_members: OrgMembersTable;
  teams: TeamsTable;
  team_members: TeamMembersTable;
  collaborators: CollaboratorsTable;
  access_tokens: AccessTokensTable;
  refresh_tokens: RefreshTokensTable;
  signing_keys: SigningKeysTable;
  login_failures: LoginFailuresTable;
  audit_log: AuditLogTable;
  revocations: RevocationsTable;
  sessions: SessionsTable;
}
