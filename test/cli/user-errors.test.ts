// Every `berth` command answers a user's mistake with one line on stderr that says what is
// wrong, and a non-zero exit: no stack traces, no secrets, and nothing written. Runs the
// built command (dist/main.js, which `npm test` builds) as a user would.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { postgresUrl } from '../helpers/postgres.js';
import { REPO_ROOT, tempDir } from '../helpers/shared.js';
import { type CommandRun, commandRun, envWithoutSettings } from '../helpers/berth-process.js';

const dir = tempDir('cli-errors'); // removed at exit
const MAIN = path.join(REPO_ROOT, 'dist', 'main.js');

/** `berth ARGS` with only the given BERTH_/REGISTRY_ variables, data in a fresh directory unless env says otherwise. */
function berth(args: string[], env: Record<string, string> = {}, input = ''): Promise<CommandRun> {
  const clean = envWithoutSettings();
  const root = path.join(dir, `data-${++runs}`);
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd: dir,
    env: { ...clean, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root, REGISTRY_LOG_LEVEL: 'silent', ...env },
  });
  child.stdin.end(input);
  return commandRun(child);
}
let runs = 0;

/** The run failed with `status` and exactly one stderr line matching every pattern, without a stack. */
function refused(r: CommandRun, status: number, ...patterns: RegExp[]): void {
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(r.status, status, `exit status; stderr: ${r.stderr}`);
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], /^berth: /);
  assert.doesNotMatch(r.stderr, /\n\s+at |TypeError|ReferenceError/);
  for (const p of patterns) assert.match(lines[0], p);
}

const TOKEN = { REGISTRY_AUTH: 'token', BERTH_AUTH_ACCOUNTS_BCRYPTCOST: '4' };
let jwks: string;

before(() => {
  jwks = path.join(dir, 'jwks.json');
  writeFileSync(jwks, JSON.stringify({ keys: [] }));
  writeFileSync(path.join(dir, 'not-json.json'), '{keys');
  writeFileSync(path.join(dir, 'not-a-db'), 'this is not SQLite');
});

describe('user and keys commands', () => {
  it('without token auth: says token auth is missing and how to set it, writes no database', async () => {
    const r = await berth(['user', 'add', 'alice', '--password-stdin'], {}, 'alice-password-1');
    refused(r, 1, /need token auth/, /no auth/, /REGISTRY_AUTH=token/);
    assert.equal(existsSync(path.join(dir, `data-${runs}`)), false, 'nothing created');
    refused(await berth(['user', 'passwd', 'alice', '--password-stdin'], {}, 'x'), 1, /need token auth/);
    refused(await berth(['keys', 'rotate']), 1, /need token auth/);
    const htpasswd = { REGISTRY_AUTH: 'htpasswd', REGISTRY_AUTH_HTPASSWD_REALM: 'r', REGISTRY_AUTH_HTPASSWD_PATH: path.join(dir, 'htpasswd') };
    refused(await berth(['user', 'add', 'alice', '--password-stdin'], htpasswd, 'alice-password-1'), 1, /htpasswd auth/, /REGISTRY_AUTH=token/);
  });

  it('with an external token issuer: says accounts belong to the built-in one', async () => {
    const ext = { REGISTRY_AUTH: 'token', BERTH_AUTH_TOKEN_BUILTIN: 'false', BERTH_AUTH_TOKEN_JWKS: jwks };
    refused(await berth(['user', 'add', 'alice', '--password-stdin'], ext, 'alice-password-1'), 1, /built-in token issuer/, /builtin: false/);
    refused(await berth(['keys', 'rotate'], ext), 1, /built-in token issuer/);
  });

  it('a password only from standard input, never empty; an unknown user is named', async () => {
    refused(await berth(['user', 'add', 'alice'], TOKEN, 'alice-password-1'), 1, /standard input only/, /--password-stdin/);
    refused(await berth(['user', 'add', 'alice', '--password-stdin'], TOKEN, '\n'), 1, /empty password/);
    refused(await berth(['user', 'passwd', 'ghost', '--password-stdin'], TOKEN, 'ghost-password-1'), 1, /no such user: ghost/);
    refused(await berth(['user', 'add', 'Bad!Name', '--password-stdin'], TOKEN, 'password-1234'), 1);
  });

  it('a name already taken is refused in one line', async () => {
    const root = path.join(dir, 'taken');
    const ok = await berth(['user', 'add', 'alice', '--password-stdin'], { ...TOKEN, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root }, 'alice-password-1');
    assert.equal(ok.status, 0, ok.stderr);
    refused(
      await berth(['user', 'add', 'alice', '--password-stdin'], { ...TOKEN, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: root }, 'alice-password-2'),
      1,
      /taken/,
    );
  });

  it('a database that cannot be reached or opened: which one, and why, without its password', async () => {
    const pgDown = { ...TOKEN, REGISTRY_METADATA: 'postgres', REGISTRY_METADATA_POSTGRES_URL: 'postgres://berth:hunter2-secret@127.0.0.1:1/berth' };
    const r = await berth(['user', 'add', 'alice', '--password-stdin'], pgDown, 'alice-password-1');
    refused(r, 1, /metadata database PostgreSQL postgres:\/\/berth@127\.0\.0\.1:1\/berth/, /cannot connect to 127\.0\.0\.1:1: connection refused/);
    assert.doesNotMatch(r.stderr, /hunter2/);

    const real = new URL(postgresUrl());
    real.username = 'no_such_role';
    real.password = 'hunter2-secret';
    const badRole = await berth(['keys', 'rotate'], { ...TOKEN, REGISTRY_METADATA: 'postgres', REGISTRY_METADATA_POSTGRES_URL: real.toString() });
    refused(badRole, 1, /metadata database PostgreSQL/, /no_such_role/);
    assert.doesNotMatch(badRole.stderr, /hunter2/);

    refused(
      await berth(['keys', 'rotate'], { ...TOKEN, BERTH_METADATA_SQLITE_PATH: path.join(dir, 'not-a-db') }),
      1,
      /metadata database SQLite .*not-a-db: file is not a database/,
    );
    const file = path.join(dir, 'jwks.json');
    refused(
      await berth(['keys', 'rotate'], { ...TOKEN, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(file, 'sub') }),
      1,
      /cannot mkdir .*jwks\.json\/sub: not a directory/,
    );
  });

  it('an unreadable signing key secret file is named by its key', async () => {
    refused(
      await berth(['keys', 'rotate'], { ...TOKEN, BERTH_AUTH_TOKEN_SIGNINGKEYSECRETFILE: path.join(dir, 'missing-secret') }),
      2,
      /auth\.token\.signingkeysecretfile: cannot read .*missing-secret: no such file or directory/,
    );
  });
});

describe('arguments and options', () => {
  it('unknown options and commands, missing arguments: one line and where the usage is', async () => {
    refused(await berth(['user', 'add', 'alice', '--bogus']), 1, /unknown option '--bogus'/, /see berth user add --help/);
    refused(await berth(['user', 'add']), 1, /missing required argument 'name'/, /see berth user add --help/);
    refused(await berth(['frobnicate']), 1, /unknown command 'frobnicate'/, /see berth --help/);
    refused(await berth(['config', 'verify']), 1, /missing required argument 'file'/, /berth config verify --help/);
    refused(await berth(['serve', '--port', '1']), 1, /unknown option '--port'/);
  });
});

describe('config verify and serve', () => {
  it('config verify: a missing file or a bad key is named', async () => {
    refused(await berth(['config', 'verify', path.join(dir, 'missing.yml')]), 1, /cannot read config file .*missing\.yml/);
    const bad = path.join(dir, 'bad.yml');
    writeFileSync(bad, 'http:\n  adr: ":5000"\n');
    refused(await berth(['config', 'verify', bad]), 1, /unknown key "http\.adr"/);
  });

  it('serve: files the configuration names must be readable', async () => {
    const missing = path.join(dir, 'missing');
    refused(
      await berth(['serve'], { REGISTRY_AUTH: 'htpasswd', REGISTRY_AUTH_HTPASSWD_REALM: 'r', REGISTRY_AUTH_HTPASSWD_PATH: missing }),
      2,
      /auth\.htpasswd\.path: cannot read .*missing: no such file or directory/,
    );
    refused(
      await berth(['serve'], { REGISTRY_HTTP_ADDR: '127.0.0.1:0', REGISTRY_HTTP_TLS_CERTIFICATE: missing, REGISTRY_HTTP_TLS_KEY: missing }),
      2,
      /http\.tls\.certificate: cannot read/,
    );
    refused(
      await berth(['serve'], { REGISTRY_AUTH: 'token', BERTH_AUTH_TOKEN_BUILTIN: 'false', BERTH_AUTH_TOKEN_JWKS: path.join(dir, 'not-json.json') }),
      2,
      /auth\.token\.jwks: .*not-json\.json is not a JSON Web Key Set/,
    );
    refused(await berth(['serve'], { ...TOKEN, BERTH_AUTH_ACCOUNTS_ADMINPASSWORDFILE: missing }), 2, /auth\.accounts\.adminpasswordfile: cannot read/);
    refused(await berth(['serve', path.join(dir, 'missing.yml')]), 2, /configuration error: cannot read config file/);
    const s3 = { REGISTRY_STORAGE: 's3', REGISTRY_STORAGE_S3_BUCKET: 'b', REGISTRY_STORAGE_S3_REGION: 'us-east-1' };
    refused(await berth(['serve'], { ...s3, REGISTRY_STORAGE_S3_V4AUTH: 'false' }), 2, /storage\.s3\.v4auth: false is not supported/);
  });

  it('serve: an address in use is named', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const port = (taken.address() as net.AddressInfo).port;
      refused(
        await berth(['serve'], { REGISTRY_HTTP_ADDR: `127.0.0.1:${port}` }),
        1,
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: address already in use`),
      );
    } finally {
      taken.close();
    }
  });
});
