// Retention policies (src/retention/) and the facts a run reads: per namespace, the tags with
// push times, the manifests with pull and untagged times, children, subjects and blobs. A run of
// a policy is claimed with a lease (a conditional UPDATE), so replicas never run one at once.
import type { Selectable } from 'kysely';
import { chunks } from './chunks.js';
import type { MetadataDb, Tx } from './database.js';
import type { RetentionPoliciesTable } from './schema.js';
import type { ManifestFact, RepositoryFacts } from '../retention/evaluate.js';
import type { RetentionRule } from '../retention/rules.js';

/** The last real run of a policy. */
export interface RunSummary {
  at: number;
  dryRun: false;
  tagsDeleted: number;
  manifestsDeleted: number;
  bytes: number;
  protected: number;
}

export interface PolicyFields {
  name: string;
  /** One repository of the namespace (full name), or null for all. */
  repository: string | null;
  enabled: boolean;
  rules: RetentionRule[];
}

export interface RetentionPolicy extends PolicyFields {
  id: number;
  namespace: string;
  createdBy: string | null;
  createdAt: number;
  updatedAt: number;
  lastRun: RunSummary | null;
}

/** A manifest as a run gathers it: the evaluator's facts plus what deleting and counting bytes need. */
export interface GatheredManifest extends ManifestFact {
  id: number;
  blobs: string[];
}

type Row = Pick<Selectable<RetentionPoliciesTable>, (typeof COLUMNS)[number]>;

function policyOf(r: Row): RetentionPolicy {
  return {
    id: Number(r.id),
    namespace: r.namespace,
    name: r.name,
    repository: r.repository,
    enabled: Number(r.enabled) === 1,
    rules: JSON.parse(r.rules) as RetentionRule[],
    createdBy: r.created_by,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    lastRun: r.last_run ? (JSON.parse(r.last_run) as RunSummary) : null,
  };
}

const COLUMNS = ['id', 'namespace', 'name', 'repository', 'enabled', 'rules', 'created_by', 'created_at', 'updated_at', 'last_run'] as const;

export class RetentionStore {
  constructor(private readonly meta: MetadataDb) {}

  private get db() {
    return this.meta.db;
  }

  // ---- policies ----

  async list(namespace: string): Promise<RetentionPolicy[]> {
    const rows = await this.db.selectFrom('retention_policies').select(COLUMNS).where('namespace', '=', namespace).orderBy('name').execute();
    return rows.map(policyOf);
  }

  async get(namespace: string, name: string, tx: Tx = this.db): Promise<RetentionPolicy | null> {
    const row = await tx.selectFrom('retention_policies').select(COLUMNS).where('namespace', '=', namespace).where('name', '=', name).executeTakeFirst();
    return row ? policyOf(row) : null;
  }

  /** False when the namespace already has a policy of that name. */
  async create(tx: Tx, namespace: string, f: PolicyFields, createdBy: string | null, now: number): Promise<boolean> {
    const res = await tx
      .insertInto('retention_policies')
      .values({
        namespace,
        name: f.name,
        repository: f.repository,
        enabled: f.enabled ? 1 : 0,
        rules: JSON.stringify(f.rules),
        created_by: createdBy,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.columns(['namespace', 'name']).doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /** Replaces the policy's fields (its name may change). */
  async update(tx: Tx, namespace: string, name: string, f: PolicyFields, now: number): Promise<'updated' | 'missing' | 'taken'> {
    if (!(await this.get(namespace, name, tx))) return 'missing';
    if (f.name !== name && (await this.get(namespace, f.name, tx))) return 'taken';
    const res = await tx
      .updateTable('retention_policies')
      .set({ name: f.name, repository: f.repository, enabled: f.enabled ? 1 : 0, rules: JSON.stringify(f.rules), updated_at: now })
      .where('namespace', '=', namespace)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0 ? 'updated' : 'missing';
  }

  async delete(tx: Tx, namespace: string, name: string): Promise<boolean> {
    const res = await tx.deleteFrom('retention_policies').where('namespace', '=', namespace).where('name', '=', name).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  // ---- runs ----

  /**
   * Claims every enabled policy whose last run (or creation) is at least `interval` old and that no
   * replica holds, in one conditional UPDATE: of two replicas only one gets a policy.
   */
  async claimDue(now: number, interval: number, token: string, leaseMs: number): Promise<RetentionPolicy[]> {
    await this.db
      .updateTable('retention_policies')
      .set({ lease_token: token, lease_until: now + leaseMs })
      .where('enabled', '=', 1)
      .where((eb) => eb(eb.fn.coalesce('last_run_at', 'created_at'), '<=', now - interval))
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .execute();
    const rows = await this.db.selectFrom('retention_policies').select(COLUMNS).where('lease_token', '=', token).orderBy('id').execute();
    return rows.map(policyOf);
  }

  /** Claims one policy for a run on demand, due or not; false when a replica holds it. */
  async claim(id: number, token: string, now: number, leaseMs: number): Promise<boolean> {
    const res = await this.db
      .updateTable('retention_policies')
      .set({ lease_token: token, lease_until: now + leaseMs })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Extends a claim still held by `token`; false when it was lost (it expired and another replica took it). */
  async renew(id: number, token: string, now: number, leaseMs: number): Promise<boolean> {
    const res = await this.db
      .updateTable('retention_policies')
      .set({ lease_until: now + leaseMs })
      .where('id', '=', id)
      .where('lease_token', '=', token)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Ends a claimed run, recording its summary when it finished. */
  async finish(id: number, token: string, summary: RunSummary | null): Promise<void> {
    await this.db
      .updateTable('retention_policies')
      .set({ lease_token: null, lease_until: null, ...(summary ? { last_run_at: summary.at, last_run: JSON.stringify(summary) } : {}) })
      .where('id', '=', id)
      .where('lease_token', '=', token)
      .execute();
  }

  // ---- facts ----

  /** The namespace's repositories (or the one named), each with its tags and manifests: four queries. */
  async facts(namespace: string, repository: string | null): Promise<(RepositoryFacts<GatheredManifest> & { id: number })[]> {
    let repos = this.db.selectFrom('repositories').select(['id', 'name']).where('namespace', '=', namespace);
    let tags = this.db
      .selectFrom('tags as t')
      .innerJoin('repositories as r', 'r.id', 't.repository_id')
      .innerJoin('manifests as m', 'm.id', 't.manifest_id')
      .select(['t.repository_id', 't.name', 't.updated_at', 'm.digest'])
      .where('r.namespace', '=', namespace);
    let manifests = this.db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['m.id', 'm.repository_id', 'm.digest', 'm.size', 'm.subject_digest', 'm.untagged_at', 'm.last_pulled_at'])
      .where('r.namespace', '=', namespace);
    let refs = this.db
      .selectFrom('manifest_references as x')
      .innerJoin('manifests as m', 'm.id', 'x.manifest_id')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['x.manifest_id', 'x.digest', 'x.kind'])
      .where('r.namespace', '=', namespace);
    if (repository !== null) {
      repos = repos.where('name', '=', repository);
      tags = tags.where('r.name', '=', repository);
      manifests = manifests.where('r.name', '=', repository);
      refs = refs.where('r.name', '=', repository);
    }
    // Read in this order, a manifest pushed meanwhile looks newer than it is, never older.
    const repoRows = await repos.orderBy('name').execute();
    const tagRows = await tags.execute();
    const manifestRows = await manifests.execute();
    const refRows = await refs.execute();

    const byId = new Map<number, GatheredManifest>();
    const out = new Map(
      repoRows.map((r) => [Number(r.id), { id: Number(r.id), name: r.name, tags: [] as RepositoryFacts['tags'], manifests: [] as GatheredManifest[] }]),
    );
    for (const m of manifestRows) {
      const repo = out.get(Number(m.repository_id));
      if (!repo) continue;
      const g: GatheredManifest = {
        id: Number(m.id),
        digest: m.digest,
        size: Number(m.size),
        untaggedAt: m.untagged_at === null ? null : Number(m.untagged_at),
        pulledAt: m.last_pulled_at === null ? null : Number(m.last_pulled_at),
        subject: m.subject_digest,
        children: [],
        blobs: [],
      };
      byId.set(g.id, g);
      repo.manifests.push(g);
    }
    for (const x of refRows) {
      const m = byId.get(Number(x.manifest_id));
      if (m) (x.kind === 'manifest' ? m.children : m.blobs).push(x.digest);
    }
    for (const t of tagRows) out.get(Number(t.repository_id))?.tags.push({ name: t.name, digest: t.digest, pushedAt: Number(t.updated_at) });
    return [...out.values()];
  }

  /**
   * What collection frees once `gone` (manifests) are deleted: their bodies and blobs, each digest
   * once, less what a manifest not in `gone` (in any repository) still is or references.
   */
  async freedBytes(gone: GatheredManifest[]): Promise<number> {
    if (gone.length === 0) return 0;
    const goneIds = new Set(gone.map((m) => m.id));
    const sizes = new Map<string, number>();
    for (const m of gone) sizes.set(m.digest, m.size);
    const blobs = [...new Set(gone.flatMap((m) => m.blobs))].filter((d) => !sizes.has(d));
    for (const chunk of chunks(blobs, 500)) {
      for (const b of await this.db.selectFrom('blobs').select(['digest', 'size']).where('digest', 'in', chunk).execute()) sizes.set(b.digest, Number(b.size));
    }
    const digests = [...sizes.keys()];
    for (const chunk of chunks(digests, 500)) {
      const users = await this.db.selectFrom('manifest_references').select(['manifest_id', 'digest']).where('digest', 'in', chunk).execute();
      const bodies = await this.db.selectFrom('manifests').select(['id', 'digest']).where('digest', 'in', chunk).execute();
      for (const u of users) if (!goneIds.has(Number(u.manifest_id))) sizes.delete(u.digest);
      for (const b of bodies) if (!goneIds.has(Number(b.id))) sizes.delete(b.digest);
    }
    let bytes = 0;
    for (const s of sizes.values()) bytes += s;
    return bytes;
  }

  // ---- checks inside a deletion's transaction ----

  /** The tag still points at `digest`. */
  async tagAt(tx: Tx, repositoryId: number, tag: string, digest: string): Promise<boolean> {
    const row = await tx
      .selectFrom('tags as t')
      .innerJoin('manifests as m', 'm.id', 't.manifest_id')
      .select('m.digest')
      .where('t.repository_id', '=', repositoryId)
      .where('t.name', '=', tag)
      .executeTakeFirst();
    return row?.digest === digest;
  }

  /**
   * The manifest may still go as untagged: untagged since `before` or earlier, listed by no
   * manifest of the repository, and its subject (if any) no longer there.
   */
  async stillUntagged(tx: Tx, repositoryId: number, digest: string, before: number): Promise<boolean> {
    const m = await tx
      .selectFrom('manifests')
      .select(['untagged_at', 'subject_digest'])
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    if (!m || m.untagged_at === null || Number(m.untagged_at) > before) return false;
    const parent = await tx
      .selectFrom('manifest_references as x')
      .innerJoin('manifests as p', 'p.id', 'x.manifest_id')
      .select('p.id')
      .where('p.repository_id', '=', repositoryId)
      .where('x.kind', '=', 'manifest')
      .where('x.digest', '=', digest)
      .limit(1)
      .executeTakeFirst();
    if (parent) return false;
    if (m.subject_digest === null) return true;
    const subject = await tx
      .selectFrom('manifests')
      .select('id')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', m.subject_digest)
      .executeTakeFirst();
    return !subject;
  }
}
