// Manifests and tags: validated on PUT (every referenced blob and child manifest
// must be readable in the repository), stored content-addressed, indexed in the
// database in one transaction with their tags.
import { namespaceOf } from '../auth/policy.js';
import { RegistryError } from '../errors/catalog.js';
import type { BlobGuard, Protection } from '../gc/blob-guard.js';
import type { Tx } from '../metadata/database.js';
import type { ManifestRow, NewManifest, RegistryStore } from '../metadata/registry-store.js';
import { digestOf, parseDigest, type Digest } from '../oci/digest.js';
import { ManifestInvalidError, ManifestUnsupportedError, parseManifest, type ParsedManifest } from '../oci/manifest.js';
import { isValidTag } from '../oci/names.js';
import { NotFoundError, type StorageDriver } from '../storage/driver.js';
import { blobKey } from '../storage/layout.js';
import { noEvents, type Origin, type RegistryEventSink } from './events.js';
import type { LookupCache } from './lookup-cache.js';
import type { ManifestCache } from './manifest-cache.js';
import type { QuotaService } from './quotas.js';
import type { TagGuard } from './tag-rules.js';

/** A manifest reference from a URL: a tag or a digest. */
export type Reference = { tag: string } | { digest: Digest };

export interface PutResult {
  digest: string;
  subject?: string;
  tags: string[];
}

export function parseReference(ref: string): Reference {
  if (ref.includes(':')) {
    try {
      return { digest: parseDigest(ref) };
    } catch (err) {
      throw new RegistryError('DIGEST_INVALID', (err as Error).message);
    }
  }
  if (!isValidTag(ref)) throw new RegistryError('TAG_INVALID', `invalid tag "${ref.slice(0, 140)}"`);
  return { tag: ref };
}

/**
 * A reference to look up (GET, HEAD, DELETE). No manifest can be tagged with an invalid tag,
 * so such a reference is unknown (404 MANIFEST_UNKNOWN, as the OCI conformance suite expects);
 * only a PUT, which would create the tag, answers TAG_INVALID.
 */
export function parseLookupReference(ref: string): Reference {
  if (!ref.includes(':') && !isValidTag(ref)) throw new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: { tag: ref.slice(0, 140) } });
  return parseReference(ref);
}

/** The row a manifest's parsed content gives: a push records it, and so does the mirror. */
export function manifestRecord(digest: string, size: number, parsed: ParsedManifest, untagged: boolean): NewManifest {
  return {
    digest,
    mediaType: parsed.mediaType,
    size,
    artifactType: parsed.artifactType,
    subjectDigest: parsed.subject?.digest,
    annotations: parsed.annotations,
    blobDigests: parsed.blobs.map((b) => b.digest),
    childDigests: parsed.manifests.map((m) => m.digest),
    untagged,
  };
}

export class ManifestService {
  constructor(
    private readonly storage: StorageDriver,
    private readonly store: RegistryStore,
    private readonly cache: ManifestCache,
    private readonly guard: BlobGuard,
    private readonly events: RegistryEventSink = noEvents,
    private readonly now: () => number = Date.now,
    /** Immutable tags (tag-rules.ts); none in unit set-ups. */
    private readonly tagGuard?: TagGuard,
    /** Storage quotas (quotas.ts); none in unit set-ups. */
    private readonly quotas?: Pick<QuotaService, 'admitManifest'>,
    /** Pulls' lookups, remembered until the database changes (lookup-cache.ts); none: always the database. */
    private readonly lookups: Pick<LookupCache, 'manifestByTag' | 'manifestByDigest'> = store,
  ) {}

  /** Looks a manifest up without reading its body (HEAD). */
  async resolve(repository: string, ref: Reference): Promise<ManifestRow> {
    const row = 'tag' in ref ? await this.lookups.manifestByTag(repository, ref.tag) : await this.lookups.manifestByDigest(repository, ref.digest.value);
    if (!row) throw new RegistryError('MANIFEST_UNKNOWN', undefined, { detail: 'tag' in ref ? { tag: ref.tag } : { digest: ref.digest.value } });
    return row;
  }

  async body(row: ManifestRow): Promise<Buffer> {
    const cached = this.cache.get(row.digest);
    if (cached) return cached;
    const digest = parseDigest(row.digest);
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of await this.storage.read(blobKey(digest))) chunks.push(chunk as Buffer);
    } catch (err) {
      if (err instanceof NotFoundError) throw new RegistryError('MANIFEST_UNKNOWN', 'manifest content is missing from storage');
      throw err;
    }
    const body = Buffer.concat(chunks);
    this.cache.set(row.digest, body);
    return body;
  }

  async put(
    repository: string,
    ref: Reference,
    contentType: string | undefined,
    body: Buffer,
    extraTags: string[] = [],
    origin: Origin = { actor: null },
  ): Promise<PutResult> {
    const algorithm = 'digest' in ref ? ref.digest.algorithm : 'sha256';
    const digest = digestOf(body, algorithm);
    if ('digest' in ref && ref.digest.value !== digest) {
      throw new RegistryError('DIGEST_INVALID', 'manifest digest does not match its content', { detail: { expected: ref.digest.value, actual: digest } });
    }
    for (const t of extraTags) if (!isValidTag(t)) throw new RegistryError('TAG_INVALID', `invalid tag "${t.slice(0, 140)}"`);
    const tags = [...new Set([...('tag' in ref ? [ref.tag] : []), ...extraTags])];

    let parsed: ParsedManifest;
    try {
      parsed = parseManifest(body, contentType);
    } catch (err) {
      if (err instanceof ManifestUnsupportedError) throw new RegistryError('MANIFEST_INVALID', err.message, { status: 415 });
      if (err instanceof ManifestInvalidError) throw new RegistryError('MANIFEST_INVALID', err.message);
      throw err;
    }

    // Protected, then bytes, then the database: garbage collection leaves the digest alone
    // meanwhile, and a crash in between leaves only unreferenced bytes it collects later.
    const protection = await this.guard.protect(digest, body.length);
    try {
      const key = blobKey(parseDigest(digest));
      if (!(await this.storage.stat(key))) await this.storage.put(key, body);
      await this.record(repository, digest, body, parsed, tags, origin, protection);
    } catch (err) {
      await this.guard.abandon(protection);
      throw err;
    }
    this.cache.set(digest, body);
    return { digest, subject: parsed.subject?.digest, tags };
  }

  /** The manifest's one transaction: every reference readable here, then the rows, the tags and the events. */
  private async record(repository: string, digest: string, body: Buffer, parsed: ParsedManifest, tags: string[], origin: Origin, protection: Protection) {
    const now = this.now();
    await this.store.meta.transaction(async (tx) => {
      const repoId = await this.store.ensureRepository(tx, repository, now);
      const firstManifest = !(await this.store.hasManifests(tx, repoId));
      const missingBlobs = await this.store.missingBlobs(
        tx,
        repoId,
        parsed.blobs.map((b) => b.digest),
      );
      const missingChildren = await this.store.missingManifests(
        tx,
        repoId,
        parsed.manifests.map((m) => m.digest),
      );
      const missing = [...missingBlobs, ...missingChildren];
      if (missing.length > 0) {
        throw new RegistryError('MANIFEST_BLOB_UNKNOWN', undefined, { detail: { digests: missing.slice(0, 20) } });
      }
      // The protection made the body's blob row; released, it is live.
      await this.guard.release(tx, protection);
      await this.quotas?.admitManifest(tx, repository, { digest, size: body.length, blobDigests: parsed.blobs.map((b) => b.digest) }, origin, now);
      const id = await this.store.putManifest(tx, repoId, manifestRecord(digest, body.length, parsed, tags.length === 0), now);
      await this.tagGuard?.checkMove(tx, repoId, repository, tags, digest);
      for (const tag of tags) await this.store.setTag(tx, repoId, tag, { id, digest }, now, origin);
      const base = { repository, digest, mediaType: parsed.mediaType, artifactType: parsed.artifactType, size: body.length, ...origin, at: now };
      await this.events.record(tx, [
        ...(firstManifest ? [{ ...base, type: 'repository.create' as const }] : []),
        // One push event per tag (or one for an untagged push), never one per blob.
        ...(tags.length ? tags.map((tag) => ({ ...base, type: 'push' as const, tag })) : [{ ...base, type: 'push' as const }]),
      ]);
    }, usageWriter(repository));
  }

  /** By tag: removes only the tag. By digest: removes the manifest and its tags. */
  async delete(repository: string, ref: Reference, origin: Origin = { actor: null }): Promise<void> {
    if ((await this.deleteIf(repository, ref, origin)) !== 'deleted') throw new RegistryError('MANIFEST_UNKNOWN');
  }

  /**
   * delete() for callers that decided on facts read earlier (retention): `still` re-checks them
   * first in the deletion's transaction, and when they no longer hold nothing changes
   * ('changed'). Immutable tags refuse as in delete(). A retention origin marks the events, and
   * the tag history names the policy.
   */
  async deleteIf(
    repository: string,
    ref: Reference,
    origin: Origin = { actor: null },
    still?: (tx: Tx, repositoryId: number) => Promise<boolean>,
  ): Promise<'deleted' | 'missing' | 'changed'> {
    const now = this.now();
    const change = { actor: origin.retention ? `retention:${origin.retention.policy}` : origin.actor };
    return this.store.meta.transaction(
      async (tx) => {
        const repoId = await this.store.repositoryId(repository, tx);
        if (repoId === null) return 'missing';
        if (still && !(await still(tx, repoId))) return 'changed';
        if ('tag' in ref) await this.tagGuard?.checkTagDelete(tx, repoId, repository, ref.tag);
        else await this.tagGuard?.checkManifestDelete(tx, repoId, repository, ref.digest.value);
        const done =
          'tag' in ref
            ? await this.store.deleteTag(tx, repoId, ref.tag, now, change)
            : await this.store.deleteManifest(tx, repoId, ref.digest.value, now, undefined, change);
        if (!done) return 'missing';
        const event = 'tag' in ref ? { type: 'tag.delete' as const, tag: ref.tag } : { type: 'manifest.delete' as const, digest: ref.digest.value };
        await this.events.record(tx, [{ ...event, repository, ...origin, at: now }]);
        return 'deleted';
      },
      // A manifest delete takes its uses off the namespace's usage row, so it queues with the pushes there.
      'digest' in ref ? usageWriter(repository) : undefined,
    );
  }

  /** Deletes a whole repository (false when there is none); records `repository.delete`. */
  async deleteRepository(repository: string, origin: Origin = { actor: null }): Promise<boolean> {
    const now = this.now();
    const uploads = await this.store.meta.transaction(async (tx) => {
      const repoId = await this.store.repositoryId(repository, tx);
      if (repoId === null) return null;
      await this.tagGuard?.checkManifestDelete(tx, repoId, repository, null);
      const ids = await this.store.deleteRepository(tx, repoId, now);
      await this.events.record(tx, [{ type: 'repository.delete', repository, ...origin, at: now }]);
      return ids;
    });
    if (uploads === null) return false;
    // Unfinished uploads' bytes: best effort, the purge timer catches what is left.
    for (const id of uploads) await this.storage.uploadAbort(id).catch(() => {});
    return true;
  }
}

/** Pushes into one namespace all update its usage row (quotas): on PostgreSQL they queue instead of aborting each other. */
function usageWriter(repository: string): { serializeOn: string } {
  return { serializeOn: `namespace-usage:${namespaceOf(repository)}` };
}
