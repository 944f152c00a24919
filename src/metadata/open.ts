// Opens the configured metadata database (SQLite, or PostgreSQL when configured) and migrates it.
// Apart from app.ts so that the cluster primary, which only migrates, loads no HTTP stack.
import type { KyselyPlugin } from 'kysely';
import type { BerthConfig } from '../config/index.js';
import { openSqlite, type MetadataDb } from './database.js';

/** `plugins`: see every query (src/metadata/traced-plugin.ts, metered-plugin.ts). */
export async function openMetadata(config: BerthConfig, opts: { plugins?: KyselyPlugin[] } = {}): Promise<MetadataDb> {
  const pg = config.metadata.postgres;
  if (pg) {
    const { openPostgres } = await import('./postgres.js');
    return openPostgres(pg.url, pg.poolsize, { plugins: opts.plugins });
  }
  return openSqlite(config.metadata.sqlite.path, { plugins: opts.plugins });
}
