// SQL for credentials: personal access tokens and robot secrets (only a SHA-256 of the
// secret is kept) and the refresh tokens that logins produce.
import type { Selectable } from 'kysely';
import type { MetadataDb, Db, Tx } from '../database.js';
import type { AccessTokensTable } from '../schema.js';

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

function toToken(r: Selectable<AccessTokensTable>): AccessTokenRow {
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

export class CredentialStore {
  private readonly db: Db;

  constructor(meta: MetadataDb) {
    this.db = meta.db;
  }

  async createAccessToken(
    tx: Tx,
    t: { userId: number; name: string; tokenHash: string; scopes: string[]; resource: string | null; expiresAt: number | null },
    now: number,
  ): Promise<number> {
    const row = await tx
      .insertInto('access_tokens')
      .values({
        user_id: t.userId,
        name: t.name,
        token_hash: t.tokenHash,
        scopes: t.scopes.join(','),
        resource: t.resource,
        expires_at: t.expiresAt,
        created_at: now,
      })
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

  async createRefreshToken(
    tx: Tx,
    r: { tokenHash: string; userId: number; accessTokenId: number | null; clientId: string; expiresAt: number },
    now: number,
  ): Promise<void> {
    await tx
      .insertInto('refresh_tokens')
      .values({ token_hash: r.tokenHash, user_id: r.userId, access_token_id: r.accessTokenId, client_id: r.clientId, created_at: now, expires_at: r.expiresAt })
      .execute();
  }

  async refreshToken(
    hash: string,
  ): Promise<{ userId: number; accessTokenId: number | null; clientId: string; createdAt: number; expiresAt: number; revokedAt: number | null } | null> {
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
}
