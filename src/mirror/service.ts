// The pull-through cache (docs/mirror.md): routes names to upstreams, serves cached manifests
// and tags (revalidated by HEAD after the upstream's tagttl, served stale up to maxstale while
// the upstream fails), fetches what is missing, and merges tag lists and referrers with the
// upstream's. Cached content is ordinary content: rows in manifests, manifest_references and
// tags, bytes in storage; migration 0012 marks it.
import type { Readable } from 'node:stream';
import { namespaceOf } from '../auth/policy.js';
import { RegistryError, upstreamError, type ErrorCode, type UpstreamFailure } from '../errors/catalog.js';
import type { BlobGuard } from '../gc/blob-guard.js';
import type { MirrorStore } from '../metadata/mirror-store.js';
import type { ManifestRow, RegistryStore } from '../metadata/registry-store.js';
import { parseDigest, type Digest } from '../oci/digest.js';
import { parseManifest, type Descriptor, type ParsedManifest } from '../oci/manifest.js';
import type { StorageDriver } from '../storage/driver.js';
import { blobKey } from '../storage/layout.js';
import { manifestRecord, type Reference } from '../registry/manifests.js';
import { UpstreamError, type FetchedManifest, type ManifestHead, type UpstreamClient } from '../upstream/index.js';
import type { BlobFetcher } from './blob-fetch.js';
import { mirrorTarget, type MirrorTarget, type RoutingTable, type UpstreamSettings } from './routing.js';

export interface MirrorLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface MirrorDeps {
  table: RoutingTable;
  /** One client per upstream, by name. */
  clients: ReadonlyMap<string, UpstreamClient>;
  /** Whether names of this namespace stay local rather than going to the default upstream. */
  isLocalNamespace: (namespace: string) => Promise<boolean>;
  store: RegistryStore;
  mirrorStore: MirrorStore;
  storage: StorageDriver;
  guard: BlobGuard;
  /** Cold blobs (blob-fetch.ts): one download per digest across replicas, streamed meanwhile. */
  fetcher: Pick<BlobFetcher, 'fetch'>;
  now: () => number;
  log: MirrorLog;
  /** storage.maintenance.readonly: only what is cached is served, nothing is fetched. */
  readOnly?: boolean;
  /** Told whether each lookup was served from the cache (hit, stale) or fetched from the upstream (miss); metrics. */
  onLookup?: (kind: 'manifest' | 'blob', result: 'hit' | 'miss' | 'stale') => void;
}

function readOnlyMiss(): RegistryError {
  return new RegistryError('UNAVAILABLE', 'the registry is in read-only mode: only content cached before is served', { headers: { 'Retry-After': '60' } });
}

/** The kind of an upstream client's failure, or null for anything else. */
export function failureOf(err: unknown): UpstreamFailure | null {
  return err instanceof UpstreamError ? err.kind : null;
}

function retryAfterOf(err: unknown): number | undefined {
  return err instanceof UpstreamError ? err.retryAfter : undefined;
}

export class MirrorService {
  private readonly settings = new Map<string, UpstreamSettings>();
  /** Referrer fetches started after a manifest was cached (idle() waits for them). */
  private readonly background = new Set<Promise<void>>();

  constructor(private readonly d: MirrorDeps) {
    for (const u of d.table.upstreams) this.settings.set(u.name, u);
  }

  /** The upstream `name` is served from (with containerd's ?ns=), or null for a local name. */
  async resolve(name: string, ns: string | null): Promise<MirrorTarget | null> {
    const table = this.d.table;
    if (table.upstreams.length === 0) return null;
    const quick = mirrorTarget(table, name, ns, false);
    if (quick?.via !== 'default') return quick;
    return (await this.d.isLocalNamespace(namespaceOf(name))) ? null : quick;
  }

  /** 405 for anything but a pull of a mirrored name, naming the upstream. */
  readOnlyError(name: string, t: MirrorTarget): RegistryError {
    const u = this.upstream(t);
    return new RegistryError('UNSUPPORTED', `"${name}" is a read-only mirror of ${u.url} (upstream "${u.name}"); push to a name outside the mirror`, {
      status: 405,
      detail: { name, upstream: u.name, url: u.url },
    });
  }

  /** The manifest a GET or HEAD of a mirrored name answers with, cached first when needed. */
  async manifest(t: MirrorTarget, ref: Reference): Promise<ManifestRow> {
    const client = this.client(t);
    if ('digest' in ref) {
      // Content-addressed: once cached it is never asked for again.
      const row = await this.d.store.manifestByDigest(t.local, ref.digest.value);
      this.d.onLookup?.('manifest', row ? 'hit' : 'miss');
      if (row) return row;
      if (this.d.readOnly) throw readOnlyMiss();
      const fetched = await this.call(t, () => client.getManifest(t.remote, ref.digest.value), 'MANIFEST_UNKNOWN', { digest: ref.digest.value });
      return this.record(t, fetched, null);
    }
    const u = this.upstream(t);
    const now = this.d.now();
    const cached = await this.d.mirrorStore.tag(t.local, ref.tag);
    if (cached && cached.validatedAt !== null && now - cached.validatedAt < u.tagTtl) {
      this.d.onLookup?.('manifest', 'hit');
      return cached;
    }
    // Read-only maintenance: what is cached, as it is (confirming a tag would write).
    if (this.d.readOnly) {
      if (cached) return cached;
      throw readOnlyMiss();
    }
    let head: ManifestHead | null;
    try {
      head = await client.headManifest(t.remote, ref.tag);
    } catch (err) {
      return this.stale(t, ref.tag, cached, err, now);
    }
    // Gone upstream: the cached tag stays until eviction, but nobody is sent a tag the upstream denies.
    if (head === null) throw new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { tag: ref.tag, upstream: u.name } });
    if (cached && head.digest === cached.digest) {
      await this.d.mirrorStore.markValidated(t.local, ref.tag, cached.digest, now);
      this.d.onLookup?.('manifest', 'hit');
      return cached;
    }
    const known = await this.d.store.manifestByDigest(t.local, head.digest);
    this.d.onLookup?.('manifest', known ? 'hit' : 'miss');
    if (known) {
      await this.moveTag(t, ref.tag, known, now);
      return known;
    }
    let fetched: FetchedManifest;
    try {
      fetched = await client.getManifest(t.remote, head.digest);
    } catch (err) {
      return this.stale(t, ref.tag, cached, err, now);
    }
    return this.record(t, fetched, ref.tag);
  }

  /** The upstream failed while revalidating a tag: the cached copy within maxstale, else the failure as an OCI error. */
  private stale(t: MirrorTarget, tag: string, cached: Awaited<ReturnType<MirrorStore['tag']>>, err: unknown, now: number): ManifestRow {
    const kind = failureOf(err);
    if (!kind) throw err;
    if (kind === 'not-found') throw upstreamError(kind, t.upstream, { unknown: 'MANIFEST_UNKNOWN', detail: { tag } });
    const u = this.upstream(t);
    if (cached && cached.validatedAt !== null && now - cached.validatedAt <= u.maxStale) {
      this.d.onLookup?.('manifest', 'stale');
      this.d.log.warn(
        { upstream: u.name, repository: t.remote, tag, failure: kind, err: (err as Error).message },
        'mirror: upstream failed; serving the cached tag',
      );
      return cached;
    }
    throw upstreamError(kind, u.name, { unknown: 'MANIFEST_UNKNOWN', detail: { tag }, retryAfter: retryAfterOf(err), stale: cached !== null });
  }

  /** Points a cached tag at a manifest already cached here (the upstream moved it back, say). */
  private async moveTag(t: MirrorTarget, tag: string, row: ManifestRow, now: number): Promise<void> {
    await this.d.store.meta.transaction(async (tx) => {
      const repoId = await this.d.store.ensureRepository(tx, t.local, now);
      await this.d.store.setTag(tx, repoId, tag, { id: row.id, digest: row.digest }, now, { actor: `mirror:${t.upstream}` });
      await this.d.mirrorStore.setValidated(tx, repoId, tag, now);
    });
  }

  /** Stores a manifest fetched from the upstream (its digest verified by the client) and, with `tag`, moves the tag to it. */
  private async record(t: MirrorTarget, fetched: { body: Buffer; digest: string; mediaType: string }, tag: string | null): Promise<ManifestRow> {
    const { body, digest } = fetched;
    let parsed: ParsedManifest;
    try {
      parsed = parseManifest(body, fetched.mediaType);
    } catch (err) {
      throw upstreamError('invalid', t.upstream, { unknown: 'MANIFEST_UNKNOWN', detail: { digest, reason: (err as Error).message.slice(0, 200) } });
    }
    const now = this.d.now();
    const { store, guard, storage } = this.d;
    // As a push does: protected, then the bytes, then the rows (its blobs come later, on demand).
    const protection = await guard.protect(digest, body.length);
    let id: number;
    try {
      const key = blobKey(parseDigest(digest));
      if (!(await storage.stat(key))) await storage.put(key, body);
      id = await store.meta.transaction(async (tx) => {
        const repoId = await store.ensureRepository(tx, t.local, now);
        await store.recordBlob(tx, digest, body.length, now);
        await guard.release(tx, protection);
        const manifestId = await store.putManifest(tx, repoId, manifestRecord(digest, body.length, parsed, tag === null), now);
        await this.d.mirrorStore.markMirrored(tx, manifestId, now);
        if (tag !== null) {
          await store.setTag(tx, repoId, tag, { id: manifestId, digest }, now, { actor: `mirror:${t.upstream}` });
          await this.d.mirrorStore.setValidated(tx, repoId, tag, now);
        }
        return manifestId;
      });
    } catch (err) {
      await guard.abandon(protection);
      throw err;
    }
    // Signatures and SBOMs come along (a referrer is not itself asked about its referrers).
    if (parsed.subject === undefined) this.later(() => this.cacheReferrers(t, digest));
    return { id, digest, mediaType: parsed.mediaType, size: body.length };
  }

  /** Tags of a mirrored repository: the upstream's and the cached ones (the cached ones alone while the upstream fails). */
  async tags(t: MirrorTarget): Promise<string[]> {
    const cached = await this.d.mirrorStore.tags(t.local);
    let upstream: string[] = [];
    try {
      upstream = await this.client(t).tags(t.remote);
    } catch (err) {
      const kind = failureOf(err);
      if (!kind) throw err;
      if (cached === null && kind !== 'not-found') throw upstreamError(kind, t.upstream, { unknown: 'NAME_UNKNOWN', retryAfter: retryAfterOf(err) });
      if (kind !== 'not-found')
        this.d.log.warn({ upstream: t.upstream, repository: t.remote, failure: kind }, 'mirror: upstream failed; listing cached tags only');
    }
    const all = [...new Set([...upstream, ...(cached ?? [])])].sort();
    if (all.length === 0 && cached === null) throw new RegistryError('NAME_UNKNOWN', undefined, { detail: { name: t.remote, upstream: t.upstream } });
    return all;
  }

  /** Referrers of `subject`: the cached ones and the upstream's (the cached ones alone while the upstream fails). */
  async referrers(t: MirrorTarget, subject: string, cached: Descriptor[], artifactType?: string): Promise<Descriptor[]> {
    let upstream: Descriptor[] = [];
    try {
      upstream = await this.client(t).referrers(t.remote, subject);
    } catch (err) {
      const kind = failureOf(err);
      if (!kind) throw err;
      if (kind !== 'not-found')
        this.d.log.warn({ upstream: t.upstream, repository: t.remote, failure: kind }, 'mirror: upstream failed; listing cached referrers only');
    }
    const out = [...cached];
    const seen = new Set(cached.map((c) => c.digest));
    for (const r of upstream) {
      if (seen.has(r.digest) || (artifactType !== undefined && r.artifactType !== artifactType)) continue;
      seen.add(r.digest);
      out.push(r);
    }
    return out;
  }

  /**
   * A blob of a mirrored repository that is not readable here yet. null: it is now (its bytes were
   * already stored for another image and the upstream confirmed it has them; linked), serve it as
   * usual. Otherwise its size and, for a GET, the bytes as the fetcher streams them.
   */
  async blob(t: MirrorTarget, digest: Digest, head: boolean): Promise<{ size: number; body?: Readable } | null> {
    if (this.d.readOnly) throw readOnlyMiss();
    const client = this.client(t);
    let stored = await this.d.mirrorStore.storedBlobSize(digest.value);
    // A live row alone may be a writer's protection before its bytes: only bytes in storage count as stored.
    if (stored !== null && !(await this.d.storage.stat(blobKey(digest)))) stored = null;
    if (!head) this.d.onLookup?.('blob', stored !== null ? 'hit' : 'miss');
    if (stored !== null || head) {
      // Bytes here from another image are linked only when the upstream has them under this name:
      // a manifest naming a digest must not reach bytes nobody may read here.
      const size = await this.call(t, () => client.headBlob(t.remote, digest.value), 'BLOB_UNKNOWN', { digest: digest.value });
      if (size === null) throw new RegistryError('BLOB_UNKNOWN', undefined, { detail: { digest: digest.value, upstream: t.upstream } });
      if (stored === null) return { size };
      const now = this.d.now();
      await this.d.store.meta.transaction(async (tx) => {
        // tx, not the store's own handle: SQLite has one connection, held by this transaction
        if ((await this.d.mirrorStore.storedBlobSize(digest.value, tx)) === null) return;
        const repoId = await this.d.store.ensureRepository(tx, t.local, now);
        await this.d.store.linkBlob(tx, repoId, digest.value, now);
        await this.d.store.queueBlobReview(tx, [digest.value], this.d.guard.reviewAt(now));
      });
      return null;
    }
    try {
      return await this.d.fetcher.fetch({ upstream: client, upstreamName: t.upstream, repository: t.remote }, t.local, digest);
    } catch (err) {
      const kind = failureOf(err);
      if (!kind) throw err;
      throw upstreamError(kind, t.upstream, { unknown: 'BLOB_UNKNOWN', detail: { digest: digest.value }, retryAfter: retryAfterOf(err) });
    }
  }

  /** Caches the upstream's referrers of a cached manifest, with their blobs (signatures are small). */
  private async cacheReferrers(t: MirrorTarget, subject: string): Promise<void> {
    const client = this.client(t);
    let list: Descriptor[];
    try {
      list = await client.referrers(t.remote, subject);
    } catch (err) {
      if (failureOf(err) === null) throw err;
      return; // the upstream has none to give now; GET /referrers asks again
    }
    for (const r of list) {
      if (await this.d.store.manifestByDigest(t.local, r.digest)) continue;
      const fetched = await client.getManifest(t.remote, r.digest);
      await this.record(t, fetched, null);
      const parsed = parseManifest(fetched.body, fetched.mediaType);
      for (const b of parsed.blobs) {
        if ((await this.d.store.repositoryBlobSize(t.local, b.digest)) !== null) continue;
        const got = await this.blob(t, parseDigest(b.digest), false);
        if (got?.body) for await (const _ of got.body) void _;
      }
    }
  }

  private later(work: () => Promise<void>): void {
    const p = work()
      .catch((err) =>
        // An upstream that fails now is the usual case (GET /referrers asks again); anything else is a fault here.
        failureOf(err)
          ? this.d.log.warn({ err: (err as Error).message }, 'mirror: caching referrers failed')
          : this.d.log.error({ err }, 'mirror: caching referrers failed'),
      )
      .finally(() => this.background.delete(p));
    this.background.add(p);
  }

  /** Resolves when the background work started so far is done (tests; shutdown). */
  async idle(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  /** Waits for background work, then closes the upstreams' pooled connections. */
  async close(): Promise<void> {
    await this.idle();
    for (const c of this.d.clients.values()) c.close();
  }

  /** Calls the upstream; its failures become OCI errors (`unknown` for not-found). */
  private async call<T>(t: MirrorTarget, fn: () => Promise<T>, unknown: ErrorCode, detail: Record<string, unknown>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const kind = failureOf(err);
      if (!kind) throw err;
      throw upstreamError(kind, t.upstream, { unknown, detail, retryAfter: retryAfterOf(err) });
    }
  }

  private upstream(t: MirrorTarget): UpstreamSettings {
    const u = this.settings.get(t.upstream);
    if (!u) throw new Error(`no upstream named ${t.upstream}`);
    return u;
  }

  private client(t: MirrorTarget): UpstreamClient {
    const c = this.d.clients.get(t.upstream);
    if (!c) throw new Error(`no client for upstream ${t.upstream}`);
    return c;
  }
}
