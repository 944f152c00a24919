// Organisations and their members. An organisation shares the namespace table
// with users, so its name is free only if no user or organisation holds it.
// Non-members (other than administrators) are told an organisation does not exist.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/policy.js';
import { auditOf, conflict, forbidden, notFound, person, signedIn } from './caller.js';
import { change, type ApiDeps } from './deps.js';
import { accountName, body, listOf, memberSchema, op, orgRole, orgSchema, params } from './schemas.js';

export interface OrgAccess {
  org: { id: number; name: string; createdAt: number };
  role: 'owner' | 'member' | null;
  who: Principal;
}

/**
 * The organisation when the caller may see it (members, administrators) and, with
 * `owner`, change it (owners, administrators signed in with a password).
 */
export async function orgAccess(d: ApiDeps, req: FastifyRequest, name: string, need: 'member' | 'owner'): Promise<OrgAccess> {
  const who = need === 'owner' ? person(req) : signedIn(req);
  const org = await d.stores.orgs.orgByName(name);
  const role = org ? await d.stores.orgs.orgRole(name, who.userId) : null;
  if (!org || (!role && !who.isAdmin)) throw notFound('organisation');
  if (need === 'owner' && role !== 'owner' && !who.isAdmin) throw forbidden('organisation owners only');
  return { org, role, who };
}

const orgParam = params({ org: accountName });
const memberParam = params({ org: accountName, user: accountName });

export function registerOrgRoutes(api: FastifyInstance, d: ApiDeps): void {
  api.post<{ Body: { name: string } }>(
    '/orgs',
    {
      schema: op('organisations', 'Create an organisation; the caller becomes its owner', {
        body: body({ name: accountName }, ['name']),
        ok: { 201: orgSchema },
        errors: [400, 403, 409],
      }),
    },
    async (req, reply) => {
      const who = person(req);
      const name = req.body.name;
      const createdAt = await change(d, auditOf(req, 'org.create', name), async (tx, now) => {
        if (!(await d.stores.users.claimNamespace(tx, name, 'org', now))) throw conflict('that name is already taken');
        const id = await d.stores.orgs.createOrg(tx, name, now);
        await d.stores.orgs.setMember(tx, id, who.userId, 'owner');
        return now;
      });
      return reply.code(201).send({ name, role: 'owner', createdAt });
    },
  );

  api.get(
    '/orgs',
    { schema: op('organisations', "The caller's organisations (administrators: all)", { ok: { 200: listOf('orgs', orgSchema) } }) },
    async (req) => {
      const who = signedIn(req);
      return { orgs: await d.stores.orgs.listOrgs(who.isAdmin ? null : who.userId) };
    },
  );

  api.get<{ Params: { org: string } }>(
    '/orgs/:org',
    { schema: op('organisations', 'An organisation (members)', { params: orgParam, ok: { 200: orgSchema }, errors: [400, 404] }) },
    async (req) => {
      const { org, role } = await orgAccess(d, req, req.params.org, 'member');
      return { name: org.name, role, createdAt: org.createdAt };
    },
  );

  api.delete<{ Params: { org: string } }>(
    '/orgs/:org',
    { schema: op('organisations', 'Delete an organisation, its teams and robots (owners)', { params: orgParam, ok: { 204: null }, errors: [400, 403, 404] }) },
    async (req, reply) => {
      const { org } = await orgAccess(d, req, req.params.org, 'owner');
      const robots = await d.stores.users.robots(org.id);
      await change(d, auditOf(req, 'org.delete', org.name), async (tx, now) => {
        const keep = await d.stores.users.namespaceHasRepositories(org.name, tx);
        await d.stores.orgs.deleteOrg(tx, org.id, org.name);
        await d.revocations.record(tx, [{ kind: 'namespace', key: org.name }, ...robots.map((r) => ({ kind: 'subject' as const, key: r.username }))], now);
        // Reserved while repositories carry the name: a new owner of it would inherit them.
        if (keep) await d.stores.users.claimNamespace(tx, org.name, 'org', now);
      });
      return reply.code(204).send();
    },
  );

  api.get<{ Params: { org: string } }>(
    '/orgs/:org/members',
    {
      schema: op('organisations', 'Members and their roles (members)', { params: orgParam, ok: { 200: listOf('members', memberSchema) }, errors: [400, 404] }),
    },
    async (req) => {
      const { org } = await orgAccess(d, req, req.params.org, 'member');
      return { members: (await d.stores.orgs.members(org.id)).map((m) => ({ name: m.username, role: m.role })) };
    },
  );

  api.get<{ Params: { org: string; user: string } }>(
    '/orgs/:org/members/:user',
    { schema: op('organisations', "A member's role (members)", { params: memberParam, ok: { 200: memberSchema }, errors: [400, 404] }) },
    async (req) => {
      const { org } = await orgAccess(d, req, req.params.org, 'member');
      const m = (await d.stores.orgs.members(org.id)).find((x) => x.username === req.params.user);
      if (!m) throw notFound('member');
      return { name: m.username, role: m.role };
    },
  );

  api.put<{ Params: { org: string; user: string }; Body: { role: 'owner' | 'member' } }>(
    '/orgs/:org/members/:user',
    {
      schema: op('organisations', 'Add a member or change its role (owners)', {
        params: memberParam,
        body: body({ role: orgRole }, ['role']),
        ok: { 200: memberSchema },
        errors: [400, 403, 404, 409],
      }),
    },
    async (req) => {
      const { org } = await orgAccess(d, req, req.params.org, 'owner');
      const user = await d.stores.users.userByName(req.params.user);
      if (!user || user.robotOrgId !== null) throw notFound('user');
      const role = req.body.role;
      await change(d, auditOf(req, 'org.member.set', org.name, { user: user.username, role }), async (tx, now) => {
        const current = await d.stores.orgs.orgRole(org.name, user.id, tx);
        if (current === 'owner' && role !== 'owner' && (await d.stores.orgs.ownerCount(org.id, tx)) <= 1) throw conflict('the last owner cannot be demoted');
        await d.stores.orgs.setMember(tx, org.id, user.id, role);
        if (current === 'owner' && role !== 'owner') await d.revocations.record(tx, [{ kind: 'subject', key: user.username }], now);
      });
      return { name: user.username, role };
    },
  );

  api.delete<{ Params: { org: string; user: string } }>(
    '/orgs/:org/members/:user',
    { schema: op('organisations', 'Remove a member (owners; members may leave)', { params: memberParam, ok: { 204: null }, errors: [400, 403, 404, 409] }) },
    async (req, reply) => {
      const leaving = signedIn(req).username === req.params.user;
      const { org } = await orgAccess(d, req, req.params.org, leaving ? 'member' : 'owner');
      if (leaving) person(req);
      const user = await d.stores.users.userByName(req.params.user);
      if (!user) throw notFound('member');
      await change(d, auditOf(req, 'org.member.remove', org.name, { user: user.username }), async (tx, now) => {
        const current = await d.stores.orgs.orgRole(org.name, user.id, tx);
        if (current === 'owner' && (await d.stores.orgs.ownerCount(org.id, tx)) <= 1) throw conflict('the last owner cannot be removed');
        if (!(await d.stores.orgs.removeMember(tx, org.id, user.id))) throw notFound('member');
        await d.revocations.record(tx, [{ kind: 'subject', key: user.username }], now);
      });
      return reply.code(204).send();
    },
  );
}
