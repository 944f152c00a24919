// SQL for accounts: users, organisations, teams, collaborators, repository
// visibility, access and refresh tokens, signing keys, login failures and the
// audit log. No HTTP, no policy (that is auth/policy.ts).
import { sql } from 'kysely';
import type { MetadataDb, Tx } from './database.js';
import type { Permission } from './schema.js';
import { visibleTo } from './visibility.js';

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

export interface RepositoryRow {
  id: number;
  name: string;
  namespace: string;
  visibility: 'public' | 'private';
}

export interface AccessTokenRow {
  id: number;
  userId: number;
  name: string;
  scopes: string[];
  resource: string | null;
  expiresAt: number | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface AuditEntry {
  actor: string | null;
  action: string;
  target?: string | null;
  address?: string | null;
  detail?: Record<string, unknown>;
}

export interface SigningKeyRow {
  kid: string;
  alg: string;
  privatePem: string;
  publicJwk: string;
  createdAt: number;
  retiredAt: number | null;
}

const userColumns = ['id', 'username', 'password_hash', 'email', 'is_admin', 'robot_org_id', 'disabled', 'created_at', 'password_changed_at'] as const;

function toUser(r: any): UserRow {
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

function toToken(r: any): AccessTokenRow {
  return {
    id: Number(r.id),
    userId: Number(r.user_id),
    name: r.name,
    scopes: String(r.scopes).split(',').filter(Boolean),
    resource: r.resource,
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    createdAt: Number(r.created_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}

export class AccountStore {
  constructor(readonly meta: MetadataDb) {}

  private get db() {
    return this.meta.db;
  }

  // ---- namespaces, users ----

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

  async countAdmins(tx: Tx = this.db): Promise<number> {
    const r = await tx.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).where('is_admin', '=', 1).where('disabled', '=', 0).executeTakeFirst();
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
    if (u.robotOrgId === null) await this.releaseNamespace(tx, u.username, 'user');
  }

  /**
   * Frees a name for reuse only when no repository lives under it: otherwise whoever
   * registered the name next would own the old (possibly private) repositories.
   */
  private async releaseNamespace(tx: Tx, name: string, kind: 'user' | 'org'): Promise<void> {
    const repo = await tx.selectFrom('repositories').select('id').where('namespace', '=', name).limit(1).executeTakeFirst();
    if (!repo) await tx.deleteFrom('namespaces').where('name', '=', name).where('kind', '=', kind).execute();
  }

  // ---- organisations and teams ----

  async createOrg(tx: Tx, name: string, now: number): Promise<number> {
    const row = await tx.insertInto('organizations').values({ name, created_at: now }).returning('id').executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async orgByName(name: string, tx: Tx = this.db): Promise<{ id: number; name: string; createdAt: number } | null> {
    const r = await tx.selectFrom('organizations').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? { id: Number(r.id), name: r.name, createdAt: Number(r.created_at) } : null;
  }

  async orgById(id: number, tx: Tx = this.db): Promise<{ id: number; name: string } | null> {
    const r = await tx.selectFrom('organizations').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
    return r ? { id: Number(r.id), name: r.name } : null;
  }

  /** Organisations the user belongs to (all of them for `userId` null). */
  async listOrgs(userId: number | null): Promise<{ name: string; role: string | null }[]> {
    if (userId === null) {
      return (await this.db.selectFrom('organizations').select('name').orderBy('name').execute()).map((r) => ({ name: r.name, role: null }));
    }
    const rows = await this.db
      .selectFrom('organizations as o')
      .innerJoin('org_members as m', 'm.org_id', 'o.id')
      .select(['o.name', 'm.role'])
      .where('m.user_id', '=', userId)
      .orderBy('o.name')
      .execute();
    return rows.map((r) => ({ name: r.name, role: r.role }));
  }

  async deleteOrg(tx: Tx, id: number, name: string): Promise<void> {
    await tx.deleteFrom('users').where('robot_org_id', '=', id).execute();
    await tx.deleteFrom('organizations').where('id', '=', id).execute();
    await this.releaseNamespace(tx, name, 'org');
  }

  async setMember(tx: Tx, orgId: number, userId: number, role: 'owner' | 'member'): Promise<void> {
    await tx
      .insertInto('org_members')
      .values({ org_id: orgId, user_id: userId, role })
      .onConflict((oc) => oc.columns(['org_id', 'user_id']).doUpdateSet({ role }))
      .execute();
  }

  async removeMember(tx: Tx, orgId: number, userId: number): Promise<boolean> {
    await tx.deleteFrom('team_members').where('user_id', '=', userId).where('team_id', 'in', tx.selectFrom('teams').select('id').where('org_id', '=', orgId)).execute();
    const res = await tx.deleteFrom('org_members').where('org_id', '=', orgId).where('user_id', '=', userId).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async members(orgId: number, tx: Tx = this.db): Promise<{ username: string; role: 'owner' | 'member' }[]> {
    return tx
      .selectFrom('org_members as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select(['u.username', 'm.role'])
      .where('m.org_id', '=', orgId)
      .orderBy('u.username')
      .execute();
  }

  async orgRole(orgName: string, userId: number, tx: Tx = this.db): Promise<'owner' | 'member' | null> {
    const r = await tx
      .selectFrom('org_members as m')
      .innerJoin('organizations as o', 'o.id', 'm.org_id')
      .select('m.role')
      .where('o.name', '=', orgName)
      .where('m.user_id', '=', userId)
      .executeTakeFirst();
    return r ? r.role : null;
  }

  async createTeam(tx: Tx, orgId: number, name: string, permission: Permission, now: number): Promise<number> {
    const row = await tx.insertInto('teams').values({ org_id: orgId, name, permission, created_at: now }).returning('id').executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async team(orgId: number, name: string, tx: Tx = this.db): Promise<{ id: number; name: string; permission: Permission } | null> {
    const r = await tx.selectFrom('teams').select(['id', 'name', 'permission']).where('org_id', '=', orgId).where('name', '=', name).executeTakeFirst();
    return r ? { id: Number(r.id), name: r.name, permission: r.permission } : null;
  }

  async teams(orgId: number): Promise<{ name: string; permission: Permission; members: string[] }[]> {
    const teams = await this.db.selectFrom('teams').select(['id', 'name', 'permission']).where('org_id', '=', orgId).orderBy('name').execute();
    const rows = await this.db
      .selectFrom('team_members as tm')
      .innerJoin('teams as t', 't.id', 'tm.team_id')
      .innerJoin('users as u', 'u.id', 'tm.user_id')
      .select(['t.id', 'u.username'])
      .where('t.org_id', '=', orgId)
      .orderBy('u.username')
      .execute();
    return teams.map((t) => ({ name: t.name, permission: t.permission, members: rows.filter((r) => Number(r.id) === Number(t.id)).map((r) => r.username) }));
  }

  async updateTeam(tx: Tx, teamId: number, permission: Permission): Promise<void> {
    await tx.updateTable('teams').set({ permission }).where('id', '=', teamId).execute();
  }

  async deleteTeam(tx: Tx, teamId: number): Promise<void> {
    await tx.deleteFrom('teams').where('id', '=', teamId).execute();
  }

  async addTeamMember(tx: Tx, teamId: number, userId: number): Promise<void> {
    await tx.insertInto('team_members').values({ team_id: teamId, user_id: userId }).onConflict((oc) => oc.columns(['team_id', 'user_id']).doNothing()).execute();
  }

  async removeTeamMember(tx: Tx, teamId: number, userId: number): Promise<boolean> {
    const res = await tx.deleteFrom('team_members').where('team_id', '=', teamId).where('user_id', '=', userId).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async teamPermissions(orgName: string, userId: number, tx: Tx = this.db): Promise<Permission[]> {
    const rows = await tx
      .selectFrom('teams as t')
      .innerJoin('team_members as tm', 'tm.team_id', 't.id')
      .innerJoin('organizations as o', 'o.id', 't.org_id')
      .select('t.permission')
      .where('o.name', '=', orgName)
      .where('tm.user_id', '=', userId)
      .execute();
    return rows.map((r) => r.permission);
  }

  // ---- repositories, collaborators ----

  async repository(name: string, tx: Tx = this.db): Promise<RepositoryRow | null> {
    const r = await tx.selectFrom('repositories').select(['id', 'name', 'namespace', 'visibility']).where('name', '=', name).executeTakeFirst();
    return r ? { id: Number(r.id), name: r.name, namespace: r.namespace, visibility: r.visibility } : null;
  }

  async setVisibility(tx: Tx, repositoryId: number, visibility: 'public' | 'private'): Promise<void> {
    await tx.updateTable('repositories').set({ visibility }).where('id', '=', repositoryId).execute();
  }

  async collaborator(repositoryId: number, userId: number, tx: Tx = this.db): Promise<Permission | null> {
    const r = await tx.selectFrom('collaborators').select('permission').where('repository_id', '=', repositoryId).where('user_id', '=', userId).executeTakeFirst();
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
  async visibleRepositories(who: { userId: number | null; all: boolean; username?: string }, limit: number, last?: string, prefix?: string): Promise<RepositoryRow[]> {
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

  // ---- access tokens ----

  async createAccessToken(
    tx: Tx,
    t: { userId: number; name: string; tokenHash: string; scopes: string[]; resource: string | null; expiresAt: number | null },
    now: number,
  ): Promise<number> {
    const row = await tx
      .insertInto('access_tokens')
      .values({ user_id: t.userId, name: t.name, token_hash: t.tokenHash, scopes: t.scopes.join(','), resource: t.resource, expires_at: t.expiresAt, created_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async accessTokenByHash(hash: string): Promise<AccessTokenRow | null> {
    const r = await this.db.selectFrom('access_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
    return r ? toToken(r) : null;
  }

  async accessToken(id: number, tx: Tx = this.db): Promise<AccessTokenRow | null> {
    const r = await tx.selectFrom('access_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toToken(r) : null;
  }

  async accessTokens(userId: number): Promise<AccessTokenRow[]> {
    return (await this.db.selectFrom('access_tokens').selectAll().where('user_id', '=', userId).orderBy('id').execute()).map(toToken);
  }

  async touchAccessToken(id: number, now: number): Promise<void> {
    await this.db.updateTable('access_tokens').set({ last_used_at: now }).where('id', '=', id).execute();
  }

  /** Revokes the token and every refresh token its logins produced. */
  async revokeAccessToken(tx: Tx, id: number, now: number): Promise<void> {
    await tx.updateTable('access_tokens').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).execute();
    await tx.updateTable('refresh_tokens').set({ revoked_at: now }).where('access_token_id', '=', id).where('revoked_at', 'is', null).execute();
  }

  /** Robot secrets are access tokens too; a robot's secret is replaced, never listed. */
  async revokeUserTokens(tx: Tx, userId: number, now: number): Promise<void> {
    await tx.updateTable('access_tokens').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
    await tx.updateTable('refresh_tokens').set({ revoked_at: now }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
  }

  // ---- refresh tokens ----

  async createRefreshToken(tx: Tx, r: { tokenHash: string; userId: number; accessTokenId: number | null; clientId: string; expiresAt: number }, now: number): Promise<void> {
    await tx
      .insertInto('refresh_tokens')
      .values({ token_hash: r.tokenHash, user_id: r.userId, access_token_id: r.accessTokenId, client_id: r.clientId, created_at: now, expires_at: r.expiresAt })
      .execute();
  }

  async refreshToken(hash: string): Promise<{ userId: number; accessTokenId: number | null; clientId: string; createdAt: number; expiresAt: number; revokedAt: number | null } | null> {
    const r = await this.db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
    if (!r) return null;
    return {
      userId: Number(r.user_id),
      accessTokenId: r.access_token_id === null ? null : Number(r.access_token_id),
      clientId: r.client_id,
      createdAt: Number(r.created_at),
      expiresAt: Number(r.expires_at),
      revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
    };
  }

  // ---- signing keys ----

  async signingKeys(): Promise<SigningKeyRow[]> {
    const rows = await this.db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').execute();
    return rows.map((r) => ({ kid: r.kid, alg: r.alg, privatePem: r.private_pem, publicJwk: r.public_jwk, createdAt: Number(r.created_at), retiredAt: r.retired_at === null ? null : Number(r.retired_at) }));
  }

  /** Inserts a key unless one with the kid exists (replicas racing at first start). */
  /** Replaces how a key's private half is stored (plain PEM → sealed). */
  async setSigningKeyPrivate(tx: Tx, kid: string, privatePem: string): Promise<void> {
    await tx.updateTable('signing_keys').set({ private_pem: privatePem }).where('kid', '=', kid).execute();
  }

  async addSigningKey(tx: Tx, k: Omit<SigningKeyRow, 'retiredAt'>): Promise<void> {
    await tx
      .insertInto('signing_keys')
      .values({ kid: k.kid, alg: k.alg, private_pem: k.privatePem, public_jwk: k.publicJwk, created_at: k.createdAt })
      .onConflict((oc) => oc.column('kid').doNothing())
      .execute();
  }

  async retireSigningKeys(tx: Tx, exceptKid: string, now: number): Promise<void> {
    await tx.updateTable('signing_keys').set({ retired_at: now }).where('kid', '!=', exceptKid).where('retired_at', 'is', null).execute();
  }

  async dropSigningKeysRetiredBefore(tx: Tx, before: number): Promise<void> {
    await tx.deleteFrom('signing_keys').where('retired_at', '<', before).execute();
  }

  // ---- login failures ----

  /** Failures for `key` inside the window that ends now. */
  async failures(key: string, now: number, windowMs: number, tx: Tx = this.db): Promise<{ count: number; windowStart: number }> {
    const r = await tx.selectFrom('login_failures').select(['count', 'window_start']).where('key', '=', key).executeTakeFirst();
    if (!r || Number(r.window_start) + windowMs <= now) return { count: 0, windowStart: now };
    return { count: Number(r.count), windowStart: Number(r.window_start) };
  }

  /** Counts a failure atomically (one statement, safe across replicas). */
  async recordFailure(tx: Tx, key: string, now: number, windowMs: number): Promise<void> {
    await tx
      .insertInto('login_failures')
      .values({ key, window_start: now, count: 1 })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          count: sql`case when login_failures.window_start + ${windowMs} <= ${now} then 1 else login_failures.count + 1 end`,
          window_start: sql`case when login_failures.window_start + ${windowMs} <= ${now} then ${now} else login_failures.window_start end`,
        }),
      )
      .execute();
  }

  /** Takes back one counted attempt (a login that succeeded). */
  async forgiveFailure(tx: Tx, key: string): Promise<void> {
    await tx.updateTable('login_failures').set({ count: sql`count - 1` }).where('key', '=', key).where('count', '>', 0).execute();
  }

  async clearFailures(tx: Tx, key: string): Promise<void> {
    await tx.deleteFrom('login_failures').where('key', '=', key).execute();
  }

  // ---- audit ----

  async audit(tx: Tx, e: AuditEntry, now: number): Promise<void> {
    await tx
      .insertInto('audit_log')
      .values({ at: now, actor: e.actor, action: e.action, target: e.target ?? null, address: e.address ?? null, detail: e.detail ? JSON.stringify(e.detail) : null })
      .execute();
  }

  async auditLog(limit: number, beforeId?: number): Promise<{ id: number; at: number; actor: string | null; action: string; target: string | null; address: string | null; detail: unknown }[]> {
    let q = this.db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(limit);
    if (beforeId !== undefined) q = q.where('id', '<', beforeId);
    return (await q.execute()).map((r) => ({
      id: Number(r.id),
      at: Number(r.at),
      actor: r.actor,
      action: r.action,
      target: r.target,
      address: r.address,
      detail: r.detail ? JSON.parse(r.detail) : null,
    }));
  }

  // ---- REST API additions ----

  /** Repositories whose names start with the namespace: a deleted owner keeps its name reserved while any remain. */
  async namespaceHasRepositories(name: string, tx: Tx = this.db): Promise<boolean> {
    const r = await tx.selectFrom('repositories').select('id').where('namespace', '=', name).limit(1).executeTakeFirst();
    return r !== undefined;
  }

  /** Organisations in which the user is the only owner (they would be left without one). */
  async soleOwnerOf(userId: number, tx: Tx = this.db): Promise<string[]> {
    const rows = await tx
      .selectFrom('org_members as m')
      .innerJoin('organizations as o', 'o.id', 'm.org_id')
      .select(['o.name', 'o.id'])
      .where('m.user_id', '=', userId)
      .where('m.role', '=', 'owner')
      .execute();
    const out: string[] = [];
    for (const r of rows) {
      const owners = await tx.selectFrom('org_members').select((eb) => eb.fn.countAll().as('n')).where('org_id', '=', r.id).where('role', '=', 'owner').executeTakeFirst();
      if (Number(owners?.n ?? 0) <= 1) out.push(r.name);
    }
    return out;
  }

  async ownerCount(orgId: number, tx: Tx = this.db): Promise<number> {
    const r = await tx.selectFrom('org_members').select((eb) => eb.fn.countAll().as('n')).where('org_id', '=', orgId).where('role', '=', 'owner').executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  async robots(orgId: number): Promise<UserRow[]> {
    return (await this.db.selectFrom('users').select(userColumns).where('robot_org_id', '=', orgId).orderBy('username').execute()).map(toUser);
  }
}
