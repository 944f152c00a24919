// Whether the metadata database may have changed since a read: what the lookup cache
// (registry/lookup-cache.ts) checks its entries against. An epoch is a number that moves
// whenever the database may have changed:
//   - this process wrote: every statement that may write moves it, before it runs and again
//     after (a COMMIT is such a statement), so a read that overlapped a write is never kept;
//   - another process wrote: SQLite's `PRAGMA data_version` (several workers or a CLI command
//     on one file) is read at most every SQLITE_CHECK_MS, and before a lookup's result is kept; PostgreSQL replicas hear it through LISTEN, from
//     triggers that NOTIFY in the writing transaction (migration 0018), and without the
//     listening connection nothing is cached (reconnecting moves the epoch).
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';

export interface DatabaseChanges {
  /**
   * The current epoch; a different number once the database may have changed. null: cache nothing now.
   * `fresh`: look for other processes' changes now (before keeping what a lookup just read).
   */
  epoch(fresh?: boolean): number | null;
  /** Entries read longer ago than this are not served: the bound when a change notice is lost. */
  readonly maxAgeMs: number;
  /** Ends what watching needs (PostgreSQL's listening connection). */
  close(): Promise<void>;
}

/** This process's writes: the counter the plugin moves. */
export class LocalChanges {
  value = 0;

  bump(): void {
    this.value++;
  }
}

/** Sees every statement this process runs; moves the counter around those that may write. */
export function changePlugin(local: LocalChanges): KyselyPlugin {
  const writes = new WeakSet<object>();
  return {
    transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
      if (mayWrite(args.node)) {
        local.bump();
        writes.add(args.queryId);
      }
      return args.node;
    },
    async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      // After it ran (or committed): a read that began meanwhile saw the old rows.
      if (writes.delete(args.queryId)) local.bump();
      return args.result;
    },
  };
}

/** Anything but a SELECT may change rows (raw SQL by its first word: COMMIT, DELETE, WITH …). */
export function mayWrite(node: RootOperationNode): boolean {
  if (node.kind === 'SelectQueryNode') return false;
  if (node.kind !== 'RawNode') return true;
  const first = (node as unknown as { sqlFragments: readonly string[] }).sqlFragments[0] ?? '';
  return !/^\s*(select|pragma)\b/i.test(first);
}

/**
 * How often SQLite's data_version is read: it costs a read transaction on the WAL's shared memory
 * (~10 µs, a quarter of a cached pull), so other processes' commits are seen within this.
 */
export const SQLITE_CHECK_MS = 100;

/** SQLite: this process's writes at once, and other connections' commits through `PRAGMA data_version`. */
export function sqliteChanges(local: LocalChanges, dataVersion: () => number, checkMs = SQLITE_CHECK_MS, clock = () => performance.now()): DatabaseChanges {
  let last: number | undefined;
  let checked = Number.NEGATIVE_INFINITY;
  return {
    epoch(fresh = false) {
      const now = clock();
      if (fresh || now - checked >= checkMs) {
        let v: number;
        try {
          v = dataVersion();
        } catch {
          // Closed, or the file is unreadable: the query that follows reports it.
          return null;
        }
        checked = now;
        if (v !== last) {
          last = v;
          local.bump();
        }
      }
      return local.value;
    },
    maxAgeMs: Number.POSITIVE_INFINITY,
    close: async () => {},
  };
}
