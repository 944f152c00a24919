// What the web UI shows of a repository's registry data, as JSON: its tags (size,
// platforms, digest, pushed time, and the signature status and vulnerability counts that
// trust and scanning supply as TagFacts) and one manifest with its layers, children and
// referrers. The browser cannot use /v2 directly (token auth wants a bearer token per
// scope), so these read through the registry's services after the same visibility
// check as the REST API: a repository the caller may not pull is a 404.
import type { MetadataDb } from '../metadata/database.js';
import type { ManifestRow } from '../metadata/registry-store.js';
import { RegistryStore } from '../metadata/registry-store.js';
import { ImmutableTagRuleStore } from '../metadata/immutable-tag-rules.js';
import { immutableBy } from '../registry/tag-rules.js';
import { parseReference, type ManifestService } from '../registry/manifests.js';
import '../index/schema.js';

export interface TagView {
  name: string;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  /** Manifest(s) plus every distinct blob they reference, children of an index included. */
  size: number;
  platforms: string[];
  pushedAt: number;
  /** The immutable-tag rule that keeps the tag where it is, if any. */
  immutableRule: string | null;
  /** Signature status of the tag's image, when signatures are checked (TagFacts.signatures). */
  signature?: SignatureSummary;
  /** Vulnerability counts of the tag's image, when images are scanned (TagFacts.vulnerabilities). */
  vulnerabilities?: VulnerabilitySummary;
}

export interface SignatureSummary {
  status: 'verified' | 'untrusted' | 'unsigned';
  /** Who signed: key names, certificate subjects or keyless identities (verified ones first). */
  signers: string[];
}
export interface VulnerabilitySummary {
  status: 'scanned' | 'pending' | 'failed' | 'unscanned';
  critical: number;
  high: number;
  medium: number;
  low: number;
  unknown: number;
}

/**
 * What signature trust and scanning add to a tag listing, for a page of the repository's manifests
 * by digest (a digest left out of the map gets no field). Supplied by those parts in app.ts, so this
 * view needs neither their stores nor their rules.
 */
export interface TagFacts {
  signatures?: (repository: string, digests: string[]) => Promise<Map<string, SignatureSummary>>;
  /** Images with their media types: an index's counts are its images' together. */
  vulnerabilities?: (repository: string, images: { digest: string; mediaType: string }[]) => Promise<Map<string, VulnerabilitySummary>>;
}

interface Descriptor {
  mediaType?: string;
  digest?: string;
  size?: number;
  artifactType?: string;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}

/** cosign's tags for an image's signatures, attestations and SBOMs: artifacts, not what a pull command should name. */
const COSIGN_TAG = /^sha256-[0-9a-f]{64}\.(sig|att|sbom)$/;
const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const RAW_LIMIT = 256 * 1024;
/** Config media types of plain images: recorded as the artifact type, but not worth showing as one. */
const IMAGE_CONFIGS = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
const artifactTypeOf = (t: string | null | undefined): string | null => (t && !IMAGE_CONFIGS.has(t) ? t : null);

export class RegistryView {
  private readonly store: RegistryStore;
  private readonly rules: ImmutableTagRuleStore;

  constructor(
    private readonly meta: MetadataDb,
    private readonly manifests: ManifestService,
    private readonly facts: TagFacts = {},
  ) {
    this.store = new RegistryStore(meta);
    this.rules = new ImmutableTagRuleStore(meta);
  }

  /** Tags, most recently pushed first, `n` per page. */
  async tags(repositoryId: number, repository: string, n: number, page: number): Promise<{ tags: TagView[]; total: number }> {
    const db = this.meta.db;
    const total = Number(
      (
        await db
          .selectFrom('tags')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('repository_id', '=', repositoryId)
          .executeTakeFirst()
      )?.n ?? 0,
    );
    const rows = await db
      .selectFrom('tags as t')
      .innerJoin('manifests as m', 'm.id', 't.manifest_id')
      .select(['t.name', 't.updated_at', 'm.id', 'm.digest', 'm.media_type', 'm.size', 'm.artifact_type'])
      .where('t.repository_id', '=', repositoryId)
      .orderBy('t.updated_at', 'desc')
      .orderBy('t.name')
      .limit(n)
      .offset((page - 1) * n)
      .execute();
    const ids = [...new Set(rows.map((r) => Number(r.id)))];
    const digests = [...new Set(rows.map((r) => r.digest))];
    const images = [...new Map(rows.map((r) => [r.digest, { digest: r.digest, mediaType: r.media_type }])).values()];
    const [sizes, platforms, rules, signatures, vulnerabilities] = await Promise.all([
      this.sizes(repositoryId, ids),
      this.platforms(ids),
      this.rules.forNamespace(repository.split('/')[0]),
      digests.length && this.facts.signatures ? this.facts.signatures(repository, digests) : undefined,
      images.length && this.facts.vulnerabilities ? this.facts.vulnerabilities(repository, images) : undefined,
    ]);
    const tags = rows.map((r) => ({
      name: r.name,
      digest: r.digest,
      mediaType: r.media_type,
      artifactType: artifactTypeOf(r.artifact_type),
      size: sizes.get(Number(r.id)) ?? Number(r.size),
      platforms: platforms.get(Number(r.id)) ?? [],
      pushedAt: Number(r.updated_at),
      immutableRule: immutableBy(rules, repository, r.name)?.name ?? null,
      ...(signatures?.has(r.digest) ? { signature: signatures.get(r.digest) } : {}),
      ...(vulnerabilities?.has(r.digest) ? { vulnerabilities: vulnerabilities.get(r.digest) } : {}),
    }));
    return { tags, total };
  }

  /**
   * What the repository's pull command names: `:latest` when that tag exists, else the most recently
   * pushed tag that is not cosign's (`sha256-….sig`, `.att`, `.sbom`: a signature is no image), else `@digest` of the newest image pushed without a tag (not a child of an index, not
   * a referrer such as a signature); null when there is nothing to pull.
   */
  async pullReference(repositoryId: number): Promise<string | null> {
    const db = this.meta.db;
    const tags = db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId);
    const tag =
      (await tags.where('name', '=', 'latest').executeTakeFirst()) ??
      (await tags.orderBy('updated_at', 'desc').orderBy('name').limit(100).execute()).find((t) => !COSIGN_TAG.test(t.name));
    if (tag) return `:${tag.name}`;
    const image = await db
      .selectFrom('manifests as m')
      .select('m.digest')
      .where('m.repository_id', '=', repositoryId)
      .where('m.subject_digest', 'is', null)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('manifest_references as r')
              .innerJoin('manifests as parent', 'parent.id', 'r.manifest_id')
              .select('r.manifest_id')
              .where('parent.repository_id', '=', repositoryId)
              .where('r.kind', '=', 'manifest')
              .whereRef('r.digest', '=', 'm.digest'),
          ),
        ),
      )
      .orderBy('m.created_at', 'desc')
      .orderBy('m.id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return image ? `@${image.digest}` : null;
  }

  /** Total size of each manifest: itself, its children (one level) and every distinct blob. */
  private async sizes(repositoryId: number, ids: number[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    if (ids.length === 0) return out;
    const db = this.meta.db;
    const own = await db.selectFrom('manifests').select(['id', 'size']).where('id', 'in', ids).execute();
    const refs = await db.selectFrom('manifest_references').select(['manifest_id', 'digest', 'kind']).where('manifest_id', 'in', ids).execute();
    const childDigests = [...new Set(refs.filter((r) => r.kind === 'manifest').map((r) => r.digest))];
    const children = childDigests.length
      ? await db
          .selectFrom('manifests')
          .select(['id', 'digest', 'size'])
          .where('repository_id', '=', repositoryId)
          .where('digest', 'in', childDigests)
          .execute()
      : [];
    const childIds = children.map((c) => Number(c.id));
    const childRefs = childIds.length
      ? await db
          .selectFrom('manifest_references')
          .select(['manifest_id', 'digest', 'kind'])
          .where('manifest_id', 'in', childIds)
          .where('kind', '=', 'blob')
          .execute()
      : [];
    const blobDigests = [...new Set([...refs, ...childRefs].filter((r) => r.kind === 'blob').map((r) => r.digest))];
    const blobSize = new Map<string, number>();
    for (let i = 0; i < blobDigests.length; i += 500) {
      const chunk = blobDigests.slice(i, i + 500);
      for (const b of await db.selectFrom('blobs').select(['digest', 'size']).where('digest', 'in', chunk).execute()) blobSize.set(b.digest, Number(b.size));
    }
    const childByDigest = new Map(children.map((c) => [c.digest, { id: Number(c.id), size: Number(c.size) }]));
    for (const m of own) {
      const id = Number(m.id);
      let total = Number(m.size);
      const blobs = new Set<string>();
      for (const r of refs) {
        if (r.manifest_id !== id && Number(r.manifest_id) !== id) continue;
        if (r.kind === 'blob') blobs.add(r.digest);
        else {
          const child = childByDigest.get(r.digest);
          if (!child) continue;
          total += child.size;
          for (const cr of childRefs) if (Number(cr.manifest_id) === child.id) blobs.add(cr.digest);
        }
      }
      for (const b of blobs) total += blobSize.get(b) ?? 0;
      out.set(id, total);
    }
    return out;
  }

  private async platforms(ids: number[]): Promise<Map<number, string[]>> {
    const out = new Map<number, string[]>();
    if (ids.length === 0) return out;
    const rows = await this.meta.db
      .selectFrom('index_platforms')
      .select(['manifest_id', 'platform'])
      .where('manifest_id', 'in', ids)
      .orderBy('platform')
      .execute();
    for (const r of rows) {
      const id = Number(r.manifest_id);
      out.set(id, [...(out.get(id) ?? []), r.platform]);
    }
    return out;
  }

  /** One manifest by tag or digest: descriptor, parsed body, layers or children, tags and referrers. */
  async manifest(repository: string, repositoryId: number, reference: string) {
    const row: ManifestRow = await this.manifests.resolve(repository, parseReference(reference));
    const bytes = await this.manifests.body(row);
    let doc: Record<string, unknown> = {};
    try {
      doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
    } catch {
      /* shown raw */
    }
    const isIndex = INDEX_TYPES.has(row.mediaType) || Array.isArray(doc.manifests);
    const desc = (d: Descriptor) => ({
      mediaType: d.mediaType ?? null,
      digest: d.digest ?? null,
      size: typeof d.size === 'number' ? d.size : null,
      artifactType: d.artifactType ?? null,
      platform: d.platform ? [d.platform.os, d.platform.architecture, d.platform.variant].filter(Boolean).join('/') : null,
      annotations: d.annotations ?? null,
    });
    const db = this.meta.db;
    const [tags, referrers, platforms, details] = await Promise.all([
      db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).where('manifest_id', '=', row.id).orderBy('name').execute(),
      this.store.referrers(repository, row.digest),
      this.platforms([row.id]),
      db.selectFrom('manifests').select(['artifact_type', 'subject_digest', 'created_at']).where('id', '=', row.id).executeTakeFirst(),
    ]);
    const size = (await this.sizes(repositoryId, [row.id])).get(row.id) ?? row.size;
    return {
      repository,
      digest: row.digest,
      mediaType: row.mediaType,
      size: row.size,
      totalSize: size,
      artifactType: artifactTypeOf(details?.artifact_type ?? (typeof doc.artifactType === 'string' ? doc.artifactType : null)),
      subject: details?.subject_digest ?? null,
      pushedAt: details ? Number(details.created_at) : null,
      tags: tags.map((t) => t.name),
      platforms: platforms.get(row.id) ?? [],
      annotations: (doc.annotations as Record<string, string> | undefined) ?? null,
      config: !isIndex && doc.config ? desc(doc.config as Descriptor) : null,
      layers: !isIndex && Array.isArray(doc.layers) ? (doc.layers as Descriptor[]).map(desc) : [],
      children: isIndex && Array.isArray(doc.manifests) ? (doc.manifests as Descriptor[]).map(desc) : [],
      referrers: referrers.map((r) => ({
        digest: r.digest,
        mediaType: r.mediaType,
        size: r.size,
        artifactType: r.artifactType,
        annotations: r.annotations ? (JSON.parse(r.annotations) as Record<string, string>) : null,
      })),
      raw: bytes.length <= RAW_LIMIT ? bytes.toString('utf8') : null,
    };
  }
}
