// Helpers of the replication tests: the metadata database of the test backend (SQLite, or
// PostgreSQL with BERTH_TEST_METADATA=postgres).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MetadataDb } from '../../src/metadata/database.js';
import { openSqlite } from '../../src/metadata/database.js';
import { openPostgres } from '../../src/metadata/postgres.js';
import { freshSchema } from '../helpers/postgres.js';

export const onPostgres = process.env.BERTH_TEST_METADATA === 'postgres';

/** A fresh, migrated metadata database; `open` gives another instance on it (another replica). */
export async function openTestMetadata(): Promise<{ meta: MetadataDb; open(): Promise<MetadataDb>; close(): Promise<void> }> {
  if (onPostgres) {
    const schema = await freshSchema('repl');
    const open = () => openPostgres(schema.url, 4);
    const meta = await open();
    return {
      meta,
      open,
      close: async () => {
        await meta.close();
        await schema.drop();
      },
    };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-repl-'));
  const open = () => openSqlite(path.join(dir, 'meta.db'));
  const meta = await open();
  return {
    meta,
    open,
    close: async () => {
      await meta.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
