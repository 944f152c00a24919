// Who is calling the REST API, and the guards every route picks from.
// Basic carries a password or an access token; Bearer carries an access token.
// Both go through AccountService.authenticate, so failures are rate-limited alike.
import type { FastifyRequest } from 'fastify';
import { TOKEN_PREFIX, sha256Hex } from '../auth/accounts.js';
import { parseBasic } from '../auth/htpasswd.js';
import type { Principal } from '../auth/policy.js';
import { RestError } from '../errors/rest.js';
import type { AuditEntry } from '../metadata/accounts/audit-log.js';
import { sessionPrincipal } from '../ui/sessions.js';
import type { ApiDeps } from './deps.js';

const callers = new WeakMap<FastifyRequest, Principal | null>();

/** onRequest hook body: authenticates the caller once; throws 401/429 for bad credentials. */
export async function identify(d: ApiDeps, req: FastifyRequest): Promise<void> {
  const header = req.headers.authorization;
  let principal: Principal | null = null;
  if (header && /^basic\s/i.test(header)) {
    const creds = parseBasic(header);
    if (!creds) throw unauthorized('malformed Basic credentials');
    principal = await d.accounts.authenticate(creds.user, creds.password, req.ip);
  } else if (header && /^bearer\s/i.test(header)) {
    const secret = header.slice(7).trim();
    // Registry JWTs are for /v2; the API takes access tokens, found by their hash.
    const owner = secret.startsWith(TOKEN_PREFIX) ? await tokenOwner(d, secret) : '';
    principal = await d.accounts.authenticate(owner, secret, req.ip);
  } else if (header) {
    throw unauthorized('unsupported Authorization scheme');
  } else {
    // The web UI's session cookie, accepted only with its CSRF header (src/ui/sessions.ts).
    principal = await sessionPrincipal(d, req);
  }
  if (principal) req.user = principal.username;
  callers.set(req, principal);
}

async function tokenOwner(d: ApiDeps, secret: string): Promise<string> {
  const token = await d.stores.credentials.accessTokenByHash(sha256Hex(secret));
  const user = token ? await d.stores.users.userById(token.userId) : null;
  return user?.username ?? '';
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
