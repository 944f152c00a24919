// SQL for who may reach a repository: its row (namespace, visibility), its collaborators,
// and the repositories a caller can see. The rules themselves are auth/policy.ts and
// ../visibility.ts.
import type { MetadataDb, Db, Tx } from '../database.js';
import type { Permission } from '../schema.js';
import { visibleTo } from '../visibility.js';

export interface RepositoryRow {
  id: number;
  name: string;
  namespace: string;
  visibility: 'public' | 'private';
}

export class RepositoryAccessStore {
  private readonly db: Db;

  constructor(meta: MetadataDb) {
    this.db = meta.db;
  }

  async repository(name: string, tx: Tx = this.db): Promise<RepositoryRow | null> {
    const r = await tx.selectFrom('repositories').select(['id', 'name', 'namespace', 'visibility']).where('name', '=', name).executeTakeFirst();
    return r ? { id: Number(r.id), name: r.name, namespace: r.namespace, visibility: r.visibility } : null;
  }

  async setVisibility(tx: Tx, repositoryId: number, visibility: 'public' | 'private'): Promise<void> {
    await tx.updateTable('repositories').set({ visibility }).where('id', '=', repositoryId).execute();
  }

  async collaborator(repositoryId: number, userId: number, tx: Tx = this.db): Promise<Permission | null> {
    const r = await tx
      .selectFrom('collaborators')
      .select('permission')
      .where('repository_id', '=', repositoryId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return r ? r.permission : null;
  }

  async setCollaborator(tx: Tx, repositoryId: number, userId: number, permission: Permission): Promise<void> {
    await tx
      .insertInto('collaborators')
      .values({ repository_id: repositoryId, user_id: userId, permission })
      .onConflict((oc) => oc.columns(['repository_id', 'user_id']).doUpdateSet({ permission }))
      .execute();
  }

  async removeCollaborator(tx: Tx, repositoryId: number, userId: number): Promise<boolean> {
    const res = await tx.deleteFrom('collaborators').where('repository_id', '=', repositoryId).where('user_id', '=', userId).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async collaborators(repositoryId: number): Promise<{ username: string; permission: Permission }[]> {
    return this.db
      .selectFrom('collaborators as c')
      .innerJoin('users as u', 'u.id', 'c.user_id')
      .select(['u.username', 'c.permission'])
      .where('c.repository_id', '=', repositoryId)
      .orderBy('u.username')
      .execute();
  }

  /**
   * Repositories with at least one manifest that the caller can see, by name after `last`:
   * public ones, those of namespaces the caller belongs to, and those it collaborates on.
   * `userId` null = anonymous; `all` = an administrator.
   */
  async visibleRepositories(
    who: { userId: number | null; all: boolean; username?: string },
    limit: number,
    last?: string,
    prefix?: string,
  ): Promise<RepositoryRow[]> {
    let q = this.db
      .selectFrom('repositories as r')
      .select(['r.id', 'r.name', 'r.namespace', 'r.visibility'])
      .where(({ exists, selectFrom }) => exists(selectFrom('manifests as m').select('m.id').whereRef('m.repository_id', '=', 'r.id')))
      .orderBy('r.name')
      .limit(limit);
    if (last !== undefined) q = q.where('r.name', '>', last);
    // A range, not LIKE: SQLite's LIKE ignores case and needs ESCAPE for a backslash to escape,
    // PostgreSQL's does not; names compare bytewise on both (C collation on PostgreSQL).
    if (prefix !== undefined) q = q.where('r.name', '>=', prefix).where('r.name', '<', `${prefix}\u{10FFFF}`);
    q = q.where((eb) => visibleTo(eb, who));
    return (await q.execute()).map((r) => ({ id: Number(r.id), name: r.name, namespace: r.namespace, visibility: r.visibility }));
  }
}
