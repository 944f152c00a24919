// Opens the configured metadata database (SQLite, or PostgreSQL when configured) and migrates it.
// Apart from app.ts so that the cluster primary, which only migrates, loads no HTTP stack.
import type { BerthConfig } from '../config/index.js';
import { openSqlite, type MetadataDb, type OpenOptions } from './database.js';

export async function openMetadata(config: BerthConfig, opts: OpenOptions = {}): Promise<MetadataDb> {
  const pg = config.metadata.postgres;
  if (pg) {
    const { openPostgres } = await import('./postgres.js');
    return openPostgres(pg.url, pg.poolsize, { ...opts, connectTimeoutMs: pg.connecttimeout });
  }
  return openSqlite(config.metadata.sqlite.path, opts);
}
