// Table types for Kysely. Timestamps are milliseconds since the epoch, stored
// as BIGINT so the same schema runs on SQLite and PostgreSQL.
import type { Generated } from 'kysely';

export interface RepositoriesTable {
  id: Generated<number>;
  name: string;
  created_at: number;
}

export interface BlobsTable {
  digest: string;
  size: number;
  created_at: number;
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
}

export interface TagHistoryTable {
  id: Generated<number>;
  repository_id: number;
  name: string;
  /** null when the tag was deleted. */
  digest: string | null;
  at: number;
}

export interface UploadsTable {
  id: string;
  repository_id: number;
  created_at: number;
  updated_at: number;
}

/** Blobs whose last reference may have gone; garbage collection reviews them. */
export interface GcBlobReviewTable {
  digest: string;
  review_after: number;
}

export interface Database {
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  tag_history: TagHistoryTable;
  uploads: UploadsTable;
  gc_blob_review: GcBlobReviewTable;
}
