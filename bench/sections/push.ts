// 4: many small image pushes (layer + config + manifest, unique content) from fetch with fixed concurrency.
import { config } from '../lib/config.js';
import { MANIFEST_ACCEPT, type Image, makeImage, pushImage, runPool, sha256 } from '../lib/registry.js';
import type { Results } from '../lib/results.js';
import type { Server } from '../lib/servers.js';

const repoOf = (i: number) => `bench/small-${i % 10}`;
const tagOf = (i: number) => `v${i}`;

export async function pushSection(servers: Server[], res: Results, flip: boolean): Promise<void> {
  const n = config.smallPushes;
  // Content is generated before timing; each server gets its own images so nothing is shared.
  for (const s of flip ? [...servers].reverse() : servers) {
    await res.guard(s, 'push', async () => {
      console.log(`-- push: ${s.column} ${n} small images, concurrency ${config.concurrency}`);
      const images: Image[] = Array.from({ length: n }, () => makeImage());
      const secs = await runPool(n, config.concurrency, (i) => pushImage(s.base, repoOf(i), tagOf(i), images[i]));
      res.set(s, 'small_time', secs);
      res.set(s, 'small_ips', n / secs);
      // Spot-check that pushed tags resolve to the right manifests.
      for (let j = 0; j < 10; j++) {
        const i = Math.floor((j * n) / 10);
        const r = await fetch(`${s.base}/v2/${repoOf(i)}/manifests/${tagOf(i)}`, { headers: { Accept: MANIFEST_ACCEPT } });
        const body = Buffer.from(await r.arrayBuffer());
        if (r.status !== 200 || sha256(body) !== images[i].digest) throw new Error(`${repoOf(i)}:${tagOf(i)} GET: HTTP ${r.status}, wrong manifest`);
      }
    });
  }
  res.note(`Small pushes: each image is POST+PUT (layer, 2 KiB), POST+PUT (config), PUT manifest = 5 requests, spread over 10 repositories.`);
}
