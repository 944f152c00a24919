// What a server process loads. A registry-only start (the defaults: no auth, filesystem + SQLite) loads no
// code for features it does not run, even after serving a push and a pull: no AWS SDK, pg, accounts (jose,
// bcrypt), REST API (swagger), UI, index Markdown, mirror, scanner, replication, signature libraries,
// prom-client or tracing SDK. Token auth loads the API and the UI, and a cluster primary loads no HTTP stack.
// Checked in real processes, with a module hook that records every module each process resolves.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { freePort } from '../helpers/berth-process.js';
import { request } from '../helpers/http.js';
import { digestOf, MT, ociImageManifest } from '../helpers/oci.js';
import { REPO_ROOT, sleep, tempDir } from '../helpers/shared.js';
import { pushBlob, putManifest } from '../helpers/upload.js';

const MAIN = path.join(REPO_ROOT, 'dist', 'main.js');

interface Loaded {
  url: string;
  /** pid -> the URLs (ES modules) and paths (CommonJS) of the modules it loaded */
  byPid: Map<number, string[]>;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts `berth serve` recording, per process, every module it loads: ES modules through a resolve hook,
 * CommonJS ones (require, createRequire: which the hook does not see on Node 20) by wrapping Module._load.
 */
async function serveRecording(name: string, env: Record<string, string>): Promise<Loaded> {
  const dir = tempDir(`footprint-${name}`);
  const record = path.join(dir, 'loaded.txt');
  fs.writeFileSync(
    path.join(dir, 'hooks.mjs'),
    `import fs from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  fs.appendFileSync(${JSON.stringify(record)}, process.pid + ' ' + r.url + '\\n');
  return r;
}
`,
  );
  fs.writeFileSync(path.join(dir, 'register.mjs'), "import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n");
  fs.writeFileSync(
    path.join(dir, 'require.cjs'),
    `const Module = require('node:module');
const fs = require('node:fs');
const load = Module._load;
Module._load = function (request, parent, isMain) {
  const m = load.apply(this, arguments);
  try {
    fs.appendFileSync(${JSON.stringify(record)}, process.pid + ' ' + Module._resolveFilename(request, parent, isMain) + '\\n');
  } catch {}
  return m;
};
`,
  );
  const port = await freePort();
  const child = spawn(process.execPath, ['--require', path.join(dir, 'require.cjs'), '--import', path.join(dir, 'register.mjs'), MAIN, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(dir, 'data'),
      REGISTRY_METADATA_SQLITE_PATH: path.join(dir, 'data', 'berth.db'),
      REGISTRY_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const status = await request(`${url}/v2/`, { timeoutMs: 2000 }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200 || status === 401) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      assert.fail(`the server did not start:\n${stderr}`);
    }
    await sleep(100);
  }
  const byPid = () => {
    const out = new Map<number, string[]>();
    for (const line of fs.readFileSync(record, 'utf8').split('\n')) {
      const i = line.indexOf(' ');
      if (i <= 0) continue;
      const pid = Number(line.slice(0, i));
      if (!out.has(pid)) out.set(pid, []);
      out.get(pid)!.push(line.slice(i + 1));
    }
    return out;
  };
  return {
    url,
    pid: child.pid!,
    get byPid() {
      return byPid();
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** The packages and our own modules that a registry-only process must not load. */
const NOT_FOR_A_REGISTRY_ONLY_START = [
  '/node_modules/@aws-sdk/',
  '/node_modules/pg/',
  '/node_modules/jose/',
  '/node_modules/bcrypt/',
  '/node_modules/@fastify/swagger/',
  '/node_modules/markdown-it/',
  '/node_modules/@sigstore/',
  '/node_modules/prom-client/',
  '/node_modules/@opentelemetry/sdk-trace-base/',
  '/node_modules/fflate/',
  '/node_modules/tar-stream/',
  '/node_modules/preact/',
  '/dist/api/',
  '/dist/ui/',
  '/dist/scan/',
  '/dist/replication/',
  '/dist/auth/token-auth.js',
  '/dist/mirror/service.js',
  '/dist/storage/s3.js',
  '/dist/metadata/postgres.js',
];

function loadedOf(urls: string[], needles: string[]): string[] {
  return needles.filter((n) => urls.some((u) => u.includes(n)));
}

describe('what a server process loads', () => {
  it('a registry-only start, after a push and a pull, has loaded none of the features it does not run', { timeout: 120_000 }, async () => {
    const s = await serveRecording('registry-only', {});
    try {
      // A push (blobs and a manifest) and a pull, by tag and by digest.
      const repo = 'footprint/app';
      const layer = Buffer.from('a layer of the footprint test\n');
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
      await pushBlob(s.url, repo, layer);
      await pushBlob(s.url, repo, config);
      const manifest = ociImageManifest(config, [layer]);
      assert.equal(await putManifest(s.url, repo, 'v1', manifest, MT.ociManifest), 201);
      const byTag = await request(`${s.url}/v2/${repo}/manifests/v1`, { headers: { Accept: MT.ociManifest } });
      assert.equal(byTag.status, 200);
      assert.ok(byTag.body.equals(manifest));
      const blob = await request(`${s.url}/v2/${repo}/blobs/${digestOf(layer)}`);
      assert.equal(blob.status, 200);
      assert.ok(blob.body.equals(layer));
      assert.equal((await request(`${s.url}/v2/_catalog`)).status, 200);

      const byPid = s.byPid;
      assert.deepEqual([...byPid.keys()], [s.pid], 'one process');
      const urls = byPid.get(s.pid)!;
      assert.ok(
        urls.some((u) => u.endsWith('/dist/app.js')),
        'the hook saw the app load',
      );
      assert.ok(
        urls.some((u) => u.includes('/node_modules/better-sqlite3/')),
        'the hook saw packages load',
      );
      assert.deepEqual(loadedOf(urls, NOT_FOR_A_REGISTRY_ONLY_START), []);
    } finally {
      await s.stop();
    }
  });

  it('token auth loads the accounts, the REST API and the UI', { timeout: 120_000 }, async () => {
    const s = await serveRecording('token', {
      REGISTRY_AUTH: 'token',
      REGISTRY_AUTH_ACCOUNTS_ADMINPASSWORD: 'footprint-admin-password',
      REGISTRY_AUTH_ACCOUNTS_BCRYPTCOST: '4',
    });
    try {
      const urls = s.byPid.get(s.pid)!;
      assert.deepEqual(loadedOf(urls, ['/node_modules/jose/', '/node_modules/bcrypt/', '/dist/api/', '/dist/ui/', '/dist/auth/token-auth.js']), [
        '/node_modules/jose/',
        '/node_modules/bcrypt/',
        '/dist/api/',
        '/dist/ui/',
        '/dist/auth/token-auth.js',
      ]);
    } finally {
      await s.stop();
    }
  });

  it('a cluster primary (http.workers: 2) loads no HTTP stack and no database code (the first worker migrates); its workers do', {
    timeout: 120_000,
  }, async () => {
    const s = await serveRecording('cluster', { REGISTRY_HTTP_WORKERS: '2' });
    try {
      // The registry answers once one worker listens; wait for the other one to have loaded the app too.
      const deadline = Date.now() + 60_000;
      const workersWithApp = () => [...s.byPid.entries()].filter(([pid, urls]) => pid !== s.pid && urls.some((u) => u.endsWith('/dist/app.js')));
      while (workersWithApp().length < 2) {
        assert.ok(Date.now() < deadline, 'the second worker never loaded the app');
        await sleep(100);
      }
      const primary = s.byPid.get(s.pid)!;
      assert.ok(
        primary.some((u) => u.endsWith('/dist/server.js')),
        'the hook saw the primary start',
      );
      assert.deepEqual(
        loadedOf(primary, [
          '/node_modules/fastify/',
          '/node_modules/pino/',
          '/node_modules/better-sqlite3/',
          '/node_modules/kysely/',
          '/node_modules/@opentelemetry/api/',
          '/dist/app.js',
          '/dist/http/',
          '/dist/metadata/',
          ...NOT_FOR_A_REGISTRY_ONLY_START,
        ]),
        [],
      );
    } finally {
      await s.stop();
    }
  });

  it('a cluster whose first worker cannot open the database stops with its message, not a restart loop', { timeout: 120_000 }, async () => {
    const dir = tempDir('footprint-cluster-fail');
    const notADir = path.join(dir, 'file');
    fs.writeFileSync(notADir, '');
    const r = spawnSync(process.execPath, [MAIN, 'serve'], {
      env: {
        PATH: process.env.PATH ?? '',
        REGISTRY_HTTP_ADDR: `127.0.0.1:${await freePort()}`,
        REGISTRY_HTTP_WORKERS: '2',
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(dir, 'data'),
        REGISTRY_METADATA_SQLITE_PATH: path.join(notADir, 'berth.db'),
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /metadata database/);
    assert.doesNotMatch(r.stderr, /starting another/);
  });
});
