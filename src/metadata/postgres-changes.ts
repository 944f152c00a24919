// PostgreSQL: other replicas' changes, heard on one LISTEN connection per process. Triggers on the
// tables that lookups read (migration 0018) NOTIFY `berth_changes` in the writing transaction, so
// the notice arrives once the change is committed. Until the connection listens nothing is cached;
// losing it moves the epoch (what was cached may have missed a notice) and it reconnects.
import pg from 'pg';
import type { DatabaseChanges, LocalChanges } from './change-epoch.js';

export const CHANGES_CHANNEL = 'berth_changes';
/** The bound on staleness should a notice be lost without the connection failing. */
export const POSTGRES_MAX_AGE_MS = 1000;
const RECONNECT_MS = 1000;

/** Listens from the first epoch() on (CLI commands that open the database never connect). */
export function postgresChanges(url: string, local: LocalChanges): DatabaseChanges {
  let client: pg.Client | null = null;
  let listening = false;
  let closed = false;
  let retry: ReturnType<typeof setTimeout> | undefined;

  const lost = (c: pg.Client) => {
    if (client !== c) return;
    client = null;
    listening = false;
    local.bump();
    c.end().catch(() => {});
    if (!closed) {
      retry = setTimeout(connect, RECONNECT_MS);
      retry.unref();
    }
  };

  function connect(): void {
    retry = undefined;
    if (closed || client) return;
    const c = new pg.Client({ connectionString: url, application_name: 'berth-changes', keepAlive: true });
    client = c;
    c.on('error', () => lost(c));
    c.on('end', () => lost(c));
    let schema: string | null = null;
    // Notices name the schema written to (another installation may share the database); an empty one is for all.
    c.on('notification', (n) => {
      if (!n.payload || n.payload === schema) local.bump();
    });
    c.connect()
      .then(() => c.query('select current_schema() as schema'))
      .then((r) => {
        schema = (r.rows[0] as { schema: string | null }).schema;
        return c.query(`listen ${CHANGES_CHANNEL}`);
      })
      .then(() => {
        if (client !== c) return;
        // Anything read before this point may have missed a notice.
        local.bump();
        listening = true;
      })
      .catch(() => lost(c));
  }

  return {
    epoch() {
      if (listening) return local.value;
      if (!client && !retry && !closed) connect();
      return null;
    },
    maxAgeMs: POSTGRES_MAX_AGE_MS,
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const c = client;
      client = null;
      listening = false;
      await c?.end().catch(() => {});
    },
  };
}
