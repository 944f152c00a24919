// The index's moving parts: the registry event sink (last push time, descriptions from
// annotations, platforms to read), pull counts aggregated in memory and flushed in one
// transaction every few seconds, and the background reader that records platforms.
import type { FastifyInstance } from 'fastify';
import { RestError } from '../errors/rest.js';
import type { MetadataDb, Tx } from '../metadata/database.js';
import { parseDigest } from '../oci/digest.js';
import type { RegistryEvent, RegistryEventSink } from '../registry/events.js';
import type { StorageDriver } from '../storage/driver.js';
import { blobKey } from '../storage/layout.js';
import type { CommentStatus } from './schema.js';
import { IndexStore, type CommentRow, type PendingPulls } from './store.js';

export const DESCRIPTION_ANNOTATION = 'org.opencontainers.image.description';
/** Longest description kept (characters); longer annotations are cut. */
export const DESCRIPTION_MAX = 300;

/** Comment rules, applied below. Tests and operators read them here; docs/index.md explains them. */
export const COMMENT_RULES = {
  /** An account younger than this has every comment held for moderation. */
  newAccountMs: 24 * 60 * 60 * 1000,
  /** Comments of an author with fewer approved comments than this are held. */
  approvedToTrust: 1,
  /** Per account: at most `rateMax` new comments in `rateWindowMs`. */
  rateMax: 5,
  rateWindowMs: 10 * 60 * 1000,
  /** Reports that put a published comment back on hold until a moderator decides. */
  reportsToHold: 3,
  maxLength: 4000,
};

/** A comment's author, as the comment rules see them. */
export interface CommentAuthor {
  userId: number;
  /** When the account was created (ms since the epoch); null when unknown. */
  accountCreatedAt: number | null;
  /** A site administrator (the moderators): trusted, and not rate-limited. */
  moderator: boolean;
  /** Administers the repository (auth/policy.ts mayAdministerRepository): trusted. */
  repositoryAdmin: boolean;
}

export interface IndexOptions {
  /** How often pull counts are written and platforms read (ms). */
  flushIntervalMs?: number;
  log?: { error(obj: unknown, msg: string): void };
  /** The app's clock (app.ts); Date.now by default. */
  now?: () => number;
}

const IMAGE_CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
const MAX_DOCUMENT = 4 * 1024 * 1024;
const PLATFORM_ATTEMPTS = 5;

const services = new WeakMap<FastifyInstance, IndexService>();

/** The index service of an app (tests flush counts and read platforms through it). */
export function indexServiceOf(app: FastifyInstance): IndexService | undefined {
  return services.get(app);
}

export class IndexService {
  readonly store: IndexStore;
  private pending = new Map<string, PendingPulls>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | null = null;
  private platformsRunning: Promise<number> | null = null;
  private kick: NodeJS.Timeout | undefined;
  private readonly interval: number;
  readonly now: () => number;

  constructor(
    readonly meta: MetadataDb,
    private readonly storage: StorageDriver,
    private readonly opts: IndexOptions = {},
  ) {
    this.store = new IndexStore(meta);
    this.interval = opts.flushIntervalMs ?? 5000;
    this.now = opts.now ?? Date.now;
  }

  // ---- comments ----

  /** The trust rule: whether a new or edited comment is published at once or held for a moderator. */
  async commentStatus(author: CommentAuthor, now = this.now()): Promise<CommentStatus> {
    if (author.moderator || author.repositoryAdmin) return 'visible';
    if (author.accountCreatedAt === null || now - author.accountCreatedAt < COMMENT_RULES.newAccountMs) return 'held';
    return (await this.store.approvedComments(author.userId)) < COMMENT_RULES.approvedToTrust ? 'held' : 'visible';
  }

  /** A new comment under the trust rule and the per-account rate limit (moderators are exempt); its id. */
  async addComment(repositoryId: number, author: CommentAuthor, body: string, now = this.now()): Promise<number> {
    const status = await this.commentStatus(author, now);
    return this.meta.transaction(async (tx) => {
      if (!author.moderator) {
        const wait = await this.store.takeRate(tx, `comment:${author.userId}`, COMMENT_RULES.rateMax, COMMENT_RULES.rateWindowMs, now);
        if (wait > 0)
          throw new RestError('TOO_MANY_REQUESTS', 'too many comments; try again later', { headers: { 'Retry-After': String(Math.ceil(wait / 1000)) } });
      }
      return this.store.insertComment(tx, { repositoryId, authorId: author.userId, body, status }, now);
    });
  }

  /** The author's edit: a held comment stays held; otherwise the trust rule decides again (an untrusted edit goes back to the moderators). */
  async editComment(comment: CommentRow, author: CommentAuthor, body: string, now = this.now()): Promise<void> {
    const status = comment.status === 'held' ? 'held' : await this.commentStatus(author, now);
    await this.meta.transaction((tx) => this.store.editComment(tx, comment.id, body, status, now));
  }

  /** A report of a published comment; enough reports hold it until a moderator decides. */
  async reportComment(comment: CommentRow, reporterId: number, reason: string | null, now = this.now()): Promise<void> {
    if (comment.status !== 'visible') return;
    await this.meta.transaction(async (tx) => {
      const r = await this.store.reportComment(tx, comment.id, reporterId, reason, now);
      if (r.added && r.count >= COMMENT_RULES.reportsToHold) await this.store.setCommentStatus(tx, comment.id, 'held', null, now);
    });
  }

  /** Registers the service for indexServiceOf(app). */
  attach(app: FastifyInstance): this {
    services.set(app, this);
    return this;
  }

  /** Consumes registry events inside each change's transaction. */
  readonly sink: RegistryEventSink = {
    record: async (tx: Tx, events: RegistryEvent[]) => {
      let queued = false;
      for (const e of events) {
        if (e.type !== 'push' || !e.digest) continue;
        const m = await this.store.repositoryForManifest(tx, e.repository, e.digest);
        if (!m) continue;
        await this.store.recordPush(tx, m.repositoryId, e.at);
        const description = descriptionOf(m.annotations);
        if (description) await this.store.setAnnotatedDescription(tx, m.repositoryId, description, e.at);
        await this.store.enqueuePlatforms(tx, m.manifestId, e.at);
        queued = true;
      }
      // Read platforms soon (after the commit), not only at the next tick.
      if (queued && this.timer && !this.kick) {
        this.kick = setTimeout(() => {
          this.kick = undefined;
          void this.readPlatforms().catch((err) => this.opts.log?.error({ err }, 'index: reading platforms failed'));
        }, 200);
        this.kick.unref();
      }
    },
  };

  /** A manifest GET (not HEAD), by tag or by digest: counted in memory until the next flush, with the digest's pull time (retention). */
  recordPull(repository: string, digest?: string): void {
    const now = this.now();
    let p = this.pending.get(repository);
    if (p) {
      p.count++;
      p.last = now;
    } else {
      p = { count: 1, last: now, digests: new Map() };
      this.pending.set(repository, p);
    }
    if (digest) p.digests.set(digest, now);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.flush().catch((err) => this.opts.log?.error({ err }, 'index: flushing pull counts failed'));
      this.readPlatforms().catch((err) => this.opts.log?.error({ err }, 'index: reading platforms failed'));
    }, this.interval);
    this.timer.unref();
  }

  /** Stops the timers and writes the counts still in memory. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.kick) clearTimeout(this.kick);
    this.timer = undefined;
    this.kick = undefined;
    await this.platformsRunning?.catch(() => 0);
    await this.flush();
  }

  /**
   * Writes the pulls counted since the last flush in one transaction. On failure they are
   * put back to be retried; a crash loses at most one interval's counts.
   */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.flushing = this.store
      .addPulls(batch, this.now())
      .catch((err) => {
        for (const [name, p] of batch) {
          const cur = this.pending.get(name);
          if (cur) {
            cur.count += p.count;
            cur.last = Math.max(cur.last, p.last);
            for (const [d, at] of p.digests) cur.digests.set(d, Math.max(at, cur.digests.get(d) ?? 0));
          } else this.pending.set(name, p);
        }
        throw err;
      })
      .finally(() => {
        this.flushing = null;
      });
    await this.flushing;
  }

  /** Reads the platforms of queued manifests; returns how many were done. */
  readPlatforms(limit = 50): Promise<number> {
    if (this.platformsRunning) return this.platformsRunning;
    this.platformsRunning = (async () => {
      let done = 0;
      for (const w of await this.store.platformWork(limit, PLATFORM_ATTEMPTS)) {
        try {
          await this.store.recordPlatforms(w.manifestId, await this.platformsOf(w.digest));
          done++;
        } catch (err) {
          this.opts.log?.error({ err, digest: w.digest }, 'index: could not read platforms');
          await this.store.platformFailed(w.manifestId);
        }
      }
      return done;
    })().finally(() => {
      this.platformsRunning = null;
    });
    return this.platformsRunning;
  }

  /** Platforms of a manifest: its index's children's platform fields, or its image config's os/architecture. */
  private async platformsOf(digest: string): Promise<string[]> {
    const doc = (await this.readJson(digest)) as { manifests?: { platform?: unknown }[]; config?: { mediaType?: unknown; digest?: unknown } } | null;
    if (!doc || typeof doc !== 'object') return [];
    const out = new Set<string>();
    if (Array.isArray(doc.manifests)) {
      for (const m of doc.manifests) {
        const p = platformString(m?.platform);
        if (p) out.add(p);
      }
    } else if (
      doc.config &&
      typeof doc.config.mediaType === 'string' &&
      IMAGE_CONFIG_TYPES.has(doc.config.mediaType) &&
      typeof doc.config.digest === 'string'
    ) {
      const p = platformString(await this.readJson(doc.config.digest));
      if (p) out.add(p);
    }
    return [...out];
  }

  private async readJson(digest: string): Promise<unknown> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of await this.storage.read(blobKey(parseDigest(digest)))) {
      size += (chunk as Buffer).length;
      if (size > MAX_DOCUMENT) return null;
      chunks.push(chunk as Buffer);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return null;
    }
  }
}

const PLATFORM_PART = /^[a-z0-9._-]{1,32}$/;

/** "os/architecture[/variant]" from a platform object or an image config; null for unknown ones. */
export function platformString(p: unknown): string | null {
  if (!p || typeof p !== 'object') return null;
  const { os, architecture, variant } = p as Record<string, unknown>;
  if (typeof os !== 'string' || typeof architecture !== 'string') return null;
  const parts = [os, architecture, ...(typeof variant === 'string' && variant ? [variant] : [])].map((s) => s.toLowerCase());
  if (parts.some((s) => !PLATFORM_PART.test(s)) || os === 'unknown' || architecture === 'unknown') return null;
  return parts.join('/');
}

/** The description annotation of a manifest's annotations JSON, trimmed to one short paragraph. */
export function descriptionOf(annotations: string | null): string | null {
  if (!annotations) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(annotations);
  } catch {
    return null;
  }
  const value = (parsed as Record<string, unknown>)?.[DESCRIPTION_ANNOTATION];
  if (typeof value !== 'string') return null;
  const text = value
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters become spaces
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text ? text.slice(0, DESCRIPTION_MAX) : null;
}
