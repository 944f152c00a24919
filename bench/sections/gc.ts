// 7: garbage collection. The same images go to both registries and are deleted by digest; then each collects:
// Berth with `berth gc --delay 0s` (online: its server keeps running), the reference with
// `docker-registry garbage-collect config.yml` (an offline tool; run while its server idles, nothing writes).
// Objects freed are counted on disk, not taken from either tool's output. The machine's load average is
// recorded with each round. Volume figures (10,000+ blobs, Ceph RGW, the sweep): bench/gc-volume.ts.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { config } from '../lib/config.js';
import { median } from '../lib/load.js';
import { MANIFEST_ACCEPT, type Image, makeImage, pushImage, runPool, sha256 } from '../lib/registry.js';
import type { Results } from '../lib/results.js';
import type { Server } from '../lib/servers.js';

const run = promisify(execFile);

/** Regular files under a directory (the blob store's objects), counted without holding the listing. */
async function countFiles(dir: string): Promise<number> {
  let n = 0;
  let d: fs.Dir;
  try {
    d = await fs.promises.opendir(dir);
  } catch {
    return 0;
  }
  for await (const e of d) {
    if (e.isDirectory()) n += await countFiles(path.join(dir, e.name));
    else if (e.isFile()) n++;
  }
  return n;
}

/** Where each registry keeps blob and manifest bytes (one file per object in both layouts). */
function blobDir(s: Server): string {
  const data = path.join(s.dir, 'data');
  return s.kind === 'reference' ? path.join(data, 'docker', 'registry', 'v2', 'blobs') : path.join(data, 'blobs');
}

/** The file holding a blob's bytes. */
function blobFile(s: Server, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return s.kind === 'reference' ? path.join(blobDir(s), 'sha256', hex.slice(0, 2), hex, 'data') : path.join(blobDir(s), 'sha256', hex.slice(0, 2), hex);
}

const objectsOf = (img: Image) => [sha256(img.layer), sha256(img.config), img.digest];

async function collect(s: Server): Promise<void> {
  if (s.kind === 'reference') {
    await run('docker-registry', ['garbage-collect', path.join(s.dir, 'config.yml')], { cwd: s.dir, maxBuffer: 64 << 20 });
  } else {
    await run('/bin/sh', ['-c', `exec ${config.berthGcCmd} --delay 0s`], { cwd: s.dir, env: s.env, maxBuffer: 64 << 20 });
  }
}

async function deleteManifest(base: string, repo: string, digest: string): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${digest}`, { method: 'DELETE' });
  await res.arrayBuffer();
  if (res.status !== 202) throw new Error(`DELETE ${repo}@${digest}: HTTP ${res.status}`);
}

export async function gcSection(servers: Server[], res: Results): Promise<void> {
  const n = config.gcImages;
  const samples = new Map<Server, { seconds: number[]; rate: number[]; load: number[] }>(servers.map((s) => [s, { seconds: [], rate: [], load: [] }]));
  console.log(`-- gc: ${n} images deleted per round, ${config.repeat} rounds`);
  // Earlier sections leave unreferenced blobs (the large blob has no manifest): an untimed collection first,
  // after one image is there (the reference's collector fails on a registry without repositories).
  const first = makeImage();
  for (const s of servers) {
    await res.guard(s, 'gc', async () => {
      await pushImage(s.base, 'bench/gc-keep', 'first', first);
      await collect(s);
    });
  }
  for (let round = 0; round < config.repeat; round++) {
    // The same bytes on both servers: each image is pushed to each.
    const images: Image[] = Array.from({ length: n }, () => makeImage());
    const keep = makeImage();
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    for (const s of order) {
      await res.guard(s, 'gc', async () => {
        if (res.errors[s.column as 'berth' | 'reference'].gc) return;
        const repo = `bench/gc-${round}`;
        await pushImage(s.base, `bench/gc-keep-${round}`, 'kept', keep);
        await runPool(n, config.concurrency, (i) => pushImage(s.base, repo, `t${i}`, images[i]));
        await runPool(n, config.concurrency, (i) => deleteManifest(s.base, repo, images[i].digest));
        const before = await countFiles(blobDir(s));
        const t0 = performance.now();
        await collect(s);
        const seconds = (performance.now() - t0) / 1000;
        const freed = before - (await countFiles(blobDir(s)));
        // Each deleted image had three objects of its own: layer, config, manifest. All must be gone, the kept ones not.
        const left = images.flatMap(objectsOf).filter((d) => fs.existsSync(blobFile(s, d)));
        if (left.length > 0) throw new Error(`${left.length} objects of deleted images are still stored, e.g. ${left[0]}`);
        const lost = objectsOf(keep).filter((d) => !fs.existsSync(blobFile(s, d)));
        if (lost.length > 0) throw new Error(`objects of the kept image were collected: ${lost.join(', ')}`);
        const r = await fetch(`${s.base}/v2/bench/gc-keep-${round}/manifests/kept`, { headers: { Accept: MANIFEST_ACCEPT } });
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`the kept image answers ${r.status} after collection`);
        const sm = samples.get(s)!;
        sm.seconds.push(seconds);
        sm.rate.push(freed / seconds);
        sm.load.push(Number(os.loadavg()[0].toFixed(1)));
        console.log(`-- gc round ${round + 1}/${config.repeat} ${s.column}: ${freed} objects in ${seconds.toFixed(2)} s, load ${sm.load.at(-1)}`);
      });
    }
  }
  for (const s of servers) {
    const sm = samples.get(s)!;
    if (sm.seconds.length === config.repeat && !res.errors[s.column as 'berth' | 'reference'].gc) {
      res.set(s, 'gc_time', median(sm.seconds));
      res.set(s, 'gc_rate', median(sm.rate));
    }
    res.detail(
      s,
      'gc_seconds_samples',
      sm.seconds.map((v) => Number(v.toFixed(3))),
    );
    const spread = sm.seconds.length ? `${Math.min(...sm.seconds).toFixed(2)}–${Math.max(...sm.seconds).toFixed(2)} s` : 'none';
    res.detail(s, 'gc_load_samples', sm.load);
    res.note(
      `GC ${s.column}: ${sm.seconds.length} rounds, collection time range ${spread}, 1-minute load average after each: ${sm.load.join(', ') || 'none'}.`,
    );
  }
  res.note(
    `GC: per round ${n} one-layer images (3 objects each: layer, config, manifest) pushed to one repository and deleted by digest, one image kept in another; ` +
      'Berth runs `berth gc --delay 0s` next to its running server, the reference `docker-registry garbage-collect` (offline by design; nothing writes meanwhile). ' +
      'Time is the command from start to exit; objects freed are counted on disk. ' +
      `Berth's storage.gc.deleteconcurrency: ${process.env.REGISTRY_STORAGE_GC_DELETECONCURRENCY ?? 'default (4)'}.`,
  );
}
