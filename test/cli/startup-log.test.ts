// `berth serve` says at start-up where it listens, how it authenticates, which storage and
// database it uses and where the web UI is (or why there is none), in one log line that
// never carries a password or key.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startBerth } from '../helpers/berth-process.js';
import { freshSchema } from '../helpers/postgres.js';
import { sleep, tempDir } from '../helpers/shared.js';

interface Summary {
  msg: string;
  address: string;
  runtime: string;
  auth: string;
  storage: string;
  database: string;
  mirror?: string;
  ui: string;
}

/** Starts Berth with `env`, returns its start-up summary line and the whole log so far; stops it. */
async function startupLine(env: Record<string, string>, cwd?: string): Promise<{ line: Summary; log: string; url: string; root: string }> {
  const reg = await startBerth({ name: 'startup-log', env: { REGISTRY_LOG_LEVEL: 'info', ...env }, cwd });
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const log = readFileSync(reg.logFile, 'utf8');
      const line = log
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Summary)
        .find((l) => l.msg?.startsWith('Berth serving'));
      if (line) return { line, log, url: reg.url, root: reg.root };
      if (Date.now() > deadline) assert.fail(`no start-up summary in the log:\n${log}`);
      await sleep(50);
    }
  } finally {
    await reg.dispose();
  }
}

describe('start-up log line', () => {
  it('open registry: address, no auth, filesystem, SQLite, and why there is no UI', async () => {
    const { line, url, root } = await startupLine({});
    assert.equal(line.address, url);
    assert.equal(line.auth, 'none (anyone may pull and push)');
    assert.equal(line.storage, `filesystem ${root}`);
    assert.equal(line.database, `SQLite ${path.join(root, 'berth.db')}`);
    assert.match(line.ui, /^none: the UI needs token auth .*REGISTRY_AUTH=token.*no auth/);
    assert.equal(line.runtime, `Node.js ${process.version}`);
    assert.equal(line.msg, `Berth serving ${url} on ${line.runtime}; auth: ${line.auth}; storage: ${line.storage}; database: ${line.database}; UI: ${line.ui}`);
  });

  it('htpasswd: the file, and no UI', async () => {
    const dir = tempDir('startup-htpasswd');
    const file = path.join(dir, 'htpasswd');
    writeFileSync(file, '');
    const { line } = await startupLine({ REGISTRY_AUTH: 'htpasswd', REGISTRY_AUTH_HTPASSWD_REALM: 'r', REGISTRY_AUTH_HTPASSWD_PATH: file });
    assert.equal(line.auth, `htpasswd ${file}`);
    assert.match(line.ui, /^none: .*htpasswd auth/);
  });

  it('built-in token issuer: the UI URL, which answers; the admin password never appears', async () => {
    const { line, log, url } = await startupLine({
      REGISTRY_AUTH: 'token',
      BERTH_AUTH_ACCOUNTS_ADMINPASSWORD: 'admin-secret-h4x',
      BERTH_AUTH_ACCOUNTS_BCRYPTCOST: '4',
    });
    assert.equal(line.auth, 'token, built-in issuer "berth"');
    assert.equal(line.ui, `${url}/ui/`);
    assert.doesNotMatch(log, /admin-secret-h4x/);
  });

  it('the UI URL is the configured external URL when there is one', async () => {
    const { line } = await startupLine({ REGISTRY_AUTH: 'token', REGISTRY_HTTP_HOST: 'https://registry.example.com' });
    assert.equal(line.ui, 'https://registry.example.com/ui/');
  });

  it('external token issuer: its realm and keys, and why there is no UI', async () => {
    const dir = tempDir('startup-jwks');
    const jwks = path.join(dir, 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [] }));
    const { line } = await startupLine({
      REGISTRY_AUTH: 'token',
      BERTH_AUTH_TOKEN_BUILTIN: 'false',
      BERTH_AUTH_TOKEN_JWKS: jwks,
      REGISTRY_AUTH_TOKEN_ISSUER: 'corp-sso',
      REGISTRY_AUTH_TOKEN_REALM: 'https://sso.example.com/token',
    });
    assert.equal(line.auth, `token, external issuer "corp-sso" at https://sso.example.com/token, keys from ${jwks}`);
    assert.match(line.ui, /^none: the accounts belong to the external token issuer/);
  });

  it('PostgreSQL and S3: where they are, without the database password or the S3 keys', async () => {
    const schema = await freshSchema('startup');
    try {
      const pgUrl = new URL(schema.url);
      assert.ok(pgUrl.password, 'the test database URL has a password to hide');
      const { line, log } = await startupLine({
        REGISTRY_METADATA: 'postgres',
        REGISTRY_METADATA_POSTGRES_URL: schema.url,
        REGISTRY_STORAGE: 's3',
        REGISTRY_STORAGE_S3_BUCKET: 'berth-bucket',
        REGISTRY_STORAGE_S3_REGIONENDPOINT: 'http://127.0.0.1:1',
        REGISTRY_STORAGE_S3_ROOTDIRECTORY: '/reg',
        REGISTRY_STORAGE_S3_ACCESSKEY: 'AKIDSTARTUPTEST',
        REGISTRY_STORAGE_S3_SECRETKEY: 's3-secret-h4x-key',
        REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
      });
      const shown = new URL(pgUrl);
      shown.password = '';
      assert.equal(line.database, `PostgreSQL ${shown}`);
      assert.equal(line.storage, 'S3 bucket berth-bucket at http://127.0.0.1:1/ under /reg');
      for (const secret of [`:${pgUrl.password}@`, 's3-secret-h4x-key', 'AKIDSTARTUPTEST']) assert.ok(!log.includes(secret), `log shows ${secret}`);
    } finally {
      await schema.drop();
    }
  });

  it('S3 with the default SQLite: the absolute path of the database, and a warning that it is relative to the working directory', async () => {
    const cwd = tempDir('startup-s3-sqlite');
    const { line, log } = await startupLine(
      {
        REGISTRY_STORAGE: 's3',
        REGISTRY_STORAGE_S3_BUCKET: 'berth-bucket',
        REGISTRY_STORAGE_S3_REGIONENDPOINT: 'http://127.0.0.1:1',
        REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
        // the default; the test helper otherwise gives every server an absolute root
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: './data',
      },
      cwd,
    );
    const db = path.join(cwd, 'data', 'berth.db');
    assert.equal(line.database, `SQLite ${db}`);
    const warnings = log
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.level === 40);
    assert.equal(warnings.length, 1, log);
    assert.match(warnings[0].msg, /SQLite at .*relative to the working directory \(data\/berth\.db\), while blobs go to S3/);
    assert.ok(warnings[0].msg.includes(db), warnings[0].msg);
    assert.match(warnings[0].msg, /REGISTRY_METADATA_SQLITE_PATH.*REGISTRY_METADATA=postgres/);
  });

  it('S3 with SQLite at an absolute path, or on the filesystem driver: no warning', async () => {
    const dir = tempDir('startup-s3-abs');
    const s3 = { REGISTRY_STORAGE: 's3', REGISTRY_STORAGE_S3_BUCKET: 'b', REGISTRY_STORAGE_S3_REGIONENDPOINT: 'http://127.0.0.1:1' };
    for (const [env, cwd] of [
      [{ ...s3, REGISTRY_METADATA_SQLITE_PATH: path.join(dir, 'meta.db') }, undefined],
      [{ REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: './data' }, dir],
    ] as const) {
      const { line, log } = await startupLine(env, cwd);
      assert.match(line.database, /^SQLite \//);
      assert.doesNotMatch(log, /"level":40/, log);
    }
  });

  it('a mirror: its upstreams, never their passwords', async () => {
    const { line, log } = await startupLine({
      REGISTRY_PROXY_REMOTEURL: 'http://127.0.0.1:1',
      REGISTRY_PROXY_USERNAME: 'bob',
      REGISTRY_PROXY_PASSWORD: 'proxy-pass-x9',
      REGISTRY_MIRROR_UPSTREAMS_GHCR_URL: 'https://ghcr.io',
    });
    assert.equal(line.mirror, 'registry:2 proxy of http://127.0.0.1:1/, ghcr → https://ghcr.io/');
    assert.ok(line.msg.endsWith(`; mirror: ${line.mirror}`), line.msg);
    assert.ok(!log.includes('proxy-pass-x9'), 'log shows the upstream password');
  });
});
