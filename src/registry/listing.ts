// Tag lists, the catalog and the referrers index: paginated reads of the database.
import { RegistryError } from '../errors/catalog.js';
import type { CatalogViewer } from '../auth/policy.js';
import type { RepositoryAccessStore } from '../metadata/accounts/repository-access.js';
import type { RegistryStore } from '../metadata/registry-store.js';
import { OCI_INDEX } from '../oci/media-types.js';

export interface Page {
  items: string[];
  /** The `last` value for the next page, when there may be one. */
  next?: string;
}

export const MAX_PAGE = 10_000;

export class ListingService {
  constructor(
    private readonly store: RegistryStore,
    /** With accounts, catalog pages are filtered to what the viewer may see. */
    private readonly access?: RepositoryAccessStore,
  ) {}

  async tags(repository: string, n: number | undefined, last: string | undefined): Promise<Page> {
    const repoId = await this.store.repositoryId(repository);
    if (repoId === null) throw new RegistryError('NAME_UNKNOWN', undefined, { detail: { name: repository } });
    return paginate(n, (limit) => this.store.listTags(repoId, limit, last));
  }

  async catalog(n: number | undefined, last: string | undefined, viewer: CatalogViewer = 'all'): Promise<Page> {
    const access = this.access;
    if (viewer === 'all' || viewer.all || !access) return paginate(n, (limit) => this.store.listRepositories(limit, last));
    return paginate(n, async (limit) => (await access.visibleRepositories(viewer, limit, last)).map((r) => r.name));
  }

  /** The referrers response: an image index of the manifests whose subject is `subject`. */
  async referrers(repository: string, subject: string, artifactType?: string): Promise<object> {
    const rows = await this.store.referrers(repository, subject, artifactType);
    return {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: rows.map((r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.size,
        ...(r.artifactType ? { artifactType: r.artifactType } : {}),
        ...(r.annotations ? { annotations: JSON.parse(r.annotations) } : {}),
      })),
    };
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
