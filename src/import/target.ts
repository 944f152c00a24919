// What the importer writes to: Berth through its own services (berth-target.ts), or a dry run that
// only records what would be written (dry-run-target.ts). The importer asks the same questions of
// both, so a dry run's numbers are the real run's.
import type { Readable } from 'node:stream';

/** A source blob the target may take: its bytes, and its file when the source is a local directory. */
export interface BlobInput {
  digest: string;
  size: number;
  open(): Promise<Readable | null>;
  localPath?: string;
}

/** 'linked': the repository may read it; 'stored': Berth has the bytes, the repository has no link; 'absent'. */
export type BlobState = 'linked' | 'stored' | 'absent';

/** How blob bytes reach Berth's storage: copied through an upload, or hard-linked or moved (local filesystems). */
export type TransferMode = 'copy' | 'link' | 'move';

export interface ImportTarget {
  blobState(repository: string, digest: string): Promise<BlobState>;
  /** Links bytes Berth stores into the repository; false when they went meanwhile (then addBlob). */
  linkBlob(repository: string, digest: string, size: number): Promise<boolean>;
  /** Brings the bytes in, verifying the digest as they stream; 'corrupt' when they do not match (nothing kept), 'missing' when the file is gone. */
  addBlob(repository: string, blob: BlobInput): Promise<'ok' | 'corrupt' | 'missing'>;
  hasManifest(repository: string, digest: string): Promise<boolean>;
  /** Stores a manifest by digest (every blob and child must be readable in the repository), with `tags` pointing at it. */
  putManifest(repository: string, digest: string, mediaType: string, body: Buffer, tags: string[]): Promise<void>;
  /** The digest a tag points at, or null. */
  tagDigest(repository: string, tag: string): Promise<string | null>;
  /** True when every change of the tag in Berth was made by an import (so an import may move it on). */
  tagOwnedByImport(repository: string, tag: string): Promise<boolean>;
  /** Points the tag at the manifest (recorded in the tag history as the import's change). */
  setTag(repository: string, tag: string, mediaType: string, body: Buffer): Promise<void>;
  repositoryExists(repository: string): Promise<boolean>;
}

/** The actor the import's changes are recorded under (tag history, quotas' events). */
export const IMPORT_ACTOR = 'import:registry2';
