// Tag lists, the catalog and the referrers index: paginated reads of the database.
import { RegistryError } from '../errors/catalog.js';
import type { CatalogViewer } from '../auth/policy.js';
import type { RepositoryAccessStore } from '../metadata/accounts/repository-access.js';
import type { RegistryStore } from '../metadata/registry-store.js';
import type { Descriptor } from '../oci/manifest.js';
import { OCI_INDEX } from '../oci/media-types.js';

export interface Page {
  items: string[];
  /** The `last` value for the next page, when there may be one. */
  next?: string;
}

export const MAX_PAGE = 10_000;

export interface MirrorCatalog {
  /** Whether a repository is a mirror's cache. */
  isCache(name: string): boolean;
  /** mirror.catalog */
  listed: boolean;
  /** Whether the viewer may pull through the mirror (auth/policy.ts). */
  pullable(viewer: Exclude<CatalogViewer, 'all'>): boolean;
}

export class ListingService {
  constructor(
    private readonly store: RegistryStore,
    /** With accounts, catalog pages are filtered to what the viewer may see. */
    private readonly access?: RepositoryAccessStore,
    /** A mirror's caches: left out with mirror.catalog: false, else listed to whoever may pull through the mirror. */
    private readonly caches?: MirrorCatalog,
  ) {}

  async tags(repository: string, n: number | undefined, last: string | undefined): Promise<Page> {
    const repoId = await this.store.repositoryId(repository);
    if (repoId === null) throw new RegistryError('NAME_UNKNOWN', undefined, { detail: { name: repository } });
    return paginate(n, (limit) => this.store.listTags(repoId, limit, last));
  }

  async catalog(n: number | undefined, last: string | undefined, viewer: CatalogViewer = 'all'): Promise<Page> {
    const access = this.access;
    const list =
      viewer === 'all' || viewer.all || !access
        ? (limit: number, after?: string) => this.store.listRepositories(limit, after)
        : async (limit: number, after?: string) => (await access.visibleRepositories(viewer, limit, after)).map((r) => r.name);
    const caches = this.caches;
    if (!caches) return paginate(n, (limit) => list(limit, last));
    if (!caches.listed) return paginate(n, (limit) => keepOnly(limit, last, list, caches.isCache));
    if (viewer === 'all' || viewer.all || !caches.pullable(viewer)) return paginate(n, (limit) => list(limit, last));
    // With accounts, caches are nobody's private repositories: those who may pull through the mirror see them too.
    const all = (limit: number, after?: string) => this.store.listRepositories(limit, after);
    return paginate(n, async (limit) => {
      const [visible, cached] = await Promise.all([list(limit, last), keepOnly(limit, last, all, (name) => !caches.isCache(name))]);
      return [...new Set([...visible, ...cached])].sort().slice(0, limit);
    });
  }

  /** The referrers response: an image index of the manifests whose subject is `subject`. */
  async referrers(repository: string, subject: string, artifactType?: string): Promise<object> {
    return referrersIndex(await this.referrerDescriptors(repository, subject, artifactType));
  }

  /** The descriptors of the manifests whose subject is `subject`. */
  async referrerDescriptors(repository: string, subject: string, artifactType?: string): Promise<Descriptor[]> {
    const rows = await this.store.referrers(repository, subject, artifactType);
    return rows.map((r) => ({
      mediaType: r.mediaType,
      digest: r.digest,
      size: r.size,
      ...(r.artifactType ? { artifactType: r.artifactType } : {}),
      ...(r.annotations ? { annotations: JSON.parse(r.annotations) } : {}),
    }));
  }
}

export function referrersIndex(manifests: Descriptor[]): object {
  return { schemaVersion: 2, mediaType: OCI_INDEX, manifests };
}

/** A page of a list already in memory (a mirror's merged tag list), ordered as the database orders names. */
export function paginateList(all: string[], n: number | undefined, last: string | undefined): Promise<Page> {
  return paginate(n, async (limit) => all.filter((x) => last === undefined || x > last).slice(0, limit));
}

/** Up to `limit` names after `last` that are not hidden, reading on past hidden ones. */
async function keepOnly(
  limit: number,
  last: string | undefined,
  list: (limit: number, after?: string) => Promise<string[]>,
  hidden: (name: string) => boolean,
) {
  const out: string[] = [];
  let after = last;
  for (;;) {
    const rows = await list(limit, after);
    for (const r of rows) if (!hidden(r) && out.length < limit) out.push(r);
    if (out.length >= limit || rows.length < limit) return out;
    after = rows[rows.length - 1];
  }
}

async function paginate(n: number | undefined, fetch: (limit: number) => Promise<string[]>): Promise<Page> {
  if (n === 0) return { items: [] };
  const size = Math.min(n ?? MAX_PAGE, MAX_PAGE);
  // One extra row tells whether a next page exists without a second query.
  const rows = await fetch(size + 1);
  if (rows.length > size) {
    const items = rows.slice(0, size);
    return { items, next: items[items.length - 1] };
  }
  return { items: rows };
}
