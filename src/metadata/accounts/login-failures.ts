// SQL for failed-login counters per user and per address, shared by replicas.
import { sql } from 'kysely';
import type { MetadataDb, Db, Tx } from '../database.js';

export class LoginFailureStore {
  private readonly db: Db;

  constructor(meta: MetadataDb) {
    this.db = meta.db;
  }

  /** Failures for `key` inside the window that ends now. */
  async failures(key: string, now: number, windowMs: number, tx: Tx = this.db): Promise<{ count: number; windowStart: number }> {
    const r = await tx.selectFrom('login_failures').select(['count', 'window_start']).where('key', '=', key).executeTakeFirst();
    if (!r || Number(r.window_start) + windowMs <= now) return { count: 0, windowStart: now };
    return { count: Number(r.count), windowStart: Number(r.window_start) };
  }

  /** Counts a failure atomically (one statement, safe across replicas). */
  async recordFailure(tx: Tx, key: string, now: number, windowMs: number): Promise<void> {
    await tx
      .insertInto('login_failures')
      .values({ key, window_start: now, count: 1 })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          count: sql`case when login_failures.window_start + ${windowMs} <= ${now} then 1 else login_failures.count + 1 end`,
          window_start: sql`case when login_failures.window_start + ${windowMs} <= ${now} then ${now} else login_failures.window_start end`,
        }),
      )
      .execute();
  }

  /** Takes back one counted attempt (a login that succeeded). */
  async forgiveFailure(tx: Tx, key: string): Promise<void> {
    await tx.updateTable('login_failures').set({ count: sql`count - 1` }).where('key', '=', key).where('count', '>', 0).execute();
  }

  async clearFailures(tx: Tx, key: string): Promise<void> {
    await tx.deleteFrom('login_failures').where('key', '=', key).execute();
  }
}
