// 4: many small image pushes (layer + config + manifest, unique content) from fetch with fixed concurrency.
import { config } from '../lib/config.js';
import { MANIFEST_ACCEPT, type Image, makeImage, pushImage, runPool, sha256 } from '../lib/registry.js';
import type { Results } from '../lib/results.js';
import type { Server } from '../lib/servers.js';

const repoOf = (i: number) => `bench/small-${i % 10}`;
const tagOf = (i: number) => `v${i}`;

export async function pushSection(servers: Server[], res: Results, flip: boolean): Promise<void> {
  const n = config.smallPushes;
  // The pushes go in 2×BENCH_REPEAT batches, alternating servers, so a burst of noise on the shared machine
  // lands on both; the reported time is the sum over the batches.
  const batches = Math.min(n, 2 * config.repeat);
  const images = new Map<Server, Image[]>(servers.map((s) => [s, Array.from({ length: n }, () => makeImage())]));
  const secs = new Map<Server, number>(servers.map((s) => [s, 0]));
  console.log(`-- push: ${n} small images per server in ${batches} batches, concurrency ${config.concurrency}`);
  for (let b = 0; b < batches; b++) {
    const from = Math.floor((b * n) / batches);
    const to = Math.floor(((b + 1) * n) / batches);
    const order = (b % 2 === 0) !== flip ? servers : [...servers].reverse();
    for (const s of order) {
      await res.guard(s, 'push', async () => {
        if (res.errors[s.column as 'berth' | 'reference'].push) return;
        const imgs = images.get(s)!;
        const t = await runPool(to - from, config.concurrency, (i) => pushImage(s.base, repoOf(from + i), tagOf(from + i), imgs[from + i]));
        secs.set(s, secs.get(s)! + t);
      });
    }
  }
  for (const s of servers) {
    await res.guard(s, 'push', async () => {
      if (res.errors[s.column as 'berth' | 'reference'].push) return;
      // Spot-check that pushed tags resolve to the right manifests.
      for (let j = 0; j < 10; j++) {
        const i = Math.floor((j * n) / 10);
        const r = await fetch(`${s.base}/v2/${repoOf(i)}/manifests/${tagOf(i)}`, { headers: { Accept: MANIFEST_ACCEPT } });
        const body = Buffer.from(await r.arrayBuffer());
        if (r.status !== 200 || sha256(body) !== images.get(s)![i].digest) throw new Error(`${repoOf(i)}:${tagOf(i)} GET: HTTP ${r.status}, wrong manifest`);
      }
      res.set(s, 'small_time', secs.get(s)!);
      res.set(s, 'small_ips', n / secs.get(s)!);
    });
  }
  res.note(
    'Small pushes: each image is POST+PUT (layer, 2 KiB), POST+PUT (config), PUT manifest = 5 requests, spread over 10 repositories; ' +
      `pushed in ${batches} batches alternating between the servers.`,
  );
}
