// Short descriptions of what a configuration uses, for the start-up log and error
// messages. They never contain a secret: passwords and keys are left out, URLs lose
// their password and any secret-looking query parameter.
import type { BerthConfig } from './types.js';

/** "PostgreSQL postgres://berth@db:5432/berth" or "SQLite /data/berth.db". */
export function describeDatabase(c: BerthConfig): string {
  const pg = c.metadata.postgres;
  return pg ? `PostgreSQL ${redactUrl(pg.url)}` : `SQLite ${c.metadata.sqlite.path}`;
}

const SECRET_PARAM = /pass|secret|key|token|cert/i;

/** The URL without its password or secret-looking query parameters; never the input when it cannot be parsed. */
export function redactUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return '(unparsable URL)';
  }
  if (u.password) u.password = '';
  for (const name of [...u.searchParams.keys()]) if (SECRET_PARAM.test(name)) u.searchParams.set(name, 'redacted');
  return u.toString();
}
