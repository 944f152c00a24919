// 1–2: push and pull of one large blob, monolithic and chunked, warm and cold page cache.
import { execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { config } from '../lib/config.js';
import { checkBlob, pullBlob, pushChunked, pushMonolithic } from '../lib/http.js';
import { median } from '../lib/load.js';
import type { Results } from '../lib/results.js';
import { memory, type Server } from '../lib/servers.js';

/** Writes `mib` MiB of random bytes to `file` and returns its digest. */
function makeBlobFile(file: string, mib: number): string {
  const hash = createHash('sha256');
  const buf = Buffer.alloc(1 << 20);
  const fd = fs.openSync(file, 'w');
  for (let i = 0; i < mib; i++) {
    randomFillSync(buf);
    hash.update(buf);
    fs.writeSync(fd, buf);
  }
  fs.closeSync(fd);
  return `sha256:${hash.digest('hex')}`;
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

export async function blobSection(servers: Server[], res: Results, workDir: string): Promise<void> {
  const size = config.blobMiB * 1024 * 1024;
  const mb = size / 1e6;
  const file = path.join(workDir, 'blob.bin');
  console.log(`-- blob: generating ${config.blobMiB} MiB of random data`);
  const digest = makeBlobFile(file, config.blobMiB);
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
        sm.push_mono.push(mb / (await timed(() => pushMonolithic(s.base, mono, file, digest, size))));
        await checkBlob(s.base, mono, digest, size);
        sm.push_chunked.push(mb / (await timed(() => pushChunked(s.base, chunked, file, digest, size, config.chunkMiB << 20))));
        await checkBlob(s.base, chunked, digest, size);
        execFileSync('sync'); // write back the pushed data now, not during the pulls
        if (round === 0) {
          // Correctness: the bytes served back hash to the digest that was pushed (untimed).
          const r = await pullBlob(s.base, chunked, digest, true);
          if (r.sha256 !== digest || r.bytes !== size) throw new Error(`pulled blob is ${r.bytes} bytes ${r.sha256}, pushed ${size} ${digest}`);
        }
        const warm = await pullBlob(s.base, mono, digest);
        if (warm.bytes !== size) throw new Error(`pull returned ${warm.bytes} bytes, expected ${size}`);
        // A warm pull is short; three per round steady the median.
        for (let i = 0; i < 3; i++) sm.pull_warm.push(mb / (await timed(() => pullBlob(s.base, mono, digest))));
        dropCaches();
        sm.pull_cold.push(mb / (await timed(() => pullBlob(s.base, mono, digest))));
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
      res.detail(s, `${key}_samples`, list.map((v) => Math.round(v)));
    }
    res.set(s, 'hwm_blob', memory(s).hwmMiB);
  }
  fs.rmSync(file, { force: true });
}
