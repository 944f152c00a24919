// SQL for the token signing keys, shared by every replica (token/keys.ts holds the ring).
import type { MetadataDb, Db, Tx } from '../database.js';

export interface SigningKeyRow {
  kid: string;
  alg: string;
  privatePem: string;
  publicJwk: string;
  createdAt: number;
  retiredAt: number | null;
}

export class SigningKeyStore {
  private readonly db: Db;

  constructor(meta: MetadataDb) {
    this.db = meta.db;
  }

  async signingKeys(): Promise<SigningKeyRow[]> {
    const rows = await this.db.selectFrom('signing_keys').selectAll().orderBy('created_at', 'desc').execute();
    return rows.map((r) => ({
      kid: r.kid,
      alg: r.alg,
      privatePem: r.private_pem,
      publicJwk: r.public_jwk,
      createdAt: Number(r.created_at),
      retiredAt: r.retired_at === null ? null : Number(r.retired_at),
    }));
  }

  /** Replaces how a key's private half is stored (plain PEM → sealed). */
  async setSigningKeyPrivate(tx: Tx, kid: string, privatePem: string): Promise<void> {
    await tx.updateTable('signing_keys').set({ private_pem: privatePem }).where('kid', '=', kid).execute();
  }

  /** Inserts a key unless one with the kid exists (replicas racing at first start). */
  async addSigningKey(tx: Tx, k: Omit<SigningKeyRow, 'retiredAt'>): Promise<void> {
    await tx
      .insertInto('signing_keys')
      .values({ kid: k.kid, alg: k.alg, private_pem: k.privatePem, public_jwk: k.publicJwk, created_at: k.createdAt })
      .onConflict((oc) => oc.column('kid').doNothing())
      .execute();
  }

  async retireSigningKeys(tx: Tx, exceptKid: string, now: number): Promise<void> {
    await tx.updateTable('signing_keys').set({ retired_at: now }).where('kid', '!=', exceptKid).where('retired_at', 'is', null).execute();
  }

  async dropSigningKeysRetiredBefore(tx: Tx, before: number): Promise<void> {
    await tx.deleteFrom('signing_keys').where('retired_at', '<', before).execute();
  }
}
