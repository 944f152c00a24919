// Opens the configured metadata database (SQLite, or PostgreSQL when configured) and migrates it
// (or, with metadata.automigrate off, checks that `berth migrate` has).
// Apart from app.ts so that the cluster primary, which only migrates, loads no HTTP stack.
import type { BerthConfig } from '../config/index.js';
import { openSqlite, type MetadataDb, type OpenOptions } from './database.js';

/** Opens the database; migrates it unless metadata.automigrate is off or `migrate` says otherwise. */
export async function openMetadata(config: BerthConfig, opts: OpenOptions = {}): Promise<MetadataDb> {
  const options = { ...opts, migrate: opts.migrate ?? config.metadata.automigrate };
  const pg = config.metadata.postgres;
  if (pg) {
    const { openPostgres } = await import('./postgres.js');
    return openPostgres(pg.url, pg.poolsize, { ...options, connectTimeoutMs: pg.connecttimeout });
  }
  return openSqlite(config.metadata.sqlite.path, options);
}
