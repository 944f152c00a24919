// Table types of the web UI's sign-in sessions, added to the metadata layer's
// Database interface by module augmentation (schema.ts stays the registry's own).
// The table is created by src/metadata/migrations/0005-sessions.ts ('0005_sessions').

/** One signed-in browser. Rows live in the database, so every replica serves them. */
export interface SessionsTable {
  /** SHA-256 (hex) of the cookie's secret: a copy of the table holds no live cookie. */
  id: string;
  user_id: number;
  /** The per-session CSRF token the browser must echo in X-Berth-CSRF. */
  csrf: string;
  created_at: number;
  last_seen_at: number;
  /** Absolute end of the session; it also ends after SESSION_IDLE_MS without use. */
  expires_at: number;
  address: string | null;
  user_agent: string | null;
}

declare module '../metadata/schema.js' {
  interface Database {
    sessions: SessionsTable;
  }
}
