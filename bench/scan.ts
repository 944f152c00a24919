// The built-in analyser's speed and memory on a real layer (issue 13): one gzip layer made of this
// machine's /usr/bin, Python packages and dpkg database (Debian's own binaries include Go programs),
// analysed BENCH_REPEAT times in this process, streamed from the file as Berth streams it from storage.
// Reports the median time, throughput (of the compressed and the unpacked bytes), what was found, and
// the process's peak RSS above what it held before the first round. The reference registry does not
// scan, so there is no side by side; the figure is the analyser's alone (advisory matching excluded).
//   node --import tsx bench/scan.ts           BENCH_REPEAT (default 3), BENCH_SCAN_DIRS (space-separated)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { analyzeImage } from '../src/scan/analyze/index.js';
import { median } from './lib/load.js';

const rounds = Number(process.env.BENCH_REPEAT ?? 3);
const dirs = (process.env.BENCH_SCAN_DIRS ?? 'usr/bin usr/lib/python3/dist-packages var/lib/dpkg etc/os-release').split(' ').filter(Boolean);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-scan-bench-'));
const layer = path.join(work, 'layer.tar.gz');
const present = dirs.filter((d) => fs.existsSync(path.join('/', d)));
execFileSync('tar', ['czf', layer, '-C', '/', '--ignore-failed-read', ...present], { stdio: ['ignore', 'ignore', 'inherit'] });
const gz = fs.statSync(layer).size;
const unpacked = Number(
  execFileSync('sh', ['-c', `gzip -dc '${layer}' | wc -c`])
    .toString()
    .trim(),
);

const mib = (b: number) => (b / 2 ** 20).toFixed(0);
const before = process.memoryUsage().rss;
const times: number[] = [];
let found = '';
try {
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    const r = await analyzeImage(
      [{ digest: 'sha256:bench', mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', open: async () => fs.createReadStream(layer) }],
      {
        maxFileBytes: 64 * 2 ** 20,
      },
    );
    times.push((performance.now() - t0) / 1000);
    const by = new Map<string, number>();
    for (const p of r.packages) by.set(p.ecosystem.split(':')[0], (by.get(p.ecosystem.split(':')[0]) ?? 0) + 1);
    found = [...by].map(([e, n]) => `${n} ${e}`).join(', ');
    console.log(`-- round ${i + 1}/${rounds}: ${times.at(-1)!.toFixed(1)} s (${found})`);
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
const peak = process.resourceUsage().maxRSS * 1024;
const t = median(times);
console.log(
  [
    '',
    `| built-in analyser, one layer of ${present.join(', ')} | figure |`,
    '|---|---:|',
    `| layer size, gzip / unpacked | ${mib(gz)} / ${mib(unpacked)} MiB |`,
    `| time, median of ${rounds} (min–max) | ${t.toFixed(1)} s (${Math.min(...times).toFixed(1)}–${Math.max(...times).toFixed(1)}) |`,
    `| throughput, gzip / unpacked | ${(gz / 1e6 / t).toFixed(0)} / ${(unpacked / 1e6 / t).toFixed(0)} MB/s |`,
    `| packages found | ${found} |`,
    `| peak RSS above the process's RSS before the first round | ${mib(Math.max(0, peak - before))} MiB |`,
    '',
    `${new Date().toISOString()} · ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'} · Node ${process.version}`,
  ].join('\n'),
);
