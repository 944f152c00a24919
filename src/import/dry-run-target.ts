// The import's dry run: answers from Berth's database as it is plus what the run would have written,
// and writes nothing. Blobs Berth lacks are still read and hashed, so corrupt ones are found.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { RegistryStore } from '../metadata/registry-store.js';
import { digestOf, newHasher, parseDigest } from '../oci/digest.js';
import type { StorageDriver } from '../storage/driver.js';
import { blobKey } from '../storage/layout.js';
import type { BerthTarget } from './berth-target.js';
import type { BlobInput, BlobState, ImportTarget } from './target.js';

export class DryRunTarget implements ImportTarget {
  private readonly stored = new Set<string>();
  private readonly links = new Set<string>();
  private readonly manifests = new Set<string>();
  private readonly tags = new Map<string, string>();
  private readonly repositories = new Set<string>();

  constructor(
    private readonly store: RegistryStore,
    private readonly storage: StorageDriver,
    /** Read-only questions about tags go to the real target (it writes nothing when only asked). */
    private readonly real: Pick<BerthTarget, 'tagOwnedByImport'>,
  ) {}

  async repositoryExists(repository: string): Promise<boolean> {
    return this.repositories.has(repository) || (await this.store.repositoryId(repository)) !== null;
  }

  async blobState(repository: string, digest: string): Promise<BlobState> {
    if (this.links.has(`${repository}@${digest}`) || (await this.store.repositoryBlobSize(repository, digest)) !== null) return 'linked';
    return this.stored.has(digest) || (await this.storage.stat(blobKey(parseDigest(digest)))) ? 'stored' : 'absent';
  }

  async linkBlob(repository: string, digest: string): Promise<boolean> {
    this.link(repository, digest);
    return true;
  }

  async addBlob(repository: string, blob: BlobInput): Promise<'ok' | 'corrupt' | 'missing'> {
    const digest = parseDigest(blob.digest);
    const body: Readable | null = blob.localPath ? createReadStream(blob.localPath, { highWaterMark: 1024 * 1024 }) : await blob.open();
    if (!body) return 'missing';
    const hash = newHasher(digest.algorithm);
    try {
      for await (const chunk of body) hash.update(chunk as Buffer);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      throw err;
    }
    if (hash.digest('hex') !== digest.hex) return 'corrupt';
    this.stored.add(digest.value);
    this.link(repository, digest.value);
    return 'ok';
  }

  private link(repository: string, digest: string): void {
    this.repositories.add(repository);
    this.links.add(`${repository}@${digest}`);
  }

  async hasManifest(repository: string, digest: string): Promise<boolean> {
    return this.manifests.has(`${repository}@${digest}`) || (await this.store.manifestByDigest(repository, digest)) !== null;
  }

  async putManifest(repository: string, digest: string, _mediaType: string, _body: Buffer, tags: string[]): Promise<void> {
    this.repositories.add(repository);
    this.manifests.add(`${repository}@${digest}`);
    for (const tag of tags) this.tags.set(`${repository}:${tag}`, digest);
  }

  async tagDigest(repository: string, tag: string): Promise<string | null> {
    return this.tags.get(`${repository}:${tag}`) ?? (await this.store.manifestByTag(repository, tag))?.digest ?? null;
  }

  async tagOwnedByImport(repository: string, tag: string): Promise<boolean> {
    return this.real.tagOwnedByImport(repository, tag);
  }

  async setTag(repository: string, tag: string, _mediaType: string, body: Buffer): Promise<void> {
    this.tags.set(`${repository}:${tag}`, digestOf(body));
  }
}
