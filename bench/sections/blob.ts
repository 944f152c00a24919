// Push and pull of one large blob, one round per pass: pushes with Node's client (from memory) and with
// curl (--upload-file from a file in the page cache), pulls warm and with the caches dropped, each with
// curl and with Node's client. Every push carries new bytes (a counter in the first 8 bytes), so no
// server ever answers a push from a blob it already has.
import { execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { config } from '../lib/config.js';
import { checkBlob, curlPull, curlPush, pullBlob, pushChunked, pushMonolithic } from '../lib/http.js';
import type { Results } from '../lib/results.js';
import type { Server } from '../lib/servers.js';

export interface BlobSource {
  blob: Buffer;
  /** The same bytes in a file, for curl. */
  file: string;
  digest: string;
  pushes: number;
}

/** `mib` MiB of random bytes in memory and in a file under `dir`. */
export function makeBlobSource(dir: string, mib: number): BlobSource {
  const blob = Buffer.allocUnsafe(mib << 20);
  for (let i = 0; i < mib; i++) randomFillSync(blob, i << 20, 1 << 20);
  const file = path.join(dir, `blob-${mib}m.bin`);
  fs.writeFileSync(file, blob);
  return { blob, file, digest: '', pushes: 0 };
}

/** New bytes for the next push: a counter in the first 8 bytes of the buffer and the file; returns the digest. */
export function nextBlob(src: BlobSource): string {
  src.pushes++;
  src.blob.writeBigUInt64BE(BigInt(src.pushes), 0);
  const fd = fs.openSync(src.file, 'r+');
  try {
    fs.writeSync(fd, src.blob, 0, 8, 0);
  } finally {
    fs.closeSync(fd);
  }
  src.digest = `sha256:${createHash('sha256').update(src.blob).digest('hex')}`;
  return src.digest;
}

/** Reads the file through, so curl uploads from the page cache (a cold-pull cache drop evicts it). */
function warmFile(file: string): void {
  const buf = Buffer.allocUnsafe(8 << 20);
  const fd = fs.openSync(file, 'r');
  try {
    while (fs.readSync(fd, buf, 0, buf.length, null) > 0);
  } finally {
    fs.closeSync(fd);
  }
}

/** Flushes dirty pages and drops the page cache; false when the kernel refuses. */
export function dropCaches(): boolean {
  try {
    execFileSync('sync');
    fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
    return true;
  } catch {
    return false;
  }
}

export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

export function blobNotes(res: Results): void {
  res.note(
    'Blob rows: every push sends new bytes. Node client: POST, then one PUT ?digest= with the whole blob from memory. curl: POST (Node), then ' +
      '`curl -T <file>` PUT ?digest= from a file read through just before (page cache), with curl’s default `Expect: 100-continue`. ' +
      'Pushes are timed from the POST to the 201. Pulls: `curl -o /dev/null` (its own time_total) and Node’s http client (bytes counted, not kept).',
  );
  if (dropCaches()) res.note('Cold pulls run after `sync; echo 3 > /proc/sys/vm/drop_caches` (guest page cache only; a VM host may still cache the disk).');
  else res.note('Cold pulls: /proc/sys/vm/drop_caches is not writable here, so "caches dropped" rows are warm pulls.');
}

/** One round of every blob row for each server, alternating which goes first by pass. */
export async function blobPass(servers: Server[], res: Results, src: BlobSource, pass: number): Promise<void> {
  const size = src.blob.length;
  const mb = size / 1e6;
  for (const s of pass % 2 === 0 ? servers : [...servers].reverse()) {
    await res.guard(s, 'blob', async () => {
      const got: Record<string, number> = {};
      const repo = `bench/blob-${pass}`;
      const nodeDigest = nextBlob(src);
      got.push_node = mb / (await timed(() => pushMonolithic(s.base, repo, src.blob, nodeDigest)));
      await checkBlob(s.base, repo, nodeDigest, size);
      if (config.only.has('chunked')) {
        const d = nextBlob(src);
        got.push_chunked = mb / (await timed(() => pushChunked(s.base, `${repo}-chunked`, src.blob, d, config.chunkMiB << 20)));
        await checkBlob(s.base, `${repo}-chunked`, d, size);
      }
      const curlDigest = nextBlob(src);
      warmFile(src.file);
      got.push_curl = mb / (await timed(() => curlPush(s.base, `${repo}-curl`, src.file, curlDigest)));
      await checkBlob(s.base, `${repo}-curl`, curlDigest, size);
      execFileSync('sync'); // write back the pushed data now, not during the pulls
      if (pass === 0) {
        // Correctness: the bytes served back hash to the digest that was pushed (untimed).
        const r = await pullBlob(s.base, repo, nodeDigest, true);
        if (r.sha256 !== nodeDigest || r.bytes !== size) throw new Error(`pulled blob is ${r.bytes} bytes ${r.sha256}, pushed ${size} ${nodeDigest}`);
      }
      const curl = async () => {
        const r = await curlPull(s.base, repo, nodeDigest);
        if (r.bytes !== size) throw new Error(`pull returned ${r.bytes} bytes, expected ${size}`);
        return mb / r.seconds;
      };
      const node = async () => {
        const t = performance.now();
        const { bytes } = await pullBlob(s.base, repo, nodeDigest);
        const secs = (performance.now() - t) / 1000;
        if (bytes !== size) throw new Error(`pull returned ${bytes} bytes, expected ${size}`);
        return mb / secs;
      };
      await curl(); // warms the page cache
      // A warm pull is short; three per round steady the median.
      const warm = [await curl(), await curl(), await curl()];
      got.pull_warm_node = await node();
      dropCaches();
      got.pull_cold = await curl();
      dropCaches();
      got.pull_cold_node = await node();
      for (const [k, v] of Object.entries(got)) res.add(s, k, v);
      for (const v of warm) res.add(s, 'pull_warm', v);
      console.log(
        `-- blob pass ${pass + 1} ${s.column}: push node ${Math.round(got.push_node)} / curl ${Math.round(got.push_curl)}, ` +
          `pull warm curl ${Math.round(warm[1])} / node ${Math.round(got.pull_warm_node)}, cold curl ${Math.round(got.pull_cold)} / node ${Math.round(got.pull_cold_node)} MB/s`,
      );
    });
  }
}
