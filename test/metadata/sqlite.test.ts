// The metadata suite on SQLite (concurrent transactions share one instance: see oneProcessOneInstance).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openSqlite } from '../../src/metadata/database.js';
import { metadataSuite } from './metadata-suite.js';

metadataSuite({
  name: 'sqlite',
  oneProcessOneInstance: true,
  async fresh() {
    const dir = mkdtempSync(path.join(tmpdir(), 'berth-meta-'));
    const file = path.join(dir, 'metadata.db');
    return {
      open: () => openSqlite(file),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
});
