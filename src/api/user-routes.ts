// Users: the admin's list and creation, each user's own record, password and
// deletion, and GET /user (who am I). Robots are managed through their organisation.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TOKEN_PREFIX } from '../auth/accounts.js';
import type { Principal } from '../auth/policy.js';
import { RegistryError } from '../errors/catalog.js';
import type { UserRow } from '../metadata/accounts/users.js';
import { admin, auditOf, conflict, forbidden, notFound, person, signedIn } from './caller.js';
import { change, type ApiDeps } from './deps.js';
import { accountName, body, listOf, meSchema, op, pageQuery, params, userSchema } from './schemas.js';

const email = { type: ['string', 'null'], maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+$' } as const;
const password = { type: 'string', minLength: 1, maxLength: 1024 } as const;
const nameParam = params({ name: accountName });

export function registerUserRoutes(api: FastifyInstance, d: ApiDeps): void {
  const view = async (u: UserRow, orgNames = new Map<number, string>()) => {
    let robotOf: string | null = null;
    if (u.robotOrgId !== null) {
      if (!orgNames.has(u.robotOrgId)) orgNames.set(u.robotOrgId, (await d.stores.orgs.orgById(u.robotOrgId))?.name ?? '');
      robotOf = orgNames.get(u.robotOrgId) ?? null;
    }
    return { name: u.username, email: u.email, admin: u.isAdmin, disabled: u.disabled, robotOf, createdAt: u.createdAt };
  };

  /** The named user when the caller is that user or an admin (checked before looking, so nothing is revealed). */
  const selfOrAdmin = async (_req: FastifyRequest, name: string, who: Principal): Promise<UserRow> => {
    if (who.username !== name && !who.isAdmin) throw forbidden('only the user or an administrator may do this');
    const user = await d.stores.users.userByName(name);
    if (!user || user.robotOrgId !== null) throw notFound('user');
    return user;
  };

  api.get<{ Querystring: { n: number; last?: string } }>(
    '/users',
    { schema: op('users', 'List users (administrators)', { querystring: pageQuery, ok: { 200: listOf('users', userSchema) }, errors: [403] }) },
    async (req) => {
      admin(req);
      const rows = await d.stores.users.listUsers(req.query.n, req.query.last);
      const names = new Map<number, string>();
      const users = [];
      for (const u of rows) users.push(await view(u, names));
      return { users, ...(rows.length === req.query.n ? { next: rows[rows.length - 1].username } : {}) };
    },
  );

  api.post<{ Body: { username: string; password: string; email?: string | null; admin?: boolean } }>(
    '/users',
    {
      schema: op('users', 'Create a user (administrators)', {
        body: body({ username: accountName, password, email, admin: { type: 'boolean' } }, ['username', 'password']),
        ok: { 201: userSchema },
        errors: [400, 403, 409],
      }),
    },
    async (req, reply) => {
      admin(req);
      const b = req.body;
      const user = await d.accounts.createUser(
        { username: b.username, password: b.password, email: b.email ?? null, isAdmin: b.admin ?? false },
        auditOf(req, 'user.create', b.username),
      );
      return reply.code(201).send(await view(user));
    },
  );

  api.get<{ Params: { name: string } }>(
    '/users/:name',
    { schema: op('users', 'A user (the user or an administrator)', { params: nameParam, ok: { 200: userSchema }, errors: [400, 403, 404] }) },
    async (req) => view(await selfOrAdmin(req, req.params.name, signedIn(req))),
  );

  api.patch<{ Params: { name: string }; Body: { email?: string | null; admin?: boolean; disabled?: boolean } }>(
    '/users/:name',
    {
      schema: op('users', 'Change a user: email (the user), admin and disabled (administrators)', {
        params: nameParam,
        body: body({ email, admin: { type: 'boolean' }, disabled: { type: 'boolean' } }),
        ok: { 200: userSchema },
        errors: [400, 403, 404, 409],
      }),
    },
    async (req) => {
      const who = person(req);
      const user = await selfOrAdmin(req, req.params.name, who);
      const b = req.body ?? {};
      if ((b.admin !== undefined || b.disabled !== undefined) && !who.isAdmin) throw forbidden('only administrators change admin or disabled');
      const detail: Record<string, unknown> = {};
      if (b.admin !== undefined) detail.admin = b.admin;
      if (b.disabled !== undefined) detail.disabled = b.disabled;
      if (b.email !== undefined) detail.emailChanged = true;
      await change(d, auditOf(req, 'user.update', user.username, detail), async (tx, now) => {
        const losesAdmin = user.isAdmin && !user.disabled && (b.admin === false || b.disabled === true);
        if (losesAdmin && (await d.stores.users.countAdmins(tx)) <= 1) throw conflict('the last administrator cannot be demoted or disabled');
        await d.stores.users.updateUser(tx, user.id, { email: b.email, isAdmin: b.admin, disabled: b.disabled });
        if ((b.disabled === true && !user.disabled) || (b.admin === false && user.isAdmin))
          await d.revocations.record(tx, [{ kind: 'subject', key: user.username }], now);
      });
      return view((await d.stores.users.userById(user.id))!);
    },
  );

  api.delete<{ Params: { name: string } }>(
    '/users/:name',
    { schema: op('users', 'Delete a user (the user or an administrator)', { params: nameParam, ok: { 204: null }, errors: [400, 403, 404, 409] }) },
    async (req, reply) => {
      const user = await selfOrAdmin(req, req.params.name, person(req));
      await change(d, auditOf(req, 'user.delete', user.username), async (tx, now) => {
        if (user.isAdmin && !user.disabled && (await d.stores.users.countAdmins(tx)) <= 1) throw conflict('the last administrator cannot be deleted');
        const sole = await d.stores.orgs.soleOwnerOf(user.id, tx);
        if (sole.length) throw conflict(`the user is the only owner of ${sole.join(', ')}; add another owner first`);
        const keep = await d.stores.users.namespaceHasRepositories(user.username, tx);
        await d.stores.users.deleteUser(tx, user.id);
        await d.revocations.record(tx, [{ kind: 'subject', key: user.username }], now);
        // The name stays reserved while repositories carry it, so nobody signs up and inherits them.
        if (keep) await d.stores.users.claimNamespace(tx, user.username, 'user', now);
      });
      return reply.code(204).send();
    },
  );

  api.put<{ Params: { name: string }; Body: { password: string; currentPassword?: string } }>(
    '/users/:name/password',
    {
      schema: op('users', "Set a password: one's own with the current one, or anyone's as an administrator", {
        params: nameParam,
        body: body({ password, currentPassword: password }, ['password']),
        ok: { 204: null },
        errors: [400, 403, 404],
      }),
    },
    async (req, reply) => {
      const who = person(req);
      const user = await selfOrAdmin(req, req.params.name, who);
      if (who.userId === user.id) {
        const current = req.body.currentPassword;
        if (!current || current.startsWith(TOKEN_PREFIX)) throw forbidden('currentPassword is required to change your own password');
        // Rate-limited and counted like any other login; a wrong one is refused, not "sign in again".
        try {
          await d.accounts.authenticate(user.username, current, req.ip);
        } catch (err) {
          throw err instanceof RegistryError && err.code === 'UNAUTHORIZED' ? forbidden('the current password is wrong') : err;
        }
      }
      await d.accounts.setPassword(user, req.body.password, auditOf(req, 'user.password', user.username));
      return reply.code(204).send();
    },
  );

  api.get('/user', { schema: op('users', 'The caller: name, email, admin, organisations', { ok: { 200: meSchema } }) }, async (req) => {
    const who = signedIn(req);
    const user = await d.stores.users.userById(who.userId);
    if (!user) throw notFound('user');
    const orgs = await d.stores.orgs.listOrgs(user.id);
    return { name: user.username, email: user.email, admin: user.isAdmin, orgs };
  });
}
