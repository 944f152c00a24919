// The migrations: one file per migration, numbered in the order they run, each named as
// databases already record it; and a fresh database migrated through 0006 has exactly the
// schema that the migrations produced before they were split into files (the snapshot
// schema-snapshot.json was taken from that code, on SQLite and on PostgreSQL).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrate } from '../../src/metadata/database.js';
import { migrations } from '../../src/metadata/migrations/index.js';
import { BerthPostgresDialect } from '../../src/metadata/postgres.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';
import { dumpPostgresSchema, dumpSqliteSchema, type SchemaDump } from './schema-dump.js';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/metadata/migrations');
const snapshot = JSON.parse(readFileSync(new URL('./schema-snapshot.json', import.meta.url), 'utf8')) as Required<SchemaDump>;

/** Names recorded in `berth_migrations` by released versions: they never change. */
const RECORDED = ['0001_registry_core', '0002_accounts', '0003_index', '0004_webhooks', '0005_sessions', '0006_upload_leases'];
const SNAPSHOT_THROUGH = '0006_upload_leases';
/** Migration numbers reserved for parts of an issue not landed yet; empty once they are. */
const RESERVED: string[] = [];

describe('migration files', () => {
  const files = readdirSync(dir)
    .filter((f) => /^\d{4}-/.test(f))
    .sort();

  it('one file per migration, numbered 0001, 0002, … without gaps, and nothing else in the folder but columns.ts and index.ts', () => {
    assert.deepEqual(
      readdirSync(dir)
        .filter((f) => !files.includes(f))
        .sort(),
      ['columns.ts', 'index.ts'],
    );
    assert.ok(files.length >= RECORDED.length);
    // Numbers reserved for work landing in parallel (issue 12) may be missing until it lands.
    const numbers = [...files.map((f) => f.slice(0, 4)), ...RESERVED].sort();
    const expected = [...new Set(numbers)].map((_, i) => String(i + 1).padStart(4, '0'));
    assert.deepEqual([...new Set(numbers)], expected, 'no gaps but the reserved numbers');
    for (const f of files) assert.match(f, /^\d{4}-[a-z0-9]+(-[a-z0-9]+)*\.ts$/, f);
  });

  it('each file exports one migration named after the file, and the index lists them in file order', async () => {
    const fromFiles: unknown[] = [];
    for (const f of files) {
      const mod = await import(path.join(dir, f));
      assert.deepEqual(Object.keys(mod), ['migration'], `${f} exports exactly one migration`);
      assert.equal(mod.migration.name, f.replace(/\.ts$/, '').replaceAll('-', '_'), f);
      fromFiles.push(mod.migration);
    }
    assert.equal(migrations.length, fromFiles.length);
    migrations.forEach((m, i) => void assert.equal(m, fromFiles[i], `index entry ${i} is ${files[i]}`));
    // Kysely runs migrations in name order: the list order must be that order.
    assert.deepEqual(
      migrations.map((m) => m.name),
      migrations.map((m) => m.name).sort(),
    );
  });

  it('the names that existing databases recorded are unchanged', () => {
    assert.deepEqual(
      migrations.slice(0, RECORDED.length).map((m) => m.name),
      RECORDED,
    );
  });

  it('migration files import only Kysely and the shared columns module (no cycles)', () => {
    for (const f of files) {
      const imports = [...readFileSync(path.join(dir, f), 'utf8').matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
      for (const i of imports) assert.ok(i === 'kysely' || i === './columns.js', `${f} imports ${i}`);
    }
    const columns = [...readFileSync(path.join(dir, 'columns.ts'), 'utf8').matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    assert.deepEqual(
      columns.filter((i) => i !== 'kysely'),
      ['../schema.js'],
    );
  });
});

describe('schema after the released migrations', () => {
  it(`SQLite: a fresh database migrated through ${SNAPSHOT_THROUGH} matches the snapshot statement for statement`, async () => {
    const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) });
    try {
      await migrate(db, 'sqlite', undefined, SNAPSHOT_THROUGH);
      assert.deepEqual(await dumpSqliteSchema(db), snapshot.sqlite);
    } finally {
      await db.destroy();
    }
  });

  describe('PostgreSQL', () => {
    let schema: PgSchema;
    let db: Kysely<any>;
    before(async () => {
      schema = await freshSchema('migr');
      db = new Kysely<any>({ dialect: new BerthPostgresDialect({ pool: new pg.Pool({ connectionString: schema.url, max: 1 }) }) });
    });
    after(async () => {
      await db?.destroy();
      await schema?.drop();
    });

    it(`a fresh schema migrated through ${SNAPSHOT_THROUGH} has the snapshot's columns, constraints and indexes`, async () => {
      await migrate(db, 'postgres', schema.name, SNAPSHOT_THROUGH);
      const dump = await dumpPostgresSchema(db);
      assert.deepEqual(dump.columns, snapshot.postgres.columns);
      assert.deepEqual(dump.constraints, snapshot.postgres.constraints);
      assert.deepEqual(dump.indexes, snapshot.postgres.indexes);
    });
  });
});
