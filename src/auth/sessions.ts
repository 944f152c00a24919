// Sign-in sessions of the web UI: a random secret in an HttpOnly cookie; its SHA-256 and a
// per-session CSRF token in the database (metadata/accounts/sessions.ts), so every replica
// serves the session.
//
// identify() (auth/identify.ts) accepts the cookie, on the surfaces that take it (the REST
// API and the UI's JSON routes), only together with the header X-Berth-CSRF carrying the
// session's CSRF token. Browsers never send a custom header cross-site without a CORS
// preflight, which Berth does not grant, and the cookie is SameSite=Strict on top; a GET
// without the header reads as anonymous, any other method without it is refused.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../errors/catalog.js';
import type { AccountStores } from '../metadata/accounts/index.js';
import { SESSION_MAX_MS, type SessionRow } from '../metadata/accounts/sessions.js';
import type { AccountService } from './accounts.js';
import type { Principal } from './policy.js';

export const SESSION_COOKIE = 'berth_session';
export const CSRF_HEADER = 'x-berth-csrf';

export interface SessionDeps {
  stores: Pick<AccountStores, 'users' | 'sessions'>;
  accounts: Pick<AccountService, 'principalOf'>;
  /** The app's clock: sessions expire by it. */
  now: () => number;
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

/** Set-Cookie for a session: HttpOnly, SameSite=Strict, Path=/, Secure over TLS. */
export function sessionCookie(req: FastifyRequest, secret: string | null): string {
  const attrs = [`${SESSION_COOKIE}=${secret ?? ''}`, 'Path=/', 'HttpOnly', 'SameSite=Strict'];
  if (secret === null) attrs.push('Max-Age=0');
  else attrs.push(`Max-Age=${Math.floor(SESSION_MAX_MS / 1000)}`);
  if (req.protocol === 'https') attrs.push('Secure');
  return attrs.join('; ');
}

export function setSessionCookie(req: FastifyRequest, reply: FastifyReply, secret: string | null): void {
  reply.header('Set-Cookie', sessionCookie(req, secret));
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The session's row when the request carries the cookie and the matching CSRF header.
 * null: no cookie, or a GET/HEAD without the header (a plain navigation: anonymous).
 * Throws 403 for a change without the header or with a wrong token, 401 for an ended session.
 */
export async function checkedSession(d: Pick<SessionDeps, 'stores' | 'now'>, req: FastifyRequest): Promise<SessionRow | null> {
  const secret = cookieValue(req.headers.cookie, SESSION_COOKIE);
  if (!secret) return null;
  const header = req.headers[CSRF_HEADER];
  if (typeof header !== 'string' || header === '') {
    if (req.method === 'GET' || req.method === 'HEAD') return null;
    throw new RegistryError('DENIED', 'a session cookie is accepted only with the X-Berth-CSRF header');
  }
  const row = await d.stores.sessions.find(secret, d.now());
  if (!row) throw new RegistryError('UNAUTHORIZED', 'the session has ended; sign in again');
  if (!sameToken(header, row.csrf)) throw new RegistryError('DENIED', 'the X-Berth-CSRF header does not match the session');
  return row;
}

/**
 * The caller a session cookie identifies: a password login of the session's user, rebuilt
 * on every request so disabling the user, or changing the password, ends the session at once.
 */
export async function sessionPrincipal(d: SessionDeps, req: FastifyRequest): Promise<Principal | null> {
  const row = await checkedSession(d, req);
  if (!row) return null;
  const user = await d.stores.users.userById(row.userId);
  if (!user || user.disabled || user.robotOrgId !== null || user.passwordChangedAt > row.createdAt) {
    await d.stores.sessions.delete(row.id);
    throw new RegistryError('UNAUTHORIZED', 'the session has ended; sign in again');
  }
  d.stores.sessions.touch(row, d.now()).catch((err) => req.log.warn({ err }, 'session touch failed'));
  return d.accounts.principalOf(user);
}
