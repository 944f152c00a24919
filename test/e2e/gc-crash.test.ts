// `kill -9` of `berth gc` in the middle of a collection loses nothing, and the next collection finishes
// the job: the claims of the dead process are taken over, blobs it left 'deleting' go, and every image
// that was kept (some sharing layers with the deleted ones) still pulls completely.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/clients.js';
import { withServerLog } from '../helpers/e2e.js';
import { RegistryApi, verifyRegistryImage } from '../helpers/oci.js';
import { REPO_ROOT, sleep } from '../helpers/shared.js';

const DELETED = Number(process.env.BERTH_GC_CRASH_IMAGES ?? 1200);
const KEPT = 20;

let reg: RegistryProcess;
let api: RegistryApi;

before(async () => {
  reg = await startBerth({ name: 'gc-crash' });
  api = new RegistryApi(reg.url);
});
after(async () => {
  await reg?.dispose();
});

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Img {
  blobs: Buffer[];
  manifest: Buffer;
  digest: string;
}

/** An OCI image of the given layers and a unique config. */
function image(layers: Buffer[]): Img {
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map(sha256) }, nonce: randomBytes(8).toString('hex') }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(l), size: l.length })),
    }),
  );
  return { blobs: [config, ...layers], manifest, digest: sha256(manifest) };
}

async function push(repo: string, tag: string, img: Img): Promise<void> {
  for (const b of img.blobs) {
    const post = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    await post.arrayBuffer();
    assert.equal(post.status, 202);
    const loc = new URL(post.headers.get('location')!, reg.url);
    loc.searchParams.set('digest', sha256(b));
    const put = await fetch(loc, { method: 'PUT', body: b as unknown as BodyInit, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(put.status, 201, await put.text());
  }
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body: img.manifest as unknown as BodyInit,
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
  });
  assert.equal(res.status, 201, await res.text());
}

async function pool<T>(items: T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i], i);
      }
    }),
  );
}

const blobFile = (digest: string) => path.join(reg.root, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));

/** Objects on disk under blobs/ (what collection removes), counted from the disk. */
function storedObjects(): number {
  const base = path.join(reg.root, 'blobs', 'sha256');
  let n = 0;
  for (const d of fs.readdirSync(base)) n += fs.readdirSync(path.join(base, d)).length;
  return n;
}

const gcArgs = [path.join(REPO_ROOT, 'dist', 'main.js'), 'gc', '--delay', '0s'];
const gcEnv = () => ({ ...process.env, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: reg.root, REGISTRY_LOG_LEVEL: 'warn' });

test(`kill -9 of berth gc while it deletes ${DELETED.toLocaleString('en-US')} images loses nothing, and the next run finishes`, { timeout: 10 * 60_000 }, () =>
  withServerLog(
    () => reg,
    async () => {
      // Kept images share a base layer with the deleted ones.
      const base = randomBytes(4096);
      const kept = Array.from({ length: KEPT }, () => image([base, randomBytes(512)]));
      const deleted = Array.from({ length: DELETED }, () => image([base, randomBytes(512)]));
      await pool(kept, 4, (img, i) => push('crash/kept', `k${i}`, img));
      await pool(deleted, 8, (img, i) => push(`crash/gone-${i % 10}`, `g${i}`, img));
      await pool(deleted, 8, async (img, i) => {
        const r = await api.req('DELETE', `/v2/crash/gone-${i % 10}/manifests/${img.digest}`);
        assert.equal(r.status, 202);
      });
      const before = storedObjects();
      const doomed = deleted.length * 3; // each deleted image's config, own layer and manifest

      // Kill the collector as soon as the disk shows it deleting (polling the disk, not sleeping a guess).
      const child = spawn(process.execPath, gcArgs, { env: gcEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (c) => {
        stderr += c;
      });
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      let now = before;
      while (child.exitCode === null && now === before) {
        await sleep(1);
        now = storedObjects();
      }
      child.kill('SIGKILL');
      const code = await exited;
      const atKill = storedObjects();
      assert.equal(code, null, `berth gc finished before it was killed (${stderr})`);
      assert.ok(atKill < before && atKill > before - doomed, `killed mid-collection: ${before} objects before, ${atKill} after the kill (${now} seen)`);
      console.log(`# killed berth gc with ${before - atKill} of ${doomed} objects deleted`);

      // Meanwhile nothing kept was lost.
      for (let i = 0; i < KEPT; i++) await verifyRegistryImage(api, 'crash/kept', `k${i}`);

      // The next collection takes over the dead process's claims and finishes.
      const r = await run(process.execPath, gcArgs, { env: gcEnv() });
      assert.match(r.stdout, /^gc: deleted \d+ manifests and \d+ blobs/);
      assert.equal(storedObjects(), before - doomed, `objects left after the second run (${r.stdout.trim()})`);
      for (const img of deleted.slice(0, 50))
        for (const b of [...img.blobs.slice(0, 1), img.blobs[2], img.manifest]) assert.ok(!fs.existsSync(blobFile(sha256(b))));
      assert.ok(fs.existsSync(blobFile(sha256(base))), 'the shared layer stays');
      for (let i = 0; i < KEPT; i++) await verifyRegistryImage(api, 'crash/kept', `k${i}`);
      // A deleted image pushed again works (its blobs were collected; the registry must not claim them).
      await push('crash/gone-0', 'again', deleted[0]);
      await verifyRegistryImage(api, 'crash/gone-0', 'again');
    },
  ),
);
