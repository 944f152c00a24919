// Berth as the import's target, through the registry's own services: blobs through upload sessions
// (digest checked while the bytes stream, the quota admitted, BlobGuard protecting them from the
// collector) or, on one filesystem, hard-linked or moved after the same digest check; manifests and
// tags through ManifestService (validation, referrers from `subject`, tag history, immutable tags,
// quotas), each change in its own transaction. Its events reach the index (search, platforms) only:
// an import sends no webhooks and queues no replication, scans or signature checks (docs/import.md).
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { BerthConfig } from '../config/index.js';
import { RegistryError } from '../errors/catalog.js';
import type { BlobGuard } from '../gc/blob-guard.js';
import { IndexService } from '../index/service.js';
import type { MetadataDb } from '../metadata/database.js';
import { ImmutableTagRuleStore } from '../metadata/immutable-tag-rules.js';
import type { RegistryStore } from '../metadata/registry-store.js';
import { TagHistoryStore } from '../metadata/tag-history.js';
import { newHasher, parseDigest } from '../oci/digest.js';
import { ManifestCache } from '../registry/manifest-cache.js';
import { ManifestService } from '../registry/manifests.js';
import { QuotaService } from '../registry/quotas.js';
import { TagGuard } from '../registry/tag-rules.js';
import { UploadService } from '../registry/uploads.js';
import type { StorageDriver } from '../storage/driver.js';
import { blobKey } from '../storage/layout.js';
import { type BlobInput, type BlobState, IMPORT_ACTOR, type ImportTarget, type TransferMode } from './target.js';

export interface BerthTargetParts {
  config: BerthConfig;
  storage: StorageDriver;
  meta: MetadataDb;
  store: RegistryStore;
  guard: BlobGuard;
  now?: () => number;
}

export class BerthTarget implements ImportTarget {
  private readonly uploads: UploadService;
  private readonly manifests: ManifestService;
  private readonly quotas: QuotaService;
  private readonly history: TagHistoryStore;
  private readonly storage: StorageDriver;
  private readonly store: RegistryStore;
  private readonly guard: BlobGuard;
  private readonly now: () => number;
  private readonly origin = { actor: IMPORT_ACTOR };
  /** What the operator should know about how the run went (a fallback to copying). */
  readonly notes: string[] = [];

  constructor(
    parts: BerthTargetParts,
    private mode: TransferMode,
  ) {
    const { config, storage, meta, store, guard } = parts;
    this.storage = storage;
    this.store = store;
    this.guard = guard;
    this.now = parts.now ?? Date.now;
    const events = new IndexService(meta, storage, { now: this.now }).sink;
    this.quotas = new QuotaService(store.quotas, config.quotas, events);
    this.uploads = new UploadService(storage, store, guard, this.now, this.quotas);
    this.history = new TagHistoryStore(meta);
    const tagGuard = new TagGuard(new ImmutableTagRuleStore(meta), this.history);
    this.manifests = new ManifestService(storage, store, new ManifestCache(16 * 1024 * 1024), guard, events, this.now, tagGuard, this.quotas);
    if (mode !== 'copy' && !storage.adoptFile) throw new RegistryError('UNSUPPORTED', `--${mode} needs filesystem storage; the ${storage.name} driver copies`);
  }

  async repositoryExists(repository: string): Promise<boolean> {
    return (await this.store.repositoryId(repository)) !== null;
  }

  async blobState(repository: string, digest: string): Promise<BlobState> {
    const blob = await this.store.readableBlob(repository, digest);
    if (blob && (await this.guard.used(blob, digest))) return 'linked';
    return (await this.storage.stat(blobKey(parseDigest(digest)))) ? 'stored' : 'absent';
  }

  async linkBlob(repository: string, digest: string, size: number): Promise<boolean> {
    const protection = await this.guard.protect(digest, size);
    try {
      // The collector may have deleted the bytes before the protection: then they are brought in again.
      if (!(await this.storage.stat(blobKey(parseDigest(digest))))) {
        await this.guard.abandon(protection);
        return false;
      }
      await this.quotas.admitBlob(repository, digest, size);
      await this.commitLink(repository, digest, size, protection);
      return true;
    } catch (err) {
      await this.guard.abandon(protection);
      throw err;
    }
  }

  async addBlob(repository: string, blob: BlobInput): Promise<'ok' | 'corrupt' | 'missing'> {
    if (this.mode !== 'copy' && blob.localPath) {
      const adopted = await this.adopt(repository, blob, blob.localPath);
      if (adopted !== 'cross-device') return adopted;
    }
    const body = await blob.open();
    if (!body) return 'missing';
    const digest = parseDigest(blob.digest);
    const id = await this.uploads.start(repository);
    try {
      await this.uploads.commit(repository, id, digest, body);
      return 'ok';
    } catch (err) {
      body.destroy();
      // A digest mismatch cancelled the session already; anything else leaves it to cancel here.
      if (err instanceof RegistryError && err.code === 'DIGEST_INVALID') return 'corrupt';
      await this.uploads.cancel(repository, id).catch(() => {});
      throw err;
    }
  }

  /** Hashes the local file, then hard-links or moves it into place (no bytes copied). */
  private async adopt(repository: string, blob: BlobInput, path: string): Promise<'ok' | 'corrupt' | 'missing' | 'cross-device'> {
    const digest = parseDigest(blob.digest);
    const hash = newHasher(digest.algorithm);
    let size = 0;
    try {
      await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), async (chunks: AsyncIterable<Buffer>) => {
        for await (const c of chunks) {
          hash.update(c);
          size += c.length;
        }
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      throw err;
    }
    if (hash.digest('hex') !== digest.hex) return 'corrupt';
    await this.quotas.admitBlob(repository, digest.value, size);
    const protection = await this.guard.protect(digest.value, size);
    try {
      const key = blobKey(digest);
      if (!(await this.storage.stat(key))) {
        try {
          await this.storage.adoptFile!(path, key, this.mode === 'move' ? 'move' : 'link');
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
          this.notes.push(`the source is on another filesystem than Berth's storage: copied instead of --${this.mode}`);
          this.mode = 'copy';
          await this.guard.abandon(protection);
          return 'cross-device';
        }
      }
      await this.commitLink(repository, digest.value, size, protection);
      return 'ok';
    } catch (err) {
      await this.guard.abandon(protection);
      throw err;
    }
  }

  /** The blob's row and the repository's link, ending the protection (as an upload's commit does). */
  private async commitLink(repository: string, digest: string, size: number, protection: { token: string; digest: string }): Promise<void> {
    const now = this.now();
    await this.store.meta.transaction(async (tx) => {
      const repoId = await this.store.ensureRepository(tx, repository, now);
      await this.store.recordBlob(tx, digest, size, now);
      await this.guard.release(tx, protection);
      await this.store.linkBlob(tx, repoId, digest, now);
      await this.store.queueBlobReview(tx, [digest], this.guard.reviewAt(now));
    });
  }

  async hasManifest(repository: string, digest: string): Promise<boolean> {
    return (await this.store.manifestByDigest(repository, digest)) !== null;
  }

  async putManifest(repository: string, digest: string, mediaType: string, body: Buffer, tags: string[]): Promise<void> {
    await this.manifests.put(repository, { digest: parseDigest(digest) }, mediaType, body, tags, this.origin);
  }

  async tagDigest(repository: string, tag: string): Promise<string | null> {
    return (await this.store.manifestByTag(repository, tag))?.digest ?? null;
  }

  async tagOwnedByImport(repository: string, tag: string): Promise<boolean> {
    const id = await this.store.repositoryId(repository);
    if (id === null) return true;
    const entries = await this.history.list(id, { tag, n: 1000 });
    return entries.length > 0 && entries.length < 1000 && entries.every((e) => e.actor === IMPORT_ACTOR);
  }

  async setTag(repository: string, tag: string, mediaType: string, body: Buffer): Promise<void> {
    await this.manifests.put(repository, { tag }, mediaType, body, [], this.origin);
  }
}
