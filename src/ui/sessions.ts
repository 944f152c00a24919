// Sign-in sessions of the web UI: a random secret in an HttpOnly cookie, its SHA-256
// and a per-session CSRF token in the database (so every replica serves the session).
//
// The REST API accepts the cookie (see identify() in src/api/caller.ts) only together
// with the header X-Berth-CSRF carrying the session's CSRF token. Browsers never send a
// custom header cross-site without a CORS preflight, which Berth does not grant, and the
// cookie is SameSite=Strict on top; a GET without the header reads as anonymous, any
// other method without it is refused.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sha256Hex } from '../auth/accounts.js';
import type { Principal } from '../auth/policy.js';
import type { ApiDeps } from '../api/deps.js';
import { RegistryError } from '../errors/catalog.js';
import type { Tx } from '../metadata/database.js';
import './schema.js';

export const SESSION_COOKIE = 'berth_session';
export const CSRF_HEADER = 'x-berth-csrf';
/** A session ends this long after it was made, whatever happens. */
export const SESSION_MAX_MS = 7 * 24 * 60 * 60 * 1000;
/** …and this long after its last use. */
export const SESSION_IDLE_MS = 12 * 60 * 60 * 1000;
/** last_seen_at is written at most this often per session. */
const TOUCH_EVERY_MS = 60 * 1000;

export type SessionDeps = Pick<ApiDeps, 'meta' | 'stores' | 'accounts'>;

export interface SessionRow {
  id: string;
  userId: number;
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

export class SessionStore {
  constructor(private readonly d: SessionDeps) {}

  /** A new session for `userId`; returns the cookie secret (never stored) and the CSRF token. */
  async create(userId: number, meta: { address: string | null; userAgent: string | null }, now = Date.now()): Promise<{ secret: string; csrf: string }> {
    const secret = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    await this.d.meta.transaction(async (tx) => {
      // Expired sessions are swept by sign-ins: cheap, and needs no timer on any replica.
      await tx.deleteFrom('sessions').where('expires_at', '<', now).execute();
      await tx
        .insertInto('sessions')
        .values({
          id: sha256Hex(secret),
          user_id: userId,
          csrf,
          created_at: now,
          last_seen_at: now,
          expires_at: now + SESSION_MAX_MS,
          address: meta.address,
          user_agent: meta.userAgent ? meta.userAgent.slice(0, 300) : null,
        })
        .execute();
    });
    return { secret, csrf };
  }

  /** The live session the cookie secret names, or null (missing, expired or idle too long). */
  async find(secret: string, now = Date.now(), tx: Tx = this.d.meta.db): Promise<SessionRow | null> {
    const r = await tx.selectFrom('sessions').selectAll().where('id', '=', sha256Hex(secret)).executeTakeFirst();
    if (!r) return null;
    const row: SessionRow = { id: r.id, userId: Number(r.user_id), csrf: r.csrf, createdAt: Number(r.created_at), lastSeenAt: Number(r.last_seen_at), expiresAt: Number(r.expires_at) };
    if (row.expiresAt <= now || row.lastSeenAt + SESSION_IDLE_MS <= now) return null;
    return row;
  }

  async touch(row: SessionRow, now = Date.now()): Promise<void> {
    if (now - row.lastSeenAt < TOUCH_EVERY_MS) return;
    await this.d.meta.transaction((tx) => tx.updateTable('sessions').set({ last_seen_at: now }).where('id', '=', row.id).execute(), { durable: false });
  }

  async delete(id: string): Promise<void> {
    await this.d.meta.transaction((tx) => tx.deleteFrom('sessions').where('id', '=', id).execute());
  }
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

const stores = new WeakMap<object, SessionStore>();
function storeOf(d: SessionDeps): SessionStore {
  let s = stores.get(d.meta);
  if (!s) stores.set(d.meta, (s = new SessionStore(d)));
  return s;
}

/**
 * The session's row when the request carries the cookie and the matching CSRF header.
 * null: no cookie, or a GET/HEAD without the header (a plain navigation: anonymous).
 * Throws 403 for a change without the header or with a wrong token, 401 for an ended session.
 */
export async function checkedSession(d: SessionDeps, req: FastifyRequest): Promise<SessionRow | null> {
  const secret = cookieValue(req.headers.cookie, SESSION_COOKIE);
  if (!secret) return null;
  const header = req.headers[CSRF_HEADER];
  if (typeof header !== 'string' || header === '') {
    if (req.method === 'GET' || req.method === 'HEAD') return null;
    throw new RegistryError('DENIED', 'a session cookie is accepted only with the X-Berth-CSRF header');
  }
  const row = await storeOf(d).find(secret);
  if (!row) throw new RegistryError('UNAUTHORIZED', 'the session has ended; sign in again');
  if (!sameToken(header, row.csrf)) throw new RegistryError('DENIED', 'the X-Berth-CSRF header does not match the session');
  return row;
}

/**
 * The caller a session cookie identifies (for identify() in src/api/caller.ts): a
 * password login of the session's user, rebuilt on every request so disabling the
 * user, or changing the password, ends the session at once.
 */
export async function sessionPrincipal(d: SessionDeps, req: FastifyRequest): Promise<Principal | null> {
  const row = await checkedSession(d, req);
  if (!row) return null;
  const user = await d.stores.users.userById(row.userId);
  if (!user || user.disabled || user.robotOrgId !== null || user.passwordChangedAt > row.createdAt) {
    await storeOf(d).delete(row.id);
    throw new RegistryError('UNAUTHORIZED', 'the session has ended; sign in again');
  }
  storeOf(d).touch(row).catch((err) => req.log.warn({ err }, 'session touch failed'));
  return d.accounts.principalOf(user);
}

export { storeOf as sessionStore };
