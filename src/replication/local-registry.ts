// This Berth as one side of a replication, in the shape of the upstream client (RegistrySide):
// reads from its stores and storage, writes through the registry's own services — uploads with
// their digest check and quotas, manifest PUTs with their validation, events, tag history and
// immutable tags, deletes through the delete path — as the policy's actor `replication:<name>`.
import type { Readable } from 'node:stream';
import { RegistryError } from '../errors/catalog.js';
import { parseDigest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';
import type { BlobService } from '../registry/blobs.js';
import type { Origin } from '../registry/events.js';
import type { ListingService } from '../registry/listing.js';
import { type ManifestService, parseLookupReference, parseReference } from '../registry/manifests.js';
import type { UploadService } from '../registry/uploads.js';
import type { RegistrySide } from './copier.js';

export interface LocalServices {
  manifests: Pick<ManifestService, 'resolve' | 'body' | 'put' | 'deleteIf'>;
  blobs: Pick<BlobService, 'size' | 'read' | 'mount'>;
  uploads: Pick<UploadService, 'start' | 'commit' | 'cancel'>;
  listing: Pick<ListingService, 'tags' | 'catalog' | 'referrers'>;
  /** A repository that holds the blob (a mount source), or null. */
  repositoryWithBlob(digest: string): Promise<string | null>;
  /** storage.delete.enabled (and not read-only): pulled deletes need it. */
  deleteEnabled: boolean;
  /** storage.maintenance.readonly: nothing is written. */
  readOnly: boolean;
}

const UNKNOWN = new Set(['MANIFEST_UNKNOWN', 'NAME_UNKNOWN', 'BLOB_UNKNOWN']);
const isUnknown = (err: unknown) => err instanceof RegistryError && UNKNOWN.has(err.code);

export class LocalRegistry implements RegistrySide {
  constructor(
    private readonly s: LocalServices,
    private readonly origin: Origin,
  ) {}

  private writable(): void {
    if (this.s.readOnly) throw new RegistryError('UNSUPPORTED', 'the registry is read-only (storage.maintenance.readonly)');
  }

  async headManifest(repo: string, ref: string): Promise<{ digest: string; mediaType: string; size: number } | null> {
    try {
      const row = await this.s.manifests.resolve(repo, parseLookupReference(ref));
      return { digest: row.digest, mediaType: row.mediaType, size: row.size };
    } catch (err) {
      if (isUnknown(err)) return null;
      throw err;
    }
  }

  async getManifest(repo: string, ref: string): Promise<{ body: Buffer; digest: string; mediaType: string }> {
    const row = await this.s.manifests.resolve(repo, parseLookupReference(ref));
    return { body: await this.s.manifests.body(row), digest: row.digest, mediaType: row.mediaType };
  }

  async headBlob(repo: string, digest: string): Promise<number | null> {
    try {
      return await this.s.blobs.size(repo, parseDigest(digest));
    } catch (err) {
      if (isUnknown(err)) return null;
      throw err;
    }
  }

  async getBlob(repo: string, digest: string): Promise<{ size: number | null; body: Readable }> {
    const d = parseDigest(digest);
    const size = await this.s.blobs.size(repo, d);
    return { size, body: await this.s.blobs.read(d) };
  }

  async tags(repo: string): Promise<string[]> {
    const out: string[] = [];
    let last: string | undefined;
    try {
      for (;;) {
        const page = await this.s.listing.tags(repo, undefined, last);
        out.push(...page.items);
        if (!page.next) return out;
        last = page.next;
      }
    } catch (err) {
      if (isUnknown(err)) return [];
      throw err;
    }
  }

  async catalog(): Promise<string[]> {
    const out: string[] = [];
    let last: string | undefined;
    for (;;) {
      const page = await this.s.listing.catalog(undefined, last);
      out.push(...page.items);
      if (!page.next) return out;
      last = page.next;
    }
  }

  async referrers(repo: string, digest: string): Promise<Descriptor[]> {
    const doc = (await this.s.listing.referrers(repo, digest)) as { manifests: Descriptor[] };
    return doc.manifests;
  }

  async mountBlob(repo: string, from: string, digest: string): Promise<boolean> {
    this.writable();
    return this.s.blobs.mount(repo, from, parseDigest(digest));
  }

  /** Links a blob this registry already stores for another repository (a local cross-repository mount). */
  async linkExisting(repo: string, digest: string): Promise<boolean> {
    this.writable();
    const d = parseDigest(digest);
    const holder = await this.s.repositoryWithBlob(d.value);
    return holder !== null && holder !== repo && this.s.blobs.mount(repo, holder, d);
  }

  /** Uploads a blob through an upload session: digest verified, quota admitted. */
  async pushBlob(repo: string, digest: string, size: number, body: Readable): Promise<void> {
    this.writable();
    const d = parseDigest(digest);
    const id = await this.s.uploads.start(repo);
    try {
      await this.s.uploads.commit(repo, id, d, body, undefined, size);
    } catch (err) {
      body.destroy();
      await this.s.uploads.cancel(repo, id).catch(() => {});
      throw err;
    }
  }

  async putManifest(repo: string, ref: string, mediaType: string, body: Buffer): Promise<string> {
    this.writable();
    return (await this.s.manifests.put(repo, parseReference(ref), mediaType, body, [], this.origin)).digest;
  }

  async deleteManifest(repo: string, ref: string): Promise<boolean> {
    this.writable();
    if (!this.s.deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletes are disabled here (storage.delete.enabled)');
    return (await this.s.manifests.deleteIf(repo, parseLookupReference(ref), this.origin)) === 'deleted';
  }
}
