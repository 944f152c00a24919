// SQL for organisations, their members (owners and members) and teams.
import type { MetadataDb, Db, Tx } from '../database.js';
import type { Permission } from '../schema.js';
import { releaseNamespace } from './users.js';

export class OrgStore {
  private readonly db: Db;

  constructor(meta: MetadataDb) {
    this.db = meta.db;
  }

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
    await releaseNamespace(tx, name, 'org');
  }

  async setMember(tx: Tx, orgId: number, userId: number, role: 'owner' | 'member'): Promise<void> {
    await tx
      .insertInto('org_members')
      .values({ org_id: orgId, user_id: userId, role })
      .onConflict((oc) => oc.columns(['org_id', 'user_id']).doUpdateSet({ role }))
      .execute();
  }

  async removeMember(tx: Tx, orgId: number, userId: number): Promise<boolean> {
    await tx
      .deleteFrom('team_members')
      .where('user_id', '=', userId)
      .where('team_id', 'in', tx.selectFrom('teams').select('id').where('org_id', '=', orgId))
      .execute();
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

  async ownerCount(orgId: number, tx: Tx = this.db): Promise<number> {
    const r = await tx
      .selectFrom('org_members')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('org_id', '=', orgId)
      .where('role', '=', 'owner')
      .executeTakeFirst();
    return Number(r?.n ?? 0);
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
      const owners = await tx
        .selectFrom('org_members')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('org_id', '=', r.id)
        .where('role', '=', 'owner')
        .executeTakeFirst();
      if (Number(owners?.n ?? 0) <= 1) out.push(r.name);
    }
    return out;
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
    await tx
      .insertInto('team_members')
      .values({ team_id: teamId, user_id: userId })
      .onConflict((oc) => oc.columns(['team_id', 'user_id']).doNothing())
      .execute();
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
}
