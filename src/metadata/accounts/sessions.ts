// The web UI's sign-in sessions (auth/sessions.ts reads the cookie): the SHA-256 of each
// cookie's secret and its CSRF token, in the database so every replica serves the session.
import { createHash, randomBytes } from 'node:crypto';
import type { MetadataDb, Tx } from '../database.js';

/** A session ends this long after it was made, whatever happens. */
export const SESSION_MAX_MS = 7 * 24 * 60 * 60 * 1000;
/** …and this long after its last use. */
export const SESSION_IDLE_MS = 12 * 60 * 60 * 1000;
/** last_seen_at is written at most this often per session. */
const TOUCH_EVERY_MS = 60 * 1000;

export interface SessionRow {
  id: string;
  userId: number;
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export class SessionStore {
  constructor(private readonly meta: MetadataDb) {}

  /** A new session for `userId`; returns the cookie secret (never stored) and the CSRF token. */
  async create(userId: number, info: { address: string | null; userAgent: string | null }, now: number): Promise<{ secret: string; csrf: string }> {
    const secret = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    await this.meta.transaction(async (tx) => {
      // Expired sessions are swept by sign-ins: cheap, and needs no timer on any replica.
      await tx.deleteFrom('sessions').where('expires_at', '<', now).execute();
      await tx
        .insertInto('sessions')
        .values({
          id: sha256(secret),
          user_id: userId,
          csrf,
          created_at: now,
          last_seen_at: now,
          expires_at: now + SESSION_MAX_MS,
          address: info.address,
          user_agent: info.userAgent ? info.userAgent.slice(0, 300) : null,
        })
        .execute();
    });
    return { secret, csrf };
  }

  /** The live session the cookie secret names, or null (missing, expired or idle too long). */
  async find(secret: string, now: number, tx: Tx = this.meta.db): Promise<SessionRow | null> {
    const r = await tx.selectFrom('sessions').selectAll().where('id', '=', sha256(secret)).executeTakeFirst();
    if (!r) return null;
    const row: SessionRow = {
      id: r.id,
      userId: Number(r.user_id),
      csrf: r.csrf,
      createdAt: Number(r.created_at),
      lastSeenAt: Number(r.last_seen_at),
      expiresAt: Number(r.expires_at),
    };
    if (row.expiresAt <= now || row.lastSeenAt + SESSION_IDLE_MS <= now) return null;
    return row;
  }

  async touch(row: SessionRow, now: number): Promise<void> {
    if (now - row.lastSeenAt < TOUCH_EVERY_MS) return;
    await this.meta.transaction((tx) => tx.updateTable('sessions').set({ last_seen_at: now }).where('id', '=', row.id).execute(), { durable: false });
  }

  async delete(id: string): Promise<void> {
    await this.meta.transaction((tx) => tx.deleteFrom('sessions').where('id', '=', id).execute());
  }
}
