// What the API routes share: the account services and one helper that makes a
// change and its audit entry in the same transaction (both or neither happen).
import type { AccountServices } from '../auth/token-auth.js';
import type { AuditEntry } from '../metadata/accounts/audit-log.js';
import type { MetadataDb, Tx } from '../metadata/database.js';
import type { Origin } from '../registry/events.js';

export interface ApiDeps extends AccountServices {
  meta: MetadataDb;
  /** Registry operations the API exposes (absent in unit set-ups without a registry). */
  registry?: {
    deleteRepository(name: string, origin: Origin): Promise<boolean>;
    deleteEnabled: boolean;
  };
}

/**
 * Runs the change and its audit entry in one transaction. When it took rights away
 * (d.revocations.record), this process applies that before the reply (auth/revocations.ts).
 */
export async function change<T>(d: ApiDeps, entry: AuditEntry, fn: (tx: Tx, now: number) => Promise<T>): Promise<T> {
  const now = d.now();
  const written = d.revocations.written;
  const result = await d.meta.transaction(async (tx) => {
    const result = await fn(tx, now);
    await d.stores.audit.record(tx, entry, now);
    return result;
  });
  if (d.revocations.written !== written) await d.revocations.changed();
  return result;
}
