// A span for each database query made while a request's (or job's) span is open: the statement kind and the
// table, as in OpenTelemetry's database conventions (`SELECT repositories`), never the parameter values. Kysely
// calls transformQuery just before it runs a query and transformResult when the rows are back; a query that
// fails never reaches transformResult, so its span is dropped with its query id instead of being exported open.
import type { KyselyPlugin, OperationNode, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import type { Span } from '@opentelemetry/api';
import type { BerthConfig } from '../config/index.js';
import { childSpan, SpanKind, tracingEnabled } from '../observability/tracing.js';

/** The plugin for the configured database when tracing is on, else none (queries pay nothing). */
export function tracedPlugins(config: BerthConfig): KyselyPlugin[] {
  return tracingEnabled() ? [new TracedPlugin(config.metadata.postgres ? 'postgresql' : 'sqlite')] : [];
}

export class TracedPlugin implements KyselyPlugin {
  private readonly spans = new WeakMap<object, Span>();

  constructor(private readonly system: 'sqlite' | 'postgresql') {}

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    const { operation, table } = describeQuery(args.node);
    const span = childSpan(
      table ? `${operation} ${table}` : operation,
      {
        'db.system.name': this.system,
        'db.operation.name': operation,
        ...(table ? { 'db.collection.name': table } : {}),
      },
      SpanKind.CLIENT,
    );
    if (span) this.spans.set(args.queryId, span);
    return args.node;
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const span = this.spans.get(args.queryId);
    if (span) {
      this.spans.delete(args.queryId);
      if (args.result.rows.length > 0) span.setAttribute('db.response.returned_rows', args.result.rows.length);
      span.end();
    }
    return args.result;
  }
}

/** The statement kind (SELECT, INSERT, …; a raw statement's first keyword) and the first table it names. */
export function describeQuery(node: RootOperationNode): { operation: string; table?: string } {
  const n = node as OperationNode & Record<string, unknown>;
  switch (node.kind) {
    case 'SelectQueryNode':
      return { operation: 'SELECT', table: tableName((n.from as { froms?: OperationNode[] } | undefined)?.froms?.[0]) };
    case 'InsertQueryNode':
      return { operation: 'INSERT', table: tableName(n.into as OperationNode | undefined) };
    case 'UpdateQueryNode':
      return { operation: 'UPDATE', table: tableName(n.table as OperationNode | undefined) };
    case 'DeleteQueryNode':
      return { operation: 'DELETE', table: tableName((n.from as { froms?: OperationNode[] } | undefined)?.froms?.[0]) };
    case 'MergeQueryNode':
      return { operation: 'MERGE', table: tableName(n.into as OperationNode | undefined) };
    case 'RawNode': {
      const first = (n.sqlFragments as readonly string[])[0] ?? '';
      return { operation: /^\s*([a-zA-Z]+)/.exec(first)?.[1]?.toUpperCase() ?? 'SQL' };
    }
    default:
      // Schema changes (migrations): CreateTableNode → CREATE TABLE.
      return {
        operation: node.kind
          .replace(/Node$/, '')
          .replace(/([a-z])([A-Z])/g, '$1 $2')
          .toUpperCase(),
      };
  }
}

function tableName(node: OperationNode | undefined): string | undefined {
  if (!node) return undefined;
  const n = node as OperationNode & Record<string, unknown>;
  if (node.kind === 'AliasNode') return tableName(n.node as OperationNode);
  if (node.kind === 'TableNode') {
    const id = (n.table as { identifier?: { name?: string } }).identifier;
    return id?.name;
  }
  return undefined;
}
