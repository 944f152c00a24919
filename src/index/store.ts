// SQL of the index: search, descriptions, stars, pull counts, platforms, comments and
// comment rate limits. Portable Kysely (SQLite and PostgreSQL): no FTS extension, no
// dialect functions; timestamps are BIGINT milliseconds. No HTTP and no policy here,
// except the one rule that must live in SQL: which repositories a viewer may see.
import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely';
import type { TokenLimits } from '../auth/policy.js';
import type { MetadataDb, Tx } from '../metadata/database.js';
import type { CommentStatus } from './schema.js';
import './schema.js';
import { visibleTo } from '../metadata/visibility.js';

/**
 * Who is searching. `all`: everything (administrators; open and htpasswd modes). Otherwise
 * the rule of metadata/visibility.ts, the one the catalog and the API lists use too.
 */
export type Viewer = { all: true; userId?: number | null } | { all: false; userId: number | null; username?: string; limits?: TokenLimits };

/** Pulls of one repository since the last flush: how many, the last one, and each digest's last (ms). */
export interface PendingPulls {
  count: number;
  last: number;
  digests: Map<string, number>;
}

export type SortKey = 'relevance' | 'stars' | 'pulls' | 'pushed' | 'name';

export interface SearchQuery {
  q?: string;
  namespace?: string;
  /** "os/arch" or "os/arch/variant"; "linux/arm64" also matches "linux/arm64/v8". */
  platform?: string;
  mediaType?: string;
  artifactType?: string;
  /** Only repositories the viewer starred (needs a signed-in viewer). */
  starred?: boolean;
  sort?: SortKey;
  n: number;
  page: number;
}

export interface SearchHit {
  name: string;
  namespace: string;
  visibility: 'public' | 'private';
  description: string | null;
  starCount: number;
  pullCount: number;
  lastPushAt: number | null;
  lastPullAt: number | null;
  starred: boolean;
  platforms: string[];
}

export interface IndexInfo {
  repositoryId: number;
  description: string | null;
  descriptionSource: 'manual' | 'annotation' | null;
  readme: string | null;
  commentsEnabled: boolean;
  starCount: number;
  pullCount: number;
  lastPullAt: number | null;
  lastPushAt: number | null;
  updatedAt: number | null;
}

export interface CommentRow {
  id: number;
  repositoryId: number;
  repository: string;
  authorId: number;
  author: string;
  body: string;
  status: CommentStatus;
  reportCount: number;
  createdAt: number;
  editedAt: number | null;
}

/** At most this many search words are used (the rest are ignored). */
export const MAX_TERMS = 8;

/** LIKE pattern for "contains", with %, _ and \ escaped (ESCAPE '\' is given in every LIKE). */
function contains(term: string): string {
  return `%${term.replace(/[\\%_]/g, '\\$&')}%`;
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, '\\$&');
}

/** Search words: split on white space, lower-cased, de-duplicated, at most MAX_TERMS. */
export function terms(q: string | undefined): string[] {
  if (!q) return [];
  return [...new Set(q.toLowerCase().split(/\s+/).filter(Boolean))].slice(0, MAX_TERMS).map((t) => t.slice(0, 100));
}

const num = (v: unknown): number => Number(v ?? 0);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** A row of IndexStore.comments(): the comment with its repository's name and author's username. */
type CommentQueryRow = Awaited<ReturnType<ReturnType<IndexStore['comments']>['executeTakeFirstOrThrow']>>;

export class IndexStore {
  constructor(readonly meta: MetadataDb) {}

  private get db() {
    return this.meta.db;
  }

  // ---- visibility (in SQL) ----

  /** The visibility rule as a WHERE expression over `repositories as r` (metadata/visibility.ts). */
  // biome-ignore lint/suspicious/noExplicitAny: applies to any query that has `repositories as r`, whatever else it joins
  visible(eb: ExpressionBuilder<any, any>, who: Viewer): Expression<SqlBool> {
    return visibleTo(eb, who);
  }

  // ---- search ----

  async search(who: Viewer, query: SearchQuery): Promise<{ total: number; hits: SearchHit[] }> {
    const words = terms(query.q);
    const uid = who.userId ?? null;
    const base = () => {
      let q = this.db
        .selectFrom('repositories as r')
        .leftJoin('index_repositories as x', 'x.repository_id', 'r.id')
        .where(({ exists, selectFrom }) => exists(selectFrom('manifests as m').select('m.id').whereRef('m.repository_id', '=', 'r.id')))
        .where((eb) => this.visible(eb, who));
      if (query.namespace) q = q.where('r.namespace', '=', query.namespace);
      for (const w of words) {
        const p = contains(w);
        q = q.where(
          sql<SqlBool>`(lower(r.name) like ${p} escape '\\' or lower(coalesce(x.description, '')) like ${p} escape '\\' or lower(coalesce(x.readme, '')) like ${p} escape '\\')`,
        );
      }
      if (query.platform) {
        const platform = query.platform.toLowerCase();
        q = q.where(({ exists, selectFrom }) =>
          exists(
            selectFrom('manifests as pm')
              .innerJoin('index_platforms as ip', 'ip.manifest_id', 'pm.id')
              .select('pm.id')
              .whereRef('pm.repository_id', '=', 'r.id')
              .where((eb) => eb.or([eb('ip.platform', '=', platform), sql<SqlBool>`ip.platform like ${`${escapeLike(platform)}/%`} escape '\\'`])),
          ),
        );
      }
      if (query.mediaType) {
        const mt = query.mediaType;
        q = q.where(({ exists, selectFrom }) =>
          exists(selectFrom('manifests as mm').select('mm.id').whereRef('mm.repository_id', '=', 'r.id').where('mm.media_type', '=', mt)),
        );
      }
      if (query.artifactType) {
        const at = query.artifactType;
        q = q.where(({ exists, selectFrom }) =>
          exists(selectFrom('manifests as am').select('am.id').whereRef('am.repository_id', '=', 'r.id').where('am.artifact_type', '=', at)),
        );
      }
      if (query.starred) {
        q = q.where(({ exists, selectFrom }) =>
          exists(
            selectFrom('index_stars as s')
              .select('s.user_id')
              .whereRef('s.repository_id', '=', 'r.id')
              .where('s.user_id', '=', uid ?? -1),
          ),
        );
      }
      return q;
    };

    const countRow = await base()
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirst();
    const total = num(countRow?.n);
    if (total === 0) return { total, hits: [] };

    // Relevance: a word in the name weighs most, a whole last path component more, then
    // the description, then the README. Ties go to stars, then the name.
    const score = words.length
      ? sql<number>`(${sql.join(
          words.map((w) => {
            const p = contains(w);
            return sql`(case when lower(r.name) like ${p} escape '\\' then 8 else 0 end + case when lower(r.name) = ${w} or lower(r.name) like ${`%/${escapeLike(w)}`} escape '\\' then 4 else 0 end + case when lower(coalesce(x.description, '')) like ${p} escape '\\' then 3 else 0 end + case when lower(coalesce(x.readme, '')) like ${p} escape '\\' then 1 else 0 end)`;
          }),
          sql` + `,
        )})`
      : sql<number>`0`;

    const sort = query.sort ?? (words.length ? 'relevance' : 'name');
    let q = base().select([
      'r.id',
      'r.name',
      'r.namespace',
      'r.visibility',
      'x.description',
      sql<number>`coalesce(x.star_count, 0)`.as('star_count'),
      sql<number>`coalesce(x.pull_count, 0)`.as('pull_count'),
      'x.last_push_at',
      'x.last_pull_at',
      score.as('score'),
    ]);
    if (sort === 'relevance') q = q.orderBy('score', 'desc').orderBy('star_count', 'desc');
    else if (sort === 'stars') q = q.orderBy('star_count', 'desc');
    else if (sort === 'pulls') q = q.orderBy('pull_count', 'desc');
    else if (sort === 'pushed') q = q.orderBy(sql`coalesce(x.last_push_at, 0)`, 'desc');
    const rows = await q
      .orderBy('r.name')
      .limit(query.n)
      .offset((query.page - 1) * query.n)
      .execute();

    const ids = rows.map((r) => Number(r.id));
    const starredIds = new Set<number>();
    const platforms = new Map<number, Set<string>>();
    if (ids.length) {
      if (uid !== null) {
        for (const s of await this.db
          .selectFrom('index_stars')
          .select('repository_id')
          .where('user_id', '=', uid)
          .where('repository_id', 'in', ids)
          .execute()) {
          starredIds.add(Number(s.repository_id));
        }
      }
      const prow = await this.db
        .selectFrom('manifests as m')
        .innerJoin('index_platforms as p', 'p.manifest_id', 'm.id')
        .select(['m.repository_id', 'p.platform'])
        .distinct()
        .where('m.repository_id', 'in', ids)
        .execute();
      for (const p of prow) {
        const id = Number(p.repository_id);
        if (!platforms.has(id)) platforms.set(id, new Set());
        platforms.get(id)!.add(p.platform);
      }
    }
    return {
      total,
      hits: rows.map((r) => ({
        name: r.name,
        namespace: r.namespace,
        visibility: r.visibility,
        description: r.description ?? null,
        starCount: num(r.star_count),
        pullCount: num(r.pull_count),
        lastPushAt: numOrNull(r.last_push_at),
        lastPullAt: numOrNull(r.last_pull_at),
        starred: starredIds.has(Number(r.id)),
        platforms: [...(platforms.get(Number(r.id)) ?? [])].sort(),
      })),
    };
  }

  // ---- per-repository data ----

  private async ensureRow(tx: Tx, repositoryId: number, now: number): Promise<void> {
    await tx
      .insertInto('index_repositories')
      .values({ repository_id: repositoryId, updated_at: now })
      .onConflict((oc) => oc.column('repository_id').doNothing())
      .execute();
  }

  async info(repositoryId: number, tx: Tx = this.db): Promise<IndexInfo> {
    const r = await tx.selectFrom('index_repositories').selectAll().where('repository_id', '=', repositoryId).executeTakeFirst();
    return {
      repositoryId,
      description: r?.description ?? null,
      descriptionSource: (r?.description_source as IndexInfo['descriptionSource']) ?? null,
      readme: r?.readme ?? null,
      commentsEnabled: r ? Number(r.comments_enabled) === 1 : true,
      starCount: num(r?.star_count),
      pullCount: num(r?.pull_count),
      lastPullAt: numOrNull(r?.last_pull_at),
      lastPushAt: numOrNull(r?.last_push_at),
      updatedAt: numOrNull(r?.updated_at),
    };
  }

  /** Sets the description and/or README by hand (null clears; a cleared description may come from annotations again). */
  async setDescription(tx: Tx, repositoryId: number, patch: { description?: string | null; readme?: string | null }, now: number): Promise<void> {
    await this.ensureRow(tx, repositoryId, now);
    const set: Record<string, unknown> = { updated_at: now };
    if (patch.description !== undefined) {
      set.description = patch.description;
      set.description_source = patch.description === null ? null : 'manual';
    }
    if (patch.readme !== undefined) set.readme = patch.readme;
    await tx.updateTable('index_repositories').set(set).where('repository_id', '=', repositoryId).execute();
  }

  /** A pushed manifest's description annotation, unless a description was set by hand. */
  async setAnnotatedDescription(tx: Tx, repositoryId: number, description: string, now: number): Promise<void> {
    await this.ensureRow(tx, repositoryId, now);
    await tx
      .updateTable('index_repositories')
      .set({ description, description_source: 'annotation', updated_at: now })
      .where('repository_id', '=', repositoryId)
      .where((eb) => eb.or([eb('description_source', 'is', null), eb('description_source', '=', 'annotation')]))
      .execute();
  }

  async setCommentsEnabled(tx: Tx, repositoryId: number, enabled: boolean, now: number): Promise<void> {
    await this.ensureRow(tx, repositoryId, now);
    await tx
      .updateTable('index_repositories')
      .set({ comments_enabled: enabled ? 1 : 0, updated_at: now })
      .where('repository_id', '=', repositoryId)
      .execute();
  }

  async recordPush(tx: Tx, repositoryId: number, at: number): Promise<void> {
    await tx
      .insertInto('index_repositories')
      .values({ repository_id: repositoryId, last_push_at: at, updated_at: at })
      .onConflict((oc) =>
        oc.column('repository_id').doUpdateSet({
          last_push_at: sql`case when index_repositories.last_push_at is null or excluded.last_push_at > index_repositories.last_push_at then excluded.last_push_at else index_repositories.last_push_at end`,
        }),
      )
      .execute();
  }

  /**
   * Adds pull counts gathered in memory, in one transaction. Increments (not totals), so
   * replicas flushing their own counts never overwrite each other's. Each pulled manifest's
   * last pull time goes with them (retention's latestPulled and pulledWithin), newer only.
   */
  async addPulls(pulls: Map<string, PendingPulls>, now: number): Promise<void> {
    if (pulls.size === 0) return;
    const names = [...pulls.keys()];
    await this.meta.transaction(
      async (tx) => {
        for (let i = 0; i < names.length; i += 500) {
          const rows = await tx
            .selectFrom('repositories')
            .select(['id', 'name'])
            .where('name', 'in', names.slice(i, i + 500))
            .execute();
          for (const r of rows) {
            const p = pulls.get(r.name)!;
            await tx
              .insertInto('index_repositories')
              .values({ repository_id: Number(r.id), pull_count: p.count, last_pull_at: p.last, updated_at: now })
              .onConflict((oc) =>
                oc.column('repository_id').doUpdateSet({
                  pull_count: sql`index_repositories.pull_count + excluded.pull_count`,
                  last_pull_at: sql`case when index_repositories.last_pull_at is null or excluded.last_pull_at > index_repositories.last_pull_at then excluded.last_pull_at else index_repositories.last_pull_at end`,
                }),
              )
              .execute();
            for (const [digest, at] of p.digests) {
              await tx
                .updateTable('manifests')
                .set({ last_pulled_at: at })
                .where('repository_id', '=', Number(r.id))
                .where('digest', '=', digest)
                .where((eb) => eb.or([eb('last_pulled_at', 'is', null), eb('last_pulled_at', '<', at)]))
                .execute();
            }
          }
        }
      },
      { durable: false },
    );
  }

  // ---- stars ----

  /** Stars (true) or unstars (false); returns the new star count. Idempotent. */
  async setStar(repositoryId: number, userId: number, on: boolean, now: number): Promise<number> {
    return this.meta.transaction(async (tx) => {
      await this.ensureRow(tx, repositoryId, now);
      let delta = 0;
      if (on) {
        const res = await tx
          .insertInto('index_stars')
          .values({ user_id: userId, repository_id: repositoryId, created_at: now })
          .onConflict((oc) => oc.columns(['user_id', 'repository_id']).doNothing())
          .executeTakeFirst();
        delta = Number(res.numInsertedOrUpdatedRows ?? 0) > 0 ? 1 : 0;
      } else {
        const res = await tx.deleteFrom('index_stars').where('user_id', '=', userId).where('repository_id', '=', repositoryId).executeTakeFirst();
        delta = Number(res.numDeletedRows) > 0 ? -1 : 0;
      }
      // Starring also watches (new tags reach the in-app list and personal webhooks); unstarring
      // removes only a watch that the star created.
      const repo = await tx.selectFrom('repositories').select('name').where('id', '=', repositoryId).executeTakeFirst();
      if (repo && on) {
        await tx
          .insertInto('watches')
          .values({ user_id: userId, repository: repo.name, source: 'star', created_at: now })
          .onConflict((oc) => oc.columns(['user_id', 'repository']).doNothing())
          .execute();
      } else if (repo) {
        await tx.deleteFrom('watches').where('user_id', '=', userId).where('repository', '=', repo.name).where('source', '=', 'star').execute();
      }
      if (delta !== 0) {
        await tx
          .updateTable('index_repositories')
          .set({ star_count: sql`star_count + ${delta}` })
          .where('repository_id', '=', repositoryId)
          .execute();
      }
      return (await this.info(repositoryId, tx)).starCount;
    });
  }

  async isStarred(repositoryId: number, userId: number): Promise<boolean> {
    const r = await this.db
      .selectFrom('index_stars')
      .select('user_id')
      .where('repository_id', '=', repositoryId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return r !== undefined;
  }

  // ---- platforms ----

  async enqueuePlatforms(tx: Tx, manifestId: number, now: number): Promise<void> {
    await tx
      .insertInto('index_platform_queue')
      .values({ manifest_id: manifestId, created_at: now })
      .onConflict((oc) => oc.column('manifest_id').doNothing())
      .execute();
  }

  async platformWork(limit: number, maxAttempts: number): Promise<{ manifestId: number; digest: string; mediaType: string }[]> {
    const rows = await this.db
      .selectFrom('index_platform_queue as q')
      .innerJoin('manifests as m', 'm.id', 'q.manifest_id')
      .select(['q.manifest_id', 'm.digest', 'm.media_type'])
      .where('q.attempts', '<', maxAttempts)
      .orderBy('q.created_at')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ manifestId: Number(r.manifest_id), digest: r.digest, mediaType: r.media_type }));
  }

  async recordPlatforms(manifestId: number, platforms: string[]): Promise<void> {
    await this.meta.transaction(
      async (tx) => {
        // The manifest may have been deleted since platformWork read it (its queue row went with it).
        // On PostgreSQL the key-share lock makes a concurrent delete wait for this transaction.
        let alive = tx.selectFrom('manifests').select('id').where('id', '=', manifestId);
        if (this.meta.dialect === 'postgres') alive = alive.forKeyShare();
        if (!(await alive.executeTakeFirst())) return;
        for (const platform of platforms) {
          await tx
            .insertInto('index_platforms')
            .values({ manifest_id: manifestId, platform })
            .onConflict((oc) => oc.columns(['manifest_id', 'platform']).doNothing())
            .execute();
        }
        await tx.deleteFrom('index_platform_queue').where('manifest_id', '=', manifestId).execute();
      },
      { durable: false },
    );
  }

  async platformFailed(manifestId: number): Promise<void> {
    await this.db.updateTable('index_platform_queue').set({ attempts: sql`attempts + 1` }).where('manifest_id', '=', manifestId).execute();
  }

  async platformsOf(repositoryId: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('manifests as m')
      .innerJoin('index_platforms as p', 'p.manifest_id', 'm.id')
      .select('p.platform')
      .distinct()
      .where('m.repository_id', '=', repositoryId)
      .orderBy('p.platform')
      .execute();
    return rows.map((r) => r.platform);
  }

  // ---- comments ----

  private comments(tx: Tx = this.db) {
    return tx
      .selectFrom('index_comments as c')
      .innerJoin('users as u', 'u.id', 'c.author_id')
      .innerJoin('repositories as r', 'r.id', 'c.repository_id')
      .select([
        'c.id',
        'c.repository_id',
        'r.name as repository',
        'c.author_id',
        'u.username',
        'c.body',
        'c.status',
        'c.report_count',
        'c.created_at',
        'c.edited_at',
      ]);
  }

  private toComment(r: CommentQueryRow): CommentRow {
    return {
      id: Number(r.id),
      repositoryId: Number(r.repository_id),
      repository: r.repository,
      authorId: Number(r.author_id),
      author: r.username,
      body: r.body,
      status: r.status,
      reportCount: num(r.report_count),
      createdAt: num(r.created_at),
      editedAt: numOrNull(r.edited_at),
    };
  }

  /**
   * A repository's comments, oldest first, that the viewer may read: visible ones for
   * everyone; held and rejected ones for their author and for moderators.
   */
  async listComments(repositoryId: number, viewer: { userId: number | null; moderator: boolean }, limit: number, afterId?: number): Promise<CommentRow[]> {
    let q = this.comments().where('c.repository_id', '=', repositoryId).orderBy('c.id').limit(limit);
    if (afterId !== undefined) q = q.where('c.id', '>', afterId);
    if (!viewer.moderator) {
      const uid = viewer.userId;
      q = q.where((eb) => (uid === null ? eb('c.status', '=', 'visible') : eb.or([eb('c.status', '=', 'visible'), eb('c.author_id', '=', uid)])));
    }
    return (await q.execute()).map((r) => this.toComment(r));
  }

  async comment(id: number, tx: Tx = this.db): Promise<CommentRow | null> {
    const r = await this.comments(tx).where('c.id', '=', id).executeTakeFirst();
    return r ? this.toComment(r) : null;
  }

  async approvedComments(userId: number, tx: Tx = this.db): Promise<number> {
    const r = await tx
      .selectFrom('index_comments')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('author_id', '=', userId)
      .where('status', '=', 'visible')
      .executeTakeFirst();
    return num(r?.n);
  }

  async insertComment(tx: Tx, c: { repositoryId: number; authorId: number; body: string; status: CommentStatus }, now: number): Promise<number> {
    const row = await tx
      .insertInto('index_comments')
      .values({ repository_id: c.repositoryId, author_id: c.authorId, body: c.body, status: c.status, created_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async editComment(tx: Tx, id: number, body: string, status: CommentStatus, now: number): Promise<void> {
    await tx.updateTable('index_comments').set({ body, status, edited_at: now }).where('id', '=', id).execute();
  }

  async deleteComment(tx: Tx, id: number): Promise<void> {
    await tx.deleteFrom('index_comments').where('id', '=', id).execute();
  }

  /** Records one report per user; returns the new report count (unchanged for a repeated report). */
  async reportComment(tx: Tx, id: number, userId: number, reason: string | null, now: number): Promise<{ added: boolean; count: number }> {
    const res = await tx
      .insertInto('index_comment_reports')
      .values({ comment_id: id, user_id: userId, reason, created_at: now })
      .onConflict((oc) => oc.columns(['comment_id', 'user_id']).doNothing())
      .executeTakeFirst();
    const added = Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
    if (added) await tx.updateTable('index_comments').set({ report_count: sql`report_count + 1` }).where('id', '=', id).execute();
    const r = await tx.selectFrom('index_comments').select('report_count').where('id', '=', id).executeTakeFirst();
    return { added, count: num(r?.report_count) };
  }

  async setCommentStatus(tx: Tx, id: number, status: CommentStatus, moderatorId: number | null, now: number, clearReports = false): Promise<void> {
    const set: Record<string, unknown> = { status };
    if (moderatorId !== null) Object.assign(set, { moderated_by: moderatorId, moderated_at: now });
    if (clearReports) {
      set.report_count = 0;
      await tx.deleteFrom('index_comment_reports').where('comment_id', '=', id).execute();
    }
    await tx.updateTable('index_comments').set(set).where('id', '=', id).execute();
  }

  /** The moderation queue: held comments and visible ones somebody reported, oldest first. */
  async moderationQueue(limit: number, afterId?: number): Promise<(CommentRow & { reports: { user: string; reason: string | null }[] })[]> {
    let q = this.comments()
      .where((eb) => eb.or([eb('c.status', '=', 'held'), eb.and([eb('c.status', '=', 'visible'), eb('c.report_count', '>', 0)])]))
      .orderBy('c.id')
      .limit(limit);
    if (afterId !== undefined) q = q.where('c.id', '>', afterId);
    const rows = (await q.execute()).map((r) => this.toComment(r));
    const reports = rows.length
      ? await this.db
          .selectFrom('index_comment_reports as cr')
          .innerJoin('users as u', 'u.id', 'cr.user_id')
          .select(['cr.comment_id', 'u.username', 'cr.reason'])
          .where(
            'cr.comment_id',
            'in',
            rows.map((r) => r.id),
          )
          .orderBy('cr.created_at')
          .execute()
      : [];
    return rows.map((r) => ({ ...r, reports: reports.filter((x) => Number(x.comment_id) === r.id).map((x) => ({ user: x.username, reason: x.reason })) }));
  }

  // ---- rate limits ----

  /**
   * Counts one action for `key` unless `max` were counted in the window that ends now;
   * returns 0 when counted, otherwise the milliseconds until the oldest one leaves the window.
   * Run inside the transaction of the action itself.
   */
  async takeRate(tx: Tx, key: string, max: number, windowMs: number, now: number): Promise<number> {
    await tx
      .deleteFrom('index_rate_events')
      .where('key', '=', key)
      .where('at', '<=', now - windowMs)
      .execute();
    const rows = await tx.selectFrom('index_rate_events').select('at').where('key', '=', key).orderBy('at').execute();
    if (rows.length >= max) return Math.max(1, Number(rows[rows.length - max].at) + windowMs - now);
    await tx.insertInto('index_rate_events').values({ key, at: now }).execute();
    return 0;
  }

  // ---- lookups ----

  async repositoryForManifest(
    tx: Tx,
    repository: string,
    digest: string,
  ): Promise<{ repositoryId: number; manifestId: number; annotations: string | null } | null> {
    const r = await tx
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['r.id as rid', 'm.id as mid', 'm.annotations'])
      .where('r.name', '=', repository)
      .where('m.digest', '=', digest)
      .executeTakeFirst();
    return r ? { repositoryId: Number(r.rid), manifestId: Number(r.mid), annotations: r.annotations } : null;
  }

  async repositoryId(tx: Tx, repository: string): Promise<number | null> {
    const r = await tx.selectFrom('repositories').select('id').where('name', '=', repository).executeTakeFirst();
    return r ? Number(r.id) : null;
  }
}
