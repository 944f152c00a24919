// A stand-in for src/mirror/blob-fetch.ts (BlobFetcher) until it lands: downloads the blob
// through an ordinary upload session (verified, stored, linked into the cache's repository),
// then serves it from storage. No single flight and no streaming while it downloads.
import type { Readable } from 'node:stream';
import { RegistryError, upstreamError } from '../errors/catalog.js';
import type { Digest } from '../oci/digest.js';
import type { BlobService } from '../registry/blobs.js';
import type { UploadService } from '../registry/uploads.js';
import type { UpstreamClient } from '../upstream/index.js';
import type { BlobFetching } from './service.js';

export class SimpleBlobFetcher implements BlobFetching {
  constructor(
    private readonly uploads: UploadService,
    private readonly blobs: BlobService,
  ) {}

  async fetch(
    source: { upstream: UpstreamClient; upstreamName: string; repository: string },
    localRepository: string,
    digest: Digest,
  ): Promise<{ size: number; body: Readable }> {
    const { body } = await source.upstream.getBlob(source.repository, digest.value);
    const id = await this.uploads.start(localRepository);
    try {
      await this.uploads.commit(localRepository, id, digest, body);
    } catch (err) {
      body.destroy();
      await this.uploads.cancel(localRepository, id).catch(() => {});
      // Bytes that do not hash to the digest are the upstream's fault, not the client's.
      if (err instanceof RegistryError && err.code === 'DIGEST_INVALID')
        throw upstreamError('invalid', source.upstreamName, { unknown: 'BLOB_UNKNOWN', detail: { digest: digest.value } });
      throw err;
    }
    const size = await this.blobs.size(localRepository, digest);
    return { size, body: await this.blobs.read(digest, size > 0 ? { start: 0, end: size - 1 } : undefined) };
  }
}
