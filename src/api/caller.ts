// Who is calling the REST API (and the UI's JSON routes), and the guards every route picks
// from. identify() in auth/identify.ts works it out: a password or an access token (Basic,
// or an access token as Bearer), or the UI's session cookie with its CSRF header.
import type { FastifyRequest } from 'fastify';
import type { Credential } from '../auth/identify.js';
import { mayManageNamespaceRules, mayViewNamespaceRules, type Principal } from '../auth/policy.js';
import { RestError } from '../errors/rest.js';
import type { AuditEntry } from '../metadata/accounts/audit-log.js';
import type { ApiDeps } from './deps.js';

const callers = new WeakMap<FastifyRequest, Principal | null>();

/** The API manages accounts: registry tokens (whose grants are for /v2) are not taken. */
const API_CREDENTIALS: readonly Credential[] = ['password', 'access-token', 'session'];

/** onRequest hook body: identifies the caller once; throws 401/403/429 for bad credentials. */
export async function identify(d: Pick<ApiDeps, 'identifier'>, req: FastifyRequest): Promise<void> {
  const c = await d.identifier.identify(req, API_CREDENTIALS);
  callers.set(req, c.kind === 'account' ? c.principal : null);
}

/** The caller, or null when anonymous. */
export function caller(req: FastifyRequest): Principal | null {
  return callers.get(req) ?? null;
}

/** Any signed-in caller (password or access token). */
export function signedIn(req: FastifyRequest): Principal {
  const p = caller(req);
  if (!p) throw unauthorized();
  return p;
}

/**
 * A person signed in with a password. Changes to accounts need this: an access token
 * (or a robot's secret) must not mint wider tokens or grant itself permissions.
 */
export function person(req: FastifyRequest): Principal {
  const p = signedIn(req);
  if (p.accessTokenId !== undefined || p.robotOrgId !== null) {
    throw new RestError('DENIED', 'this operation needs a password login, not an access token');
  }
  return p;
}

export function admin(req: FastifyRequest): Principal {
  const p = person(req);
  if (!p.isAdmin) throw forbidden('administrators only');
  return p;
}

export function unauthorized(message = 'authentication required'): RestError {
  return new RestError('UNAUTHORIZED', message);
}

export function forbidden(message: string): RestError {
  return new RestError('DENIED', message);
}

export function notFound(what: string): RestError {
  return new RestError('NOT_FOUND', `${what} not found`);
}

export function conflict(message: string): RestError {
  return new RestError('CONFLICT', message);
}

export function badRequest(message: string, detail?: unknown): RestError {
  return new RestError('INVALID', message, detail === undefined ? {} : { detail });
}

/** A repository that does not exist, or that the caller may not pull: the same answer. */
export function unknownRepository(): RestError {
  return notFound('repository');
}

export function invalidRepositoryName(): RestError {
  return badRequest('invalid repository name', { field: 'name' });
}

/** An audit entry for a change made by the caller. */
export function auditOf(req: FastifyRequest, action: string, target: string, detail?: Record<string, unknown>): AuditEntry {
  return { actor: caller(req)?.username ?? null, action, target, address: req.ip, ...(detail ? { detail } : {}) };
}

/**
 * Guards a namespace's rules (immutable-tag rules, retention policies): 404 to whoever may not see
 * them, 403 to viewers when `manage` (a change, a real retention run) and they may not.
 */
export async function namespaceRulesAccess(d: Pick<ApiDeps, 'stores'>, req: FastifyRequest, ns: string, manage: boolean): Promise<Principal> {
  const who = manage ? person(req) : caller(req);
  if (!who) throw unauthorized();
  const kind = await d.stores.users.namespaceKind(ns);
  const role = kind === 'org' ? await d.stores.orgs.orgRole(ns, who.userId) : null;
  if (!mayViewNamespaceRules(who, ns, kind, role)) throw notFound('namespace');
  if (manage && !mayManageNamespaceRules(who, ns, kind, role)) throw forbidden('namespace administrators only');
  return who;
}
