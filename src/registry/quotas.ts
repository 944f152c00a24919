// Storage quotas per namespace (the first component of a repository name), on
// deduplicated bytes: what the namespace's manifests use, each digest once
// (metadata/quota-store.ts keeps the count). A manifest PUT that would take the namespace
// over its limit is refused inside its own transaction, before anything becomes visible,
// so concurrent pushes cannot both pass (SQLite: one writer; PostgreSQL: both write the
// namespace's usage row, SERIALIZABLE aborts one and its retry sees the other). The push
// that crosses the warning level records a quota.warning event in the same transaction.
import { namespaceOf } from '../auth/policy.js';
import { formatBytes } from '../config/values.js';
import { RegistryError } from '../errors/catalog.js';
import type { Tx } from '../metadata/database.js';
import type { QuotaRow, QuotaStore } from '../metadata/quota-store.js';
import { noEvents, type Origin, type RegistryEventSink } from './events.js';

export interface QuotaSettings {
  /** Limit of namespaces without a quota of their own, in bytes; 0 = none. */
  default: number;
  /** Warning level in percent of the limit, where a namespace sets none. */
  warning: number;
}

export type QuotaLevel = 'ok' | 'warning' | 'exceeded';

export interface NamespaceUsage {
  namespace: string;
  /** Bytes used, each digest counted once. */
  used: number;
  /** null: no limit. */
  limit: number | null;
  /** The warning level in bytes; null without a limit or warning. */
  warning: number | null;
  level: QuotaLevel;
  /** Where the limit comes from: the namespace's own quota, the server's default, or none. */
  source: 'namespace' | 'default' | 'none';
  /** The namespace's own quota as set, if any. */
  quota: QuotaRow | null;
}

export class QuotaService {
  constructor(
    private readonly store: QuotaStore,
    private readonly settings: QuotaSettings,
    private readonly events: RegistryEventSink = noEvents,
  ) {}

  /** The limit and warning level that apply to a namespace with this quota row. */
  effective(q: QuotaRow | null): Pick<NamespaceUsage, 'limit' | 'warning' | 'source'> {
    const own = q !== null && (q.limitBytes !== null || q.warningBytes !== null);
    const limit = own ? q.limitBytes : this.settings.default > 0 ? this.settings.default : null;
    const warning = own && q.warningBytes !== null ? q.warningBytes : limit === null ? null : Math.floor((limit * this.settings.warning) / 100);
    return { limit, warning, source: own ? 'namespace' : limit !== null ? 'default' : 'none' };
  }

  describe(namespace: string, used: number, quota: QuotaRow | null): NamespaceUsage {
    const e = this.effective(quota);
    const level: QuotaLevel = e.limit !== null && used >= e.limit ? 'exceeded' : e.warning !== null && used >= e.warning ? 'warning' : 'ok';
    return { namespace, used, ...e, level, quota };
  }

  async usage(namespace: string): Promise<NamespaceUsage> {
    const [used, quota] = await Promise.all([this.store.usage(namespace), this.store.quota(namespace)]);
    return this.describe(namespace, used, quota);
  }

  /** Sets a namespace's own quota in the caller's transaction (with its audit entry). */
  set(tx: Tx, q: QuotaRow): Promise<void> {
    return this.store.setQuota(tx, q);
  }

  /** Removes a namespace's own quota; false when it had none. */
  remove(tx: Tx, namespace: string): Promise<boolean> {
    return this.store.deleteQuota(tx, namespace);
  }

  /** Namespaces that use storage or have a quota, by name after `last`. */
  async list(limit: number, last?: string): Promise<NamespaceUsage[]> {
    return (await this.store.list(limit, last)).map((r) => this.describe(r.namespace, r.used, r.quota));
  }

  /**
   * In a manifest PUT's transaction, after its blobs were checked and before it is stored:
   * refuses it (403 DENIED) when the digests it uses that the namespace does not use yet
   * would take the namespace over its limit. A manifest the repository already holds adds
   * nothing. Records quota.warning when the push takes usage from below the warning level
   * to at or above it (once per crossing, not on every push above it).
   */
  async admitManifest(tx: Tx, repository: string, m: { digest: string; size: number; blobDigests: string[] }, origin: Origin, now: number): Promise<void> {
    const namespace = namespaceOf(repository);
    // Most namespaces have neither: then a push costs this one lookup.
    const { limit, warning } = this.effective(await this.store.quota(namespace, tx));
    if (limit === null && warning === null) return;
    const held = await tx
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select('m.id')
      .where('r.name', '=', repository)
      .where('m.digest', '=', m.digest)
      .executeTakeFirst();
    if (held) return;
    const adds = await this.store.unusedBytes(tx, namespace, [m.digest, ...m.blobDigests], new Map([[m.digest, m.size]]));
    if (adds === 0) return;
    const used = await this.store.usage(namespace, tx);
    if (limit !== null && used + adds > limit) throw exceeded(namespace, used, limit, adds);
    if (warning !== null && used < warning && used + adds >= warning) {
      await this.events.record(tx, [{ type: 'quota.warning', repository, ...origin, at: now, quota: { namespace, used: used + adds, warning, limit } }]);
    }
  }

  /**
   * At an upload's commit, outside any transaction: refuses early (before the client sends
   * the rest of its image) a blob that alone would take the namespace over its limit. Not
   * the rule itself, which the manifest PUT enforces; blobs no manifest uses count nothing.
   */
  async admitBlob(repository: string, digest: string, size: number): Promise<void> {
    const namespace = namespaceOf(repository);
    const { limit } = this.effective(await this.store.quota(namespace));
    if (limit === null) return;
    const used = await this.store.usage(namespace);
    if (used + size <= limit || (await this.store.uses(namespace, digest))) return;
    throw exceeded(namespace, used, limit, size);
  }
}

function exceeded(namespace: string, used: number, limit: number, adds: number): RegistryError {
  return new RegistryError(
    'DENIED',
    `quota exceeded: namespace ${namespace} uses ${formatBytes(used)} of ${formatBytes(limit)}; this push needs ${formatBytes(adds)} more`,
    { detail: { namespace, used, limit, requested: adds } },
  );
}
