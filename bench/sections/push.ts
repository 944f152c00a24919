// Many small image pushes (layer + config + manifest, unique content) from fetch with fixed concurrency,
// one round per pass. Berth on PostgreSQL (variant 'pg') is pushed in the same passes as the main pair.
import { config } from '../lib/config.js';
import { MANIFEST_ACCEPT, type Image, makeImage, pushImage, runPool, sha256 } from '../lib/registry.js';
import type { Results, Section } from '../lib/results.js';
import type { Server } from '../lib/servers.js';

const repoOf = (pass: number, i: number) => `bench/small-${pass}-${i % 10}`;
const tagOf = (i: number) => `v${i}`;
const sectionOf = (s: Server): Section => (s.variant === 'pg' ? 'pg' : 'push');

export function pushNotes(res: Results): void {
  res.note(
    'Small pushes: each image is POST+PUT (layer, 2 KiB), POST+PUT (config), PUT manifest = 5 requests, spread over 10 repositories; ' +
      `${config.smallPushes} images per server and pass in two halves (server order A B, then B A), images/s over both halves. ` +
      'The reference’s figure of a pass is also its figure on the PostgreSQL row (it has no database).',
  );
}

/** One round: `config.smallPushes` fresh images to every server; rows small_ips (pg_small_ips for the pg variant). */
export async function pushPass(servers: Server[], res: Results, pass: number): Promise<void> {
  const n = config.smallPushes;
  const live = servers.filter((s) => res.errors[s.column as 'berth' | 'reference'][sectionOf(s)] === undefined);
  const images = new Map<Server, Image[]>(live.map((s) => [s, Array.from({ length: n }, () => makeImage())]));
  const secs = new Map<Server, number>(live.map((s) => [s, 0]));
  const half = Math.floor(n / 2);
  const base = pass % 2 === 0 ? live : [...live].reverse();
  for (const [from, to, order] of [
    [0, half, base],
    [half, n, [...base].reverse()],
  ] as const) {
    for (const s of order) {
      await res.guard(s, sectionOf(s), async () => {
        if (!secs.has(s)) return;
        const imgs = images.get(s)!;
        const t = await runPool(to - from, config.concurrency, (i) => pushImage(s.base, repoOf(pass, from + i), tagOf(from + i), imgs[from + i]));
        secs.set(s, secs.get(s)! + t);
      });
      if (res.errors[s.column as 'berth' | 'reference'][sectionOf(s)] !== undefined) secs.delete(s);
    }
  }
  for (const s of live) {
    if (!secs.has(s)) continue;
    await res.guard(s, sectionOf(s), async () => {
      // Spot-check that pushed tags resolve to the right manifests.
      for (let j = 0; j < 10; j++) {
        const i = Math.floor((j * n) / 10);
        const r = await fetch(`${s.base}/v2/${repoOf(pass, i)}/manifests/${tagOf(i)}`, { headers: { Accept: MANIFEST_ACCEPT } });
        const body = Buffer.from(await r.arrayBuffer());
        if (r.status !== 200 || sha256(body) !== images.get(s)![i].digest)
          throw new Error(`${repoOf(pass, i)}:${tagOf(i)} GET: HTTP ${r.status}, wrong manifest`);
      }
      const ips = n / secs.get(s)!;
      res.add(s, s.variant ? `${s.variant}_small_ips` : 'small_ips', ips);
      if (s.column === 'reference' && servers.some((x) => x.variant === 'pg')) res.add(s, 'pg_small_ips', ips);
      console.log(`-- push pass ${pass + 1} ${s.variant ?? s.column}: ${n} images in ${secs.get(s)!.toFixed(2)} s = ${ips.toFixed(0)} images/s`);
    });
  }
}
