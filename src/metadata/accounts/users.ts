// SQL for users and the name space they share with organisations (a name is owned by one
// of them). Robots are users that belong to an organisation.
import type { Selectable } from 'kysely';
import type { MetadataDb, Db, Tx } from '../database.js';
import type { UsersTable } from '../schema.js';

export interface UserRow {
  id: number;
  username: string;
  passwordHash: string;
  email: string | null;
  isAdmin: boolean;
  robotOrgId: number | null;
  disabled: boolean;
  createdAt: number;
  passwordChangedAt: number;
}

const userColumns = ['id', 'username', 'password_hash', 'email', 'is_admin', 'robot_org_id', 'disabled', 'created_at', 'password_changed_at'] as const;

function toUser(r: Pick<Selectable<UsersTable>, (typeof userColumns)[number]>): UserRow {
  return {
    id: Number(r.id),
    username: r.username,
    passwordHash: r.password_hash,
    email: r.email,
    isAdmin: Number(r.is_admin) === 1,
    robotOrgId: r.robot_org_id === null ? null : Number(r.robot_org_id),
    disabled: Number(r.disabled) === 1,
    createdAt: Number(r.created_at),
    passwordChangedAt: Number(r.password_changed_at),
  };
}

export class UserStore {
  private readonly db: Db;

  constructor(meta: MetadataDb) {
    this.db = meta.db;
  }

  async namespaceKind(name: string, tx: Tx = this.db): Promise<'user' | 'org' | null> {
    const row = await tx.selectFrom('namespaces').select('kind').where('name', '=', name).executeTakeFirst();
    return row ? row.kind : null;
  }

  /** Claims a namespace; false when the name is taken. */
  async claimNamespace(tx: Tx, name: string, kind: 'user' | 'org', now: number): Promise<boolean> {
    const res = await tx
      .insertInto('namespaces')
      .values({ name, kind, created_at: now })
      .onConflict((oc) => oc.column('name').doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  /** Repositories whose names start with the namespace: a deleted owner keeps its name reserved while any remain. */
  async namespaceHasRepositories(name: string, tx: Tx = this.db): Promise<boolean> {
    const r = await tx.selectFrom('repositories').select('id').where('namespace', '=', name).limit(1).executeTakeFirst();
    return r !== undefined;
  }

  async createUser(
    tx: Tx,
    u: { username: string; passwordHash: string; email?: string | null; isAdmin?: boolean; robotOrgId?: number | null },
    now: number,
  ): Promise<number> {
    const row = await tx
      .insertInto('users')
      .values({
        username: u.username,
        password_hash: u.passwordHash,
        email: u.email ?? null,
        is_admin: u.isAdmin ? 1 : 0,
        robot_org_id: u.robotOrgId ?? null,
        created_at: now,
        password_changed_at: now,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async userByName(username: string, tx: Tx = this.db): Promise<UserRow | null> {
    const r = await tx.selectFrom('users').select(userColumns).where('username', '=', username).executeTakeFirst();
    return r ? toUser(r) : null;
  }

  async userById(id: number, tx: Tx = this.db): Promise<UserRow | null> {
    const r = await tx.selectFrom('users').select(userColumns).where('id', '=', id).executeTakeFirst();
    return r ? toUser(r) : null;
  }

  async listUsers(limit: number, last?: string): Promise<UserRow[]> {
    let q = this.db.selectFrom('users').select(userColumns).orderBy('username').limit(limit);
    if (last !== undefined) q = q.where('username', '>', last);
    return (await q.execute()).map(toUser);
  }

  async robots(orgId: number): Promise<UserRow[]> {
    return (await this.db.selectFrom('users').select(userColumns).where('robot_org_id', '=', orgId).orderBy('username').execute()).map(toUser);
  }

  async countAdmins(tx: Tx = this.db): Promise<number> {
    const r = await tx
      .selectFrom('users')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('is_admin', '=', 1)
      .where('disabled', '=', 0)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  async updateUser(tx: Tx, id: number, patch: { email?: string | null; isAdmin?: boolean; disabled?: boolean }): Promise<void> {
    const set: Record<string, unknown> = {};
    if (patch.email !== undefined) set.email = patch.email;
    if (patch.isAdmin !== undefined) set.is_admin = patch.isAdmin ? 1 : 0;
    if (patch.disabled !== undefined) set.disabled = patch.disabled ? 1 : 0;
    if (Object.keys(set).length) await tx.updateTable('users').set(set).where('id', '=', id).execute();
  }

  /** New password: every refresh token issued before it stops working. */
  async setPassword(tx: Tx, id: number, passwordHash: string, now: number): Promise<void> {
    await tx.updateTable('users').set({ password_hash: passwordHash, password_changed_at: now }).where('id', '=', id).execute();
    await tx.updateTable('refresh_tokens').set({ revoked_at: now }).where('user_id', '=', id).where('revoked_at', 'is', null).execute();
  }

  async deleteUser(tx: Tx, id: number): Promise<void> {
    const u = await this.userById(id, tx);
    if (!u) return;
    await tx.deleteFrom('users').where('id', '=', id).execute();
    if (u.robotOrgId === null) await releaseNamespace(tx, u.username, 'user');
  }
}

/**
 * Frees a name for reuse only when no repository lives under it: otherwise whoever
 * registered the name next would own the old (possibly private) repositories.
 */
export async function releaseNamespace(tx: Tx, name: string, kind: 'user' | 'org'): Promise<void> {
  const repo = await tx.selectFrom('repositories').select('id').where('namespace', '=', name).limit(1).executeTakeFirst();
  if (!repo) await tx.deleteFrom('namespaces').where('name', '=', name).where('kind', '=', kind).execute();
}
