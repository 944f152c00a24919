// dist/main.js run the way the pod runs it: a non-root uid, a working directory and HOME it cannot write,
// and only two writable directories (the emptyDirs for /tmp and /var/lib/berth). First `berth migrate`
// (the Job), then `serve` with metadata.automigrate off (the Deployment); a push and a pull go through.
// The image's own default (SQLite and blobs under /var/lib/berth) is run the same way.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../helpers/berth-process.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';
import { REPO_ROOT, removeTree, sleep, tempDir } from '../helpers/shared.js';

const UID = 1000;
const MAIN = path.join(REPO_ROOT, 'dist', 'main.js');
let work: string;
let schema: PgSchema;
const children: ChildProcess[] = [];

before(async () => {
  assert.equal(process.getuid?.(), 0, 'the test runs as root, to start Berth as another uid');
  work = tempDir('read-only');
  fs.chmodSync(work, 0o755);
  schema = await freshSchema('readonly');
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await schema?.drop();
  if (work) removeTree(work);
});

/** A fresh pair of writable directories owned by the pod's uid, like two emptyDirs with fsGroup. */
function emptyDirs(name: string): { tmp: string; data: string } {
  const tmp = path.join(work, name, 'tmp');
  const data = path.join(work, name, 'var-lib-berth');
  for (const d of [tmp, data]) {
    fs.mkdirSync(d, { recursive: true });
    fs.chownSync(d, UID, UID);
  }
  fs.chmodSync(path.join(work, name), 0o755);
  return { tmp, data };
}

function podEnv(dirs: { tmp: string; data: string }, extra: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: REPO_ROOT,
    TMPDIR: dirs.tmp,
    NODE_ENV: 'production',
    REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: dirs.data,
    REGISTRY_LOG_LEVEL: 'warn',
    ...extra,
  };
}

const asPod = { uid: UID, gid: UID, cwd: REPO_ROOT };

async function serve(env: Record<string, string>): Promise<{ url: string; log: () => string }> {
  const port = await freePort();
  let log = '';
  const child = spawn(process.execPath, [MAIN, 'serve'], {
    ...asPod,
    env: { ...env, REGISTRY_HTTP_ADDR: `127.0.0.1:${port}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  child.stdout?.on('data', (c) => {
    log += c;
  });
  child.stderr?.on('data', (c) => {
    log += c;
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) assert.fail(`berth exited ${child.exitCode}: ${log}`);
    try {
      const r = await fetch(`${url}/readyz`);
      await r.arrayBuffer();
      if (r.status === 200) return { url, log: () => log };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  assert.fail(`berth did not become ready: ${log}`);
}

const digest = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function pushAndPull(url: string): Promise<void> {
  const layer = randomBytes(3 * 1024 * 1024 + 7);
  const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
  for (const blob of [layer, config]) {
    const post = await fetch(`${url}/v2/pod/app/blobs/uploads/?digest=${digest(blob)}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: blob,
    });
    assert.equal(post.status, 201, await post.text());
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digest(layer), size: layer.length }],
  });
  const put = await fetch(`${url}/v2/pod/app/manifests/v1`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
  });
  assert.equal(put.status, 201, await put.text());
  const got = await fetch(`${url}/v2/pod/app/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(digest(Buffer.from(await got.arrayBuffer())), digest(manifest));
  const blob = await fetch(`${url}/v2/pod/app/blobs/${digest(layer)}`);
  assert.equal(digest(Buffer.from(await blob.arrayBuffer())), digest(layer));
}

describe('Berth on a read-only root filesystem as a non-root uid', () => {
  it('the uid cannot write the working directory or HOME (what the pod has)', () => {
    const r = spawnSync(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(path.join(REPO_ROOT, '.probe'))}, 'x')`], { ...asPod });
    assert.notEqual(r.status, 0);
    assert.match(String(r.stderr), /EACCES/);
  });

  it('migrates as the Job does, then serves pushes and pulls with automigrate off, writing only its two directories', async () => {
    const dirs = emptyDirs('pod');
    const env = podEnv(dirs, { REGISTRY_METADATA: 'postgres', REGISTRY_METADATA_POSTGRES_URL: schema.url, REGISTRY_METADATA_AUTOMIGRATE: 'false' });
    const job = spawnSync(process.execPath, [MAIN, 'migrate'], { ...asPod, env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(job.status, 0, job.stderr);
    assert.match(job.stdout, /^applied \d+ migration\(s\)/);
    const server = await serve(env);
    await pushAndPull(server.url);
    assert.ok(fs.readdirSync(dirs.data).length > 0, 'the blobs went to the writable data directory');
  });

  it("the image's default (SQLite and blobs under /var/lib/berth) runs the same way", async () => {
    const dirs = emptyDirs('default');
    const server = await serve(podEnv(dirs, {}));
    await pushAndPull(server.url);
    assert.ok(fs.existsSync(path.join(dirs.data, 'berth.db')), 'the SQLite database is in the data directory');
  });
});
