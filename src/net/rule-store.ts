// SQL for the network rules administrators set per namespace through the API (migration
// 0017). Each replica reads them all into its compiled rules (live-rules.ts); the table is
// small (one row per namespace with rules of its own).
import type { Db, Tx } from '../metadata/database.js';
import { SURFACES, type RuleList, type Surface } from './access-rules.js';

export type NamespaceRules = Record<Surface, RuleList>;

export interface NetworkRuleRow {
  namespace: string;
  rules: NamespaceRules;
  updatedAt: number;
  updatedBy: string | null;
}

interface NetworkRulesTable {
  namespace: string;
  rules: string;
  updated_at: number;
  updated_by: string | null;
}

declare module '../metadata/schema.js' {
  interface Database {
    network_rules: NetworkRulesTable;
  }
}

/** Every surface present, each with both lists: what is stored and shown. */
export function fullRules(r: Partial<Record<Surface, Partial<RuleList>>>): NamespaceRules {
  return Object.fromEntries(SURFACES.map((s) => [s, { allow: [...(r[s]?.allow ?? [])], deny: [...(r[s]?.deny ?? [])] }])) as unknown as NamespaceRules;
}

const toRow = (r: { namespace: string; rules: string; updated_at: number | string; updated_by: string | null }): NetworkRuleRow => ({
  namespace: r.namespace,
  rules: fullRules(JSON.parse(r.rules) as Partial<NamespaceRules>),
  updatedAt: Number(r.updated_at),
  updatedBy: r.updated_by,
});

export class NetworkRuleStore {
  constructor(private readonly db: Db) {}

  async all(): Promise<NetworkRuleRow[]> {
    const rows = await this.db.selectFrom('network_rules').selectAll().orderBy('namespace').execute();
    return rows.map(toRow);
  }

  async get(namespace: string): Promise<NetworkRuleRow | null> {
    const row = await this.db.selectFrom('network_rules').selectAll().where('namespace', '=', namespace).executeTakeFirst();
    return row ? toRow(row) : null;
  }

  async put(tx: Tx, row: NetworkRuleRow): Promise<void> {
    const values = { rules: JSON.stringify(row.rules), updated_at: row.updatedAt, updated_by: row.updatedBy };
    await tx
      .insertInto('network_rules')
      .values({ namespace: row.namespace, ...values })
      .onConflict((oc) => oc.column('namespace').doUpdateSet(values))
      .execute();
  }

  /** False when the namespace had no rules. */
  async remove(tx: Tx, namespace: string): Promise<boolean> {
    const r = await tx.deleteFrom('network_rules').where('namespace', '=', namespace).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
