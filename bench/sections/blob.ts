// 1–2: push and pull of one large blob, monolithic and chunked, warm and cold page cache.
import { execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import { config } from '../lib/config.js';
import { checkBlob, curlPull, pullBlob, pushChunked, pushMonolithic } from '../lib/http.js';
import { median } from '../lib/load.js';
import type { Results } from '../lib/results.js';
import { memory, type Server } from '../lib/servers.js';

/** `mib` MiB of random bytes in memory, and their digest. */
function makeBlob(mib: number): { blob: Buffer; digest: string } {
  const blob = Buffer.allocUnsafe(mib << 20);
  for (let i = 0; i < mib; i++) randomFillSync(blob, i << 20, 1 << 20);
  return { blob, digest: `sha256:${createHash('sha256').update(blob).digest('hex')}` };
}

/** Flushes dirty pages and drops the page cache; false when the kernel refuses. */
function dropCaches(): boolean {
  try {
    execFileSync('sync');
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

export async function blobSection(servers: Server[], res: Results): Promise<void> {
  const size = config.blobMiB * 1024 * 1024;
  const mb = size / 1e6;
  console.log(`-- blob: generating ${config.blobMiB} MiB of random data`);
  const { blob, digest } = makeBlob(config.blobMiB);
  res.note(
    "Blob pushes send from memory with a Node http client; pulls are timed with curl (Node's client tops out near 2 GB/s here, below both servers), which reports its own transfer time.",
  );
  const samples = new Map<Server, Record<string, number[]>>();
  for (const s of servers) samples.set(s, { push_mono: [], push_chunked: [], pull_warm: [], pull_cold: [] });
  const canDrop = dropCaches();
  if (!canDrop) res.note('Cold pulls: /proc/sys/vm/drop_caches is not writable here, so "caches dropped" rows are warm pulls.');
  else res.note('Cold pulls run after `sync; echo 3 > /proc/sys/vm/drop_caches` (guest page cache only; a VM host may still cache the disk).');

  for (let round = 0; round < config.repeat; round++) {
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    for (const s of order) {
      await res.guard(s, 'blob', async () => {
        const sm = samples.get(s)!;
        const mono = `bench/blob-mono-${round}`;
        const chunked = `bench/blob-chunked-${round}`;
        sm.push_mono.push(mb / (await timed(() => pushMonolithic(s.base, mono, blob, digest))));
        await checkBlob(s.base, mono, digest, size);
        sm.push_chunked.push(mb / (await timed(() => pushChunked(s.base, chunked, blob, digest, config.chunkMiB << 20))));
        await checkBlob(s.base, chunked, digest, size);
        execFileSync('sync'); // write back the pushed data now, not during the pulls
        if (round === 0) {
          // Correctness: the bytes served back hash to the digest that was pushed (untimed).
          const r = await pullBlob(s.base, chunked, digest, true);
          if (r.sha256 !== digest || r.bytes !== size) throw new Error(`pulled blob is ${r.bytes} bytes ${r.sha256}, pushed ${size} ${digest}`);
        }
        const pull = async () => {
          const r = await curlPull(s.base, mono, digest);
          if (r.bytes !== size) throw new Error(`pull returned ${r.bytes} bytes, expected ${size}`);
          return mb / r.seconds;
        };
        await pull(); // warms the page cache
        // A warm pull is short; three per round steady the median.
        for (let i = 0; i < 3; i++) sm.pull_warm.push(await pull());
        dropCaches();
        sm.pull_cold.push(await pull());
        const last = (k: string) => Math.round(sm[k][sm[k].length - 1]);
        console.log(
          `-- blob round ${round + 1}/${config.repeat} ${s.column}: push ${last('push_mono')} / chunked ${last('push_chunked')}, ` +
            `pull warm ${last('pull_warm')} / cold ${last('pull_cold')} MB/s`,
        );
      });
    }
  }
  for (const s of servers) {
    const sm = samples.get(s)!;
    for (const [key, list] of Object.entries(sm)) {
      if (list.length >= config.repeat && !res.errors[s.column as 'berth' | 'reference'].blob) res.set(s, key, median(list));
      res.detail(
        s,
        `${key}_samples`,
        list.map((v) => Math.round(v)),
      );
    }
    res.set(s, 'hwm_blob', memory(s).hwmMiB);
  }
}
