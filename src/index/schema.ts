// Table types of the index (search, descriptions, stars, pull counts, platforms,
// comments), added to the metadata layer's Database interface by module
// augmentation so schema.ts stays the registry's own. The tables are created by
// src/metadata/migrations/0003-index.ts ('0003_index').
import type { Generated } from 'kysely';

/** One row per repository that has index data (created lazily by the first write). */
export interface IndexRepositoriesTable {
  repository_id: number;
  /** Short description (plain text, one paragraph). */
  description: string | null;
  /** 'manual' (set through the API, never overwritten by a push) or 'annotation'. */
  description_source: string | null;
  /** README source (Markdown). */
  readme: string | null;
  /** 1 = comments are open, 0 = turned off by an owner. */
  comments_enabled: Generated<number>;
  star_count: Generated<number>;
  pull_count: Generated<number>;
  last_pull_at: number | null;
  last_push_at: number | null;
  updated_at: number;
}

export interface IndexStarsTable {
  user_id: number;
  repository_id: number;
  created_at: number;
}

/** Platforms ("os/arch[/variant]") of a manifest: its config's, or its index's children. */
export interface IndexPlatformsTable {
  manifest_id: number;
  platform: string;
}

/** Manifests whose platforms a background reader has yet to record. */
export interface IndexPlatformQueueTable {
  manifest_id: number;
  attempts: Generated<number>;
  created_at: number;
}

export type CommentStatus = 'visible' | 'held' | 'rejected';

export interface IndexCommentsTable {
  id: Generated<number>;
  repository_id: number;
  author_id: number;
  body: string;
  status: CommentStatus;
  report_count: Generated<number>;
  created_at: number;
  edited_at: number | null;
  moderated_by: number | null;
  moderated_at: number | null;
}

export interface IndexCommentReportsTable {
  comment_id: number;
  user_id: number;
  reason: string | null;
  created_at: number;
}

/** A sliding-window rate limit: one row per counted action (key = "comment:<user id>"). */
export interface IndexRateEventsTable {
  id: Generated<number>;
  key: string;
  at: number;
}

declare module '../metadata/schema.js' {
  interface Database {
    index_repositories: IndexRepositoriesTable;
    index_stars: IndexStarsTable;
    index_platforms: IndexPlatformsTable;
    index_platform_queue: IndexPlatformQueueTable;
    index_comments: IndexCommentsTable;
    index_comment_reports: IndexCommentReportsTable;
    index_rate_events: IndexRateEventsTable;
  }
}
