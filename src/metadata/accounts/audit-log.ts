// SQL for the audit log: who changed what, written in the change's own transaction.
import type { MetadataDb, Db, Tx } from '../database.js';

export interface AuditEntry {
  actor: string | null;
  action: string;
  target?: string | null;
  address?: string | null;
  detail?: Record<string, unknown>;
}

export class AuditLog {
  private readonly db: Db;

  constructor(meta: MetadataDb) {
    this.db = meta.db;
  }

  async record(tx: Tx, e: AuditEntry, now: number): Promise<void> {
    await tx
      .insertInto('audit_log')
      .values({
        at: now,
        actor: e.actor,
        action: e.action,
        target: e.target ?? null,
        address: e.address ?? null,
        detail: e.detail ? JSON.stringify(e.detail) : null,
      })
      .execute();
  }

  async list(
    limit: number,
    beforeId?: number,
  ): Promise<{ id: number; at: number; actor: string | null; action: string; target: string | null; address: string | null; detail: unknown }[]> {
    let q = this.db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(limit);
    if (beforeId !== undefined) q = q.where('id', '<', beforeId);
    return (await q.execute()).map((r) => ({
      id: Number(r.id),
      at: Number(r.at),
      actor: r.actor,
      action: r.action,
      target: r.target,
      address: r.address,
      detail: r.detail ? JSON.parse(r.detail) : null,
    }));
  }
}
