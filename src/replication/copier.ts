// Copies manifests with everything they reference from one registry to another, in the order a
// registry accepts them: blobs first (skipped when the target has them, mounted from another of
// its repositories when this copier has seen them there, else streamed from source to target),
// then index children, then the manifest itself under its tag. A tag that already points at the
// same digest on the target is skipped, so a second copy changes nothing. Referrers (signatures,
// SBOMs) follow their subject; a target without the referrers API gets the referrers tag schema's
// index (`sha256-<hex>`) so clients find them there too.
import type { Readable } from 'node:stream';
import { Slots } from '../gc/concurrency.js';
import { parseDigest } from '../oci/digest.js';
import { type Descriptor, parseManifest } from '../oci/manifest.js';
import { OCI_INDEX } from '../oci/media-types.js';

/** One side of a replication: the upstream client (a remote registry) or LocalRegistry (this Berth). */
export interface RegistrySide {
  headManifest(repo: string, ref: string): Promise<{ digest: string; mediaType: string; size: number } | null>;
  getManifest(repo: string, ref: string): Promise<{ body: Buffer; digest: string; mediaType: string }>;
  headBlob(repo: string, digest: string): Promise<number | null>;
  getBlob(repo: string, digest: string): Promise<{ size: number | null; body: Readable }>;
  tags(repo: string): Promise<string[]>;
  catalog(): Promise<string[]>;
  referrers(repo: string, digest: string): Promise<Descriptor[]>;
  mountBlob(repo: string, from: string, digest: string): Promise<boolean>;
  pushBlob(repo: string, digest: string, size: number, body: Readable): Promise<void>;
  putManifest(repo: string, ref: string, mediaType: string, body: Buffer): Promise<string>;
  deleteManifest(repo: string, ref: string): Promise<boolean>;
  /** Links a blob the side stores for another repository (this Berth knows where its blobs are). */
  linkExisting?(repo: string, digest: string): Promise<boolean>;
}

export interface CopyCounts {
  copied: number;
  skipped: number;
  /** Blob bytes transferred. */
  bytes: number;
}

/** Blobs of one manifest copied at once: latency overlaps, and a few streams fill a link. */
const BLOB_CONCURRENCY = 3;
/** Referrers of referrers (a signature of an SBOM) are followed this deep. */
const MAX_REFERRER_DEPTH = 3;

export class CopyError extends Error {}

export class Copier {
  /** A repository of the target known to hold each blob: a cross-repository mount source. */
  private readonly located = new Map<string, string>();
  /** Blob copies in flight at once (per run). */
  private readonly slots = new Slots(BLOB_CONCURRENCY);

  constructor(
    private readonly source: RegistrySide,
    private readonly target: RegistrySide,
    private readonly counts: CopyCounts,
  ) {}

  /**
   * Copies `ref` (a tag or a digest) of `srcRepo` to `dstRepo` and then the referrers of what it
   * points at. 'missing' when the source has no such manifest.
   */
  async copy(srcRepo: string, dstRepo: string, ref: string): Promise<'copied' | 'skipped' | 'missing'> {
    const head = await this.source.headManifest(srcRepo, ref);
    if (!head) return 'missing';
    const there = await this.target.headManifest(dstRepo, ref);
    let outcome: 'copied' | 'skipped' = 'skipped';
    if (there?.digest !== head.digest) {
      await this.copyManifest(srcRepo, dstRepo, head.digest, ref);
      outcome = 'copied';
    }
    this.counts[outcome]++;
    await this.copyReferrers(srcRepo, dstRepo, head.digest, 1);
    return outcome;
  }

  /** Copies a manifest by digest only when the target has its subject (a referrer pushed after its image). */
  async copyReferrer(srcRepo: string, dstRepo: string, digest: string): Promise<'copied' | 'skipped' | 'missing' | 'ignored'> {
    const head = await this.source.headManifest(srcRepo, digest);
    if (!head) return 'missing';
    const m = await this.source.getManifest(srcRepo, digest);
    const subject = parseManifest(m.body, m.mediaType).subject;
    if (!subject || !(await this.target.headManifest(dstRepo, subject.digest))) return 'ignored';
    const r = await this.copy(srcRepo, dstRepo, digest);
    await this.indexReferrers(dstRepo, subject.digest, [{ ...descriptorOf(m), ...referrerFields(m) }]);
    return r;
  }

  private async copyReferrers(srcRepo: string, dstRepo: string, subject: string, depth: number): Promise<void> {
    if (depth > MAX_REFERRER_DEPTH) return;
    const referrers = await this.source.referrers(srcRepo, subject);
    if (referrers.length === 0) return;
    for (const r of referrers) {
      if (await this.target.headManifest(dstRepo, r.digest)) this.counts.skipped++;
      else {
        await this.copyManifest(srcRepo, dstRepo, r.digest, r.digest);
        this.counts.copied++;
      }
      await this.copyReferrers(srcRepo, dstRepo, r.digest, depth + 1);
    }
    await this.indexReferrers(dstRepo, subject, referrers);
  }

  /**
   * A target without the referrers API lists referrers under the tag schema's index: the
   * referrers it does not list yet are added to that index (what OCI clients do when they push).
   */
  private async indexReferrers(dstRepo: string, subject: string, referrers: Descriptor[]): Promise<void> {
    const listed = new Set((await this.target.referrers(dstRepo, subject)).map((d) => d.digest));
    const missing = referrers.filter((r) => !listed.has(r.digest));
    if (missing.length === 0) return;
    const d = parseDigest(subject);
    const tag = `${d.algorithm}-${d.hex}`.slice(0, 128);
    let existing: Descriptor[] = [];
    try {
      const current = await this.target.getManifest(dstRepo, tag);
      existing = (JSON.parse(current.body.toString('utf8')) as { manifests?: Descriptor[] }).manifests ?? [];
    } catch {
      // No index yet.
    }
    const known = new Set(existing.map((e) => e.digest));
    const body = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [...existing, ...missing.filter((m) => !known.has(m.digest))] }),
    );
    await this.target.putManifest(dstRepo, tag, OCI_INDEX, body);
  }

  private async copyManifest(srcRepo: string, dstRepo: string, digest: string, ref: string): Promise<void> {
    const m = await this.source.getManifest(srcRepo, digest);
    if (m.digest !== digest) throw new CopyError(`${srcRepo}@${digest}: the source answered with ${m.digest}`);
    const parsed = parseManifest(m.body, m.mediaType);
    for (const child of parsed.manifests) {
      if (!(await this.target.headManifest(dstRepo, child.digest))) await this.copyManifest(srcRepo, dstRepo, child.digest, child.digest);
    }
    // A few blobs at a time (each digest once); every copy settles before a failure is reported.
    const unique = [...new Map(parsed.blobs.map((b) => [b.digest, b])).values()];
    const results = await Promise.allSettled(unique.map((b) => this.slots.run(() => this.copyBlob(srcRepo, dstRepo, b))));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const stored = await this.target.putManifest(dstRepo, ref, m.mediaType, m.body);
    if (stored !== digest) throw new CopyError(`${dstRepo}:${ref}: the target stored the manifest as ${stored}, not ${digest}`);
  }

  private async copyBlob(srcRepo: string, dstRepo: string, blob: Descriptor): Promise<void> {
    const d = blob.digest;
    if ((await this.target.headBlob(dstRepo, d)) !== null) {
      this.located.set(d, dstRepo);
      return;
    }
    const from = this.located.get(d);
    const mounted =
      (from !== undefined && from !== dstRepo && (await this.target.mountBlob(dstRepo, from, d))) ||
      (this.target.linkExisting !== undefined && (await this.target.linkExisting(dstRepo, d)));
    if (!mounted) {
      const { size, body } = await this.source.getBlob(srcRepo, d);
      const n = size ?? blob.size;
      await this.target.pushBlob(dstRepo, d, n, body);
      this.counts.bytes += n;
    }
    this.located.set(d, dstRepo);
  }
}

function descriptorOf(m: { body: Buffer; digest: string; mediaType: string }): Descriptor {
  return { mediaType: m.mediaType, digest: m.digest, size: m.body.length };
}

/** artifactType and annotations of a referrer, as the referrers index lists them. */
function referrerFields(m: { body: Buffer; mediaType: string }): Partial<Descriptor> {
  const p = parseManifest(m.body, m.mediaType);
  return { ...(p.artifactType ? { artifactType: p.artifactType } : {}), ...(p.annotations ? { annotations: p.annotations } : {}) };
}
