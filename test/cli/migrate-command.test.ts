// `berth migrate` and metadata.automigrate: migrations as one step of a rollout (a Kubernetes Job)
// instead of a race at every replica's start, and servers that keep starting when a newer release
// has already migrated the shared database (a rolling update, or a rollback).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startBerth } from '../helpers/berth-process.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';
import { REPO_ROOT, removeTree, tempDir } from '../helpers/shared.js';

const MAIN = path.join(REPO_ROOT, 'dist', 'main.js');
// One file per migration (0001-….ts), as the provider lists them.
const MIGRATIONS = readdirSync(path.join(REPO_ROOT, 'src/metadata/migrations')).filter((f) => /^\d{4}-.*\.ts$/.test(f)).length;
let schema: PgSchema;
let dir: string;

before(async () => {
  schema = await freshSchema('migrate');
  dir = tempDir('migrate');
});
after(async () => {
  await schema?.drop();
  if (dir) removeTree(dir);
});

const pgEnv = () => ({ REGISTRY_METADATA: 'postgres', REGISTRY_METADATA_POSTGRES_URL: schema.url, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: dir });

function berth(args: string[], env: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(REGISTRY|BERTH)_/.test(k)));
  return spawnSync(process.execPath, [MAIN, ...args], { env: { ...clean, ...env }, encoding: 'utf8', timeout: 60_000 });
}

/** `serve` that must fail at start: its exit code and stderr (killed after 30 s if it serves instead). */
function failedServe(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(REGISTRY|BERTH)_/.test(k)));
  const child = spawn(process.execPath, [MAIN, 'serve'], { env: { ...clean, REGISTRY_HTTP_ADDR: '127.0.0.1:0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr += c;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}

describe('berth migrate and metadata.automigrate', () => {
  it('serve with automigrate off refuses an unmigrated database, naming the command to run', async () => {
    const r = await failedServe({ ...pgEnv(), REGISTRY_METADATA_AUTOMIGRATE: 'false' });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`lacks ${MIGRATIONS} migration\\(s\\) this release needs \\(0001_.* … \\d{4}_.*\\): run \`berth migrate\` first`));
    const c = new pg.Client({ connectionString: schema.url });
    await c.connect();
    try {
      const tables = await c.query(`select count(*)::int as n from information_schema.tables where table_schema = $1`, [schema.name]);
      assert.equal(tables.rows[0].n, 0, 'the check wrote nothing');
    } finally {
      await c.end();
    }
  });

  it('applies every migration once and says so; a second run has nothing to do', () => {
    const first = berth(['migrate'], pgEnv());
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`^applied ${MIGRATIONS} migration\\(s\\) to PostgreSQL .*: 0001_`));
    const second = berth(['migrate'], pgEnv());
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /is up to date: nothing to apply/);
  });

  it('servers start on a database a newer release has migrated further, with automigrate on or off', async () => {
    const c = new pg.Client({ connectionString: schema.url });
    await c.connect();
    try {
      await c.query(`insert into berth_migrations (name, timestamp) values ('9999_from_a_newer_release', $1)`, [new Date().toISOString()]);
    } finally {
      await c.end();
    }
    for (const automigrate of ['true', 'false']) {
      const server = await startBerth({ name: `migrate-newer-${automigrate}`, root: dir, env: { ...pgEnv(), REGISTRY_METADATA_AUTOMIGRATE: automigrate } });
      try {
        const res = await fetch(`${server.url}/v2/`);
        assert.equal(res.status, 200);
      } finally {
        await server.stop();
      }
    }
  });

  it('works on SQLite too', () => {
    const env = { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(dir, 'sqlite') };
    const r = berth(['migrate'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^applied ${MIGRATIONS} migration\\(s\\) to SQLite `));
  });
});
