// Teams (a permission on every repository of the organisation, for their members)
// and robot accounts (CI identities owned by an organisation, "<org>+<name>",
// signing in only with a secret that is shown once).
import type { FastifyInstance } from 'fastify';
import { newSecret, sha256Hex } from '../auth/accounts.js';
import { ACTIONS, lowers, type Permission } from '../auth/policy.js';
import { auditOf, conflict, notFound } from './caller.js';
import { change, type ApiDeps } from './deps.js';
import { orgAccess } from './org-routes.js';
import { accountName, body, listOf, memberName, op, params, permission, robotSchema, teamSchema } from './schemas.js';

const teamParam = params({ org: accountName, team: accountName });
const teamMemberParam = params({ org: accountName, team: accountName, user: memberName });
const robotParam = params({ org: accountName, name: accountName });

export function registerTeamRoutes(api: FastifyInstance, d: ApiDeps): void {
  const findTeam = async (orgId: number, name: string) => {
    const team = await d.stores.orgs.team(orgId, name);
    if (!team) throw notFound('team');
    return team;
  };

  api.get<{ Params: { org: string } }>(
    '/orgs/:org/teams',
    {
      schema: op('teams', 'Teams with their permission and members (members)', {
        params: params({ org: accountName }),
        ok: { 200: listOf('teams', teamSchema) },
        errors: [400, 404],
      }),
    },
    async (req) => {
      const { org } = await orgAccess(d, req, req.params.org, 'member');
      return { teams: await d.stores.orgs.teams(org.id) };
    },
  );

  api.post<{ Params: { org: string }; Body: { name: string; permission: Permission } }>(
    '/orgs/:org/teams',
    {
      schema: op('teams', 'Create a team (owners)', {
        params: params({ org: accountName }),
        body: body({ name: accountName, permission }, ['name', 'permission']),
        ok: { 201: teamSchema },
        errors: [400, 403, 404, 409],
      }),
    },
    async (req, reply) => {
      const { org } = await orgAccess(d, req, req.params.org, 'owner');
      const { name, permission: perm } = req.body;
      await change(d, auditOf(req, 'team.create', `${org.name}/${name}`, { permission: perm }), async (tx, now) => {
        if (await d.stores.orgs.team(org.id, name, tx)) throw conflict('a team with that name exists');
        await d.stores.orgs.createTeam(tx, org.id, name, perm, now);
      });
      return reply.code(201).send({ name, permission: perm, members: [] });
    },
  );

  api.get<{ Params: { org: string; team: string } }>(
    '/orgs/:org/teams/:team',
    { schema: op('teams', 'A team (members)', { params: teamParam, ok: { 200: teamSchema }, errors: [400, 404] }) },
    async (req) => {
      const { org } = await orgAccess(d, req, req.params.org, 'member');
      const team = (await d.stores.orgs.teams(org.id)).find((t) => t.name === req.params.team);
      if (!team) throw notFound('team');
      return team;
    },
  );

  api.patch<{ Params: { org: string; team: string }; Body: { permission: Permission } }>(
    '/orgs/:org/teams/:team',
    {
      schema: op('teams', "Change a team's permission (owners)", {
        params: teamParam,
        body: body({ permission }, ['permission']),
        ok: { 200: teamSchema },
        errors: [400, 403, 404],
      }),
    },
    async (req) => {
      const { org } = await orgAccess(d, req, req.params.org, 'owner');
      const team = await findTeam(org.id, req.params.team);
      await change(
        d,
        auditOf(req, 'team.update', `${org.name}/${team.name}`, { permission: req.body.permission, previous: team.permission }),
        async (tx, now) => {
          await d.stores.orgs.updateTeam(tx, team.id, req.body.permission);
          // Every token for the organisation's repositories: simpler than finding the members', and as safe.
          if (lowers(team.permission, req.body.permission)) await d.revocations.record(tx, [{ kind: 'namespace', key: org.name }], now);
        },
      );
      return (await d.stores.orgs.teams(org.id)).find((t) => t.name === team.name)!;
    },
  );

  api.delete<{ Params: { org: string; team: string } }>(
    '/orgs/:org/teams/:team',
    { schema: op('teams', 'Delete a team (owners)', { params: teamParam, ok: { 204: null }, errors: [400, 403, 404] }) },
    async (req, reply) => {
      const { org } = await orgAccess(d, req, req.params.org, 'owner');
      const team = await findTeam(org.id, req.params.team);
      await change(d, auditOf(req, 'team.delete', `${org.name}/${team.name}`), async (tx, now) => {
        await d.stores.orgs.deleteTeam(tx, team.id);
        await d.revocations.record(tx, [{ kind: 'namespace', key: org.name }], now);
      });
      return reply.code(204).send();
    },
  );

  api.put<{ Params: { org: string; team: string; user: string } }>(
    '/orgs/:org/teams/:team/members/:user',
    {
      schema: op('teams', 'Add a member of the organisation, or one of its robots, to a team (owners)', {
        params: teamMemberParam,
        ok: { 204: null },
        errors: [400, 403, 404, 409],
      }),
    },
    async (req, reply) => {
      const { org } = await orgAccess(d, req, req.params.org, 'owner');
      const team = await findTeam(org.id, req.params.team);
      const user = await d.stores.users.userByName(req.params.user);
      if (!user) throw notFound('user');
      // Teams grant access to the organisation's repositories: only its own people and robots join.
      const ours = user.robotOrgId === org.id || (user.robotOrgId === null && (await d.stores.orgs.orgRole(org.name, user.id)) !== null);
      if (!ours) throw conflict('only members of the organisation and its robots can join its teams');
      await change(d, auditOf(req, 'team.member.add', `${org.name}/${team.name}`, { user: user.username }), (tx) =>
        d.stores.orgs.addTeamMember(tx, team.id, user.id),
      );
      return reply.code(204).send();
    },
  );

  api.delete<{ Params: { org: string; team: string; user: string } }>(
    '/orgs/:org/teams/:team/members/:user',
    { schema: op('teams', 'Remove a team member (owners)', { params: teamMemberParam, ok: { 204: null }, errors: [400, 403, 404] }) },
    async (req, reply) => {
      const { org } = await orgAccess(d, req, req.params.org, 'owner');
      const team = await findTeam(org.id, req.params.team);
      const user = await d.stores.users.userByName(req.params.user);
      if (!user) throw notFound('team member');
      await change(d, auditOf(req, 'team.member.remove', `${org.name}/${team.name}`, { user: user.username }), async (tx, now) => {
        if (!(await d.stores.orgs.removeTeamMember(tx, team.id, user.id))) throw notFound('team member');
        await d.revocations.record(tx, [{ kind: 'subject', key: user.username }], now);
      });
      return reply.code(204).send();
    },
  );

  // ---- robots ----

  const findRobot = async (orgId: number, orgName: string, name: string) => {
    const robot = await d.stores.users.userByName(`${orgName}+${name}`);
    if (!robot || robot.robotOrgId !== orgId) throw notFound('robot');
    return robot;
  };

  api.post<{ Params: { org: string }; Body: { name: string } }>(
    '/orgs/:org/robots',
    {
      schema: op('robots', 'Create a robot account; the reply holds its secret, shown only this once (owners)', {
        params: params({ org: accountName }),
        body: body({ name: accountName }, ['name']),
        ok: { 201: robotSchema },
        errors: [400, 403, 404, 409],
      }),
    },
    async (req, reply) => {
      const { org } = await orgAccess(d, req, req.params.org, 'owner');
      const username = `${org.name}+${req.body.name}`;
      const { user, secret } = await d.accounts.createRobot(org.id, org.name, req.body.name, auditOf(req, 'robot.create', username));
      return reply.code(201).send({ name: user.username, createdAt: user.createdAt, secret });
    },
  );

  api.get<{ Params: { org: string } }>(
    '/orgs/:org/robots',
    {
      schema: op('robots', "The organisation's robots (owners)", {
        params: params({ org: accountName }),
        ok: { 200: listOf('robots', robotSchema) },
        errors: [400, 403, 404],
      }),
    },
    async (req) => {
      const { org } = await orgAccess(d, req, req.params.org, 'owner');
      return { robots: (await d.stores.users.robots(org.id)).map((r) => ({ name: r.username, createdAt: r.createdAt })) };
    },
  );

  api.delete<{ Params: { org: string; name: string } }>(
    '/orgs/:org/robots/:name',
    { schema: op('robots', 'Delete a robot (owners)', { params: robotParam, ok: { 204: null }, errors: [400, 403, 404] }) },
    async (req, reply) => {
      const { org } = await orgAccess(d, req, req.params.org, 'owner');
      const robot = await findRobot(org.id, org.name, req.params.name);
      await change(d, auditOf(req, 'robot.delete', robot.username), async (tx, now) => {
        await d.stores.users.deleteUser(tx, robot.id);
        await d.revocations.record(tx, [{ kind: 'subject', key: robot.username }], now);
      });
      return reply.code(204).send();
    },
  );

  api.post<{ Params: { org: string; name: string } }>(
    '/orgs/:org/robots/:name/secret',
    {
      schema: op('robots', "Replace a robot's secret; the old one (and its refresh tokens) stop working (owners)", {
        params: robotParam,
        ok: { 200: robotSchema },
        errors: [400, 403, 404],
      }),
    },
    async (req) => {
      const { org } = await orgAccess(d, req, req.params.org, 'owner');
      const robot = await findRobot(org.id, org.name, req.params.name);
      const secret = newSecret();
      await change(d, auditOf(req, 'robot.secret.rotate', robot.username), async (tx, now) => {
        await d.stores.credentials.revokeUserTokens(tx, robot.id, now);
        await d.revocations.record(tx, [{ kind: 'subject', key: robot.username }], now);
        await d.stores.credentials.createAccessToken(
          tx,
          { userId: robot.id, name: 'robot secret', tokenHash: sha256Hex(secret), scopes: [...ACTIONS], resource: null, expiresAt: null },
          now,
        );
      });
      return { name: robot.username, createdAt: robot.createdAt, secret };
    },
  );
}
