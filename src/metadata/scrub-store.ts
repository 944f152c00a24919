// SQL for `berth scrub` (src/gc/scrub.ts): walking every object the database knows (blob rows,
// manifest bodies without one), finding what a lost object breaks, and forgetting a lost object
// so that HEAD answers 404 and clients upload it again.
import type { MetadataDb, Tx } from './database.js';
import { RegistryStore } from './registry-store.js';

/** An object storage must hold: a blob row, or a manifest whose body has no blob row (older data). */
export interface KnownObject {
  digest: string;
  size: number;
}

/** A manifest that cannot be pulled whole, by repository, with its tags. */
export interface ManifestUse {
  repository: string;
  digest: string;
  tags: string[];
}

/** What forgetting one object removed. */
export interface Forgotten {
  /** Repositories whose manifest with this digest was removed (its body was the object). */
  manifestRepositories: string[];
  blobRows: number;
  links: number;
  manifests: number;
  tags: number;
}

export class ScrubStore {
  private readonly registry: RegistryStore;

  constructor(readonly meta: MetadataDb) {
    this.registry = new RegistryStore(meta);
  }

  private get db() {
    return this.meta.db;
  }

  /** How many objects `objects()` will yield (for progress). */
  async countObjects(): Promise<number> {
    const blobs = await this.db
      .selectFrom('blobs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('state', '=', 'live')
      .executeTakeFirstOrThrow();
    const bodies = await this.bodiesWithoutRow()
      .select((eb) => eb.fn.count<number>('m.digest').distinct().as('n'))
      .executeTakeFirstOrThrow();
    return Number(blobs.n) + Number(bodies.n);
  }

  /**
   * Every object the database knows, in pages read one after another (a page is a short read, so a
   * scrub of millions of rows holds no transaction open). Rows added after their page was read are
   * not seen; rows removed meanwhile are re-checked by the caller before it reports them.
   */
  async *objects(pageSize = 1000): AsyncGenerator<KnownObject> {
    yield* this.blobRows(undefined, undefined, pageSize);
    yield* this.orphanBodies();
  }

  /** Blob rows with `from <= digest < to` (either open), by digest, in pages. */
  async *blobRows(from?: string, to?: string, pageSize = 1000): AsyncGenerator<KnownObject> {
    let last: string | undefined;
    for (;;) {
      // Blobs being collected ('deleting') are the collector's: their bytes may already be gone.
      let q = this.db.selectFrom('blobs').select(['digest', 'size']).where('state', '=', 'live').orderBy('digest').limit(pageSize);
      if (last !== undefined) q = q.where('digest', '>', last);
      else if (from !== undefined) q = q.where('digest', '>=', from);
      if (to !== undefined) q = q.where('digest', '<', to);
      const rows = await q.execute();
      for (const r of rows) yield { digest: r.digest, size: Number(r.size) };
      if (rows.length < pageSize) break;
      last = rows[rows.length - 1].digest;
    }
  }

  /** Manifests recorded before their bodies had blob rows: few or none, read at once. */
  async *orphanBodies(): AsyncGenerator<KnownObject> {
    const rows = await this.bodiesWithoutRow().select(['m.digest', 'm.size']).distinct().orderBy('m.digest').execute();
    for (const r of rows) yield { digest: r.digest, size: Number(r.size) };
  }

  private bodiesWithoutRow() {
    return this.db
      .selectFrom('manifests as m')
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('blobs as b').select('b.digest').whereRef('b.digest', '=', 'm.digest'))));
  }

  /**
   * The size the database records for the object now, or null when storage need not hold it: no
   * longer known, being collected, or protected by a writer that is putting its bytes there (its
   * row comes first: src/gc/blob-guard.ts).
   */
  async knownSize(digest: string, now: number, tx: Tx = this.db): Promise<number | null> {
    if (await this.beingWritten(tx, digest, now)) return null;
    const blob = await tx.selectFrom('blobs').select(['size', 'state']).where('digest', '=', digest).executeTakeFirst();
    if (blob) return blob.state === 'live' ? Number(blob.size) : null;
    const m = await tx.selectFrom('manifests').select('size').where('digest', '=', digest).limit(1).executeTakeFirst();
    return m ? Number(m.size) : null;
  }

  /** Whether a writer protects the digest now (it is writing the bytes). */
  async beingWritten(tx: Tx, digest: string, now: number): Promise<boolean> {
    const p = await tx.selectFrom('gc_blob_protections').select('token').where('digest', '=', digest).where('until', '>', now).limit(1).executeTakeFirst();
    return p !== undefined;
  }

  /** Whether some repository holds a manifest with this digest (its body is the object). */
  async isManifest(digest: string): Promise<boolean> {
    const row = await this.db.selectFrom('manifests').select('id').where('digest', '=', digest).limit(1).executeTakeFirst();
    return row !== undefined;
  }

  /** Repositories that may read the object as a blob. */
  async linkedRepositories(digest: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('repository_blobs as rb')
      .innerJoin('repositories as r', 'r.id', 'rb.repository_id')
      .select('r.name')
      .where('rb.digest', '=', digest)
      .orderBy('r.name')
      .execute();
    return rows.map((r) => r.name);
  }

  /**
   * Manifests that cannot be pulled whole without the object: those whose body it is, those that
   * reference it (a layer, a config, an index's child), and the indexes of the same repository
   * that list one of those.
   */
  async manifestsNeeding(digest: string): Promise<ManifestUse[]> {
    const direct = await this.db
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['m.id', 'm.repository_id', 'm.digest', 'r.name'])
      .where((eb) =>
        eb.or([
          eb('m.digest', '=', digest),
          eb('m.id', 'in', eb.selectFrom('manifest_references as mr').select('mr.manifest_id').where('mr.digest', '=', digest)),
        ]),
      )
      .execute();
    const byId = new Map(direct.map((m) => [Number(m.id), m]));
    for (const m of direct) {
      const parents = await this.db
        .selectFrom('manifest_references as mr')
        .innerJoin('manifests as p', 'p.id', 'mr.manifest_id')
        .innerJoin('repositories as r', 'r.id', 'p.repository_id')
        .select(['p.id', 'p.repository_id', 'p.digest', 'r.name'])
        .where('mr.digest', '=', m.digest)
        .where('mr.kind', '=', 'manifest')
        .where('p.repository_id', '=', m.repository_id)
        .execute();
      for (const p of parents) byId.set(Number(p.id), p);
    }
    if (byId.size === 0) return [];
    const tags = new Map<number, string[]>();
    const ids = [...byId.keys()];
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db
        .selectFrom('tags')
        .select(['manifest_id', 'name'])
        .where('manifest_id', 'in', ids.slice(i, i + 500))
        .orderBy('name')
        .execute();
      for (const t of rows) tags.set(Number(t.manifest_id), [...(tags.get(Number(t.manifest_id)) ?? []), t.name]);
    }
    return [...byId.entries()]
      .map(([id, m]) => ({ repository: m.name, digest: m.digest, tags: tags.get(id) ?? [] }))
      .sort((a, b) => (a.repository === b.repository ? (a.digest < b.digest ? -1 : 1) : a.repository < b.repository ? -1 : 1));
  }

  /**
   * Forgets an object storage lost, in `tx`: every repository's link to it and its blob row, so
   * HEAD answers 404 and the next push uploads it again; and when it is a manifest body, that
   * manifest in every repository with its tags (a manifest without a body cannot be served, and
   * HEAD must not tell clients it is there). Manifests that merely reference the object stay:
   * they pull again once it is pushed again.
   */
  async forget(tx: Tx, digest: string, now: number): Promise<Forgotten> {
    const manifests = await tx
      .selectFrom('manifests as m')
      .innerJoin('repositories as r', 'r.id', 'm.repository_id')
      .select(['m.id', 'm.repository_id', 'r.name'])
      .where('m.digest', '=', digest)
      .orderBy('r.name')
      .execute();
    let tags = 0;
    for (const m of manifests) {
      const n = await tx
        .selectFrom('tags')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('manifest_id', '=', m.id)
        .executeTakeFirstOrThrow();
      tags += Number(n.n);
      await this.registry.deleteManifest(tx, Number(m.repository_id), digest, now);
    }
    const links = await tx.deleteFrom('repository_blobs').where('digest', '=', digest).executeTakeFirst();
    const rows = await tx.deleteFrom('blobs').where('digest', '=', digest).executeTakeFirst();
    return {
      manifestRepositories: manifests.map((m) => m.name),
      blobRows: Number(rows.numDeletedRows),
      links: Number(links.numDeletedRows),
      manifests: manifests.length,
      tags,
    };
  }
}
