// PostgreSQL for tests: the server scripts/start-postgres.sh starts (or BERTH_TEST_PG_URL),
// and one fresh schema per user so test files and servers never see each other's rows.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let baseUrl: string | undefined;

/**
 * URL of the test database. BERTH_TEST_PG_URL when set (scripts/test.sh sets it), otherwise
 * scripts/start-postgres.sh is run, which installs and starts PostgreSQL when needed.
 * Never skips: a missing server is an error.
 */
export function postgresUrl(): string {
  if (baseUrl) return baseUrl;
  const env = process.env.BERTH_TEST_PG_URL;
  if (env) {
    baseUrl = env;
    return env;
  }
  const out = execFileSync('bash', [path.join(root, 'scripts/start-postgres.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  baseUrl = out.trim().split('\n').pop()!;
  process.env.BERTH_TEST_PG_URL = baseUrl;
  return baseUrl;
}

export interface PgSchema {
  name: string;
  /** The test database URL with search_path set to the schema. */
  url: string;
  drop(): Promise<void>;
}

/**
 * Creates an empty schema; its URL makes every connection use it. The URL also turns off
 * synchronous_commit for its connections (tests never crash the server, and waiting for
 * the WAL flush of every commit doubled the time of the API tests on PostgreSQL).
 */
export async function freshSchema(prefix = 't'): Promise<PgSchema> {
  const base = postgresUrl();
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin(base, `create schema "${name}"`);
  const u = new URL(base);
  u.searchParams.set('options', `-c search_path=${name} -c synchronous_commit=off`);
  return {
    name,
    url: u.href,
    drop: () => admin(base, `drop schema if exists "${name}" cascade`),
  };
}

async function admin(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * Runs one SQL statement as the server's superuser (`postgres`, over the local socket; tests
 * run as root): for what the test role may not do, such as creating a tablespace.
 */
export function asSuperuser(statement: string): string {
  const u = new URL(postgresUrl());
  const db = u.pathname.slice(1);
  const port = u.port || '5432';
  return execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', `psql -X -q -v ON_ERROR_STOP=1 -p ${port} -d ${db} -Atc "$0"`, statement], {
    encoding: 'utf8',
  });
}
