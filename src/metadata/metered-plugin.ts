// Query metrics through Kysely's own hook. A KyselyPlugin's transformResult never sees a failed
// query, so the count, duration and errors come from Kysely's `log` callback instead (the one place
// that sees both outcomes, with the duration Kysely measured). Installed only when metrics are on:
// without a `log`, Kysely does not time queries at all.
import type { CompiledQuery, LogEvent, Logger } from 'kysely';

/** Statement kinds: the label's only values. */
export type StatementKind = 'select' | 'insert' | 'update' | 'delete' | 'transaction' | 'ddl' | 'other';

export interface QueryObserver {
  query(kind: StatementKind, seconds: number, failed: boolean): void;
}

const NODE_KINDS: Record<string, StatementKind> = {
  SelectQueryNode: 'select',
  InsertQueryNode: 'insert',
  UpdateQueryNode: 'update',
  DeleteQueryNode: 'delete',
  MergeQueryNode: 'update',
};

const RAW_KINDS: Record<string, StatementKind> = {
  select: 'select',
  with: 'select',
  insert: 'insert',
  update: 'update',
  delete: 'delete',
  begin: 'transaction',
  commit: 'transaction',
  rollback: 'transaction',
  savepoint: 'transaction',
  release: 'transaction',
  create: 'ddl',
  alter: 'ddl',
  drop: 'ddl',
};

/** What kind of statement a compiled query is (raw SQL by its first word). */
export function statementKind(q: CompiledQuery): StatementKind {
  const node = q.query.kind;
  const known = NODE_KINDS[node];
  if (known) return known;
  if (node !== 'RawNode') return node.startsWith('Create') || node.startsWith('Alter') || node.startsWith('Drop') ? 'ddl' : 'other';
  const word = /^\s*([a-z]+)/i.exec(q.sql)?.[1]?.toLowerCase() ?? '';
  return RAW_KINDS[word] ?? 'other';
}

/** Kysely's `log` option, feeding `observer`. */
export function meteredQueryLog(observer: QueryObserver): Logger {
  return (event: LogEvent) => {
    observer.query(statementKind(event.query), event.queryDurationMillis / 1000, event.level === 'error');
  };
}
