// 3 and 6: manifest GET by tag (wrk) and blob HEAD (ab) under load, with server CPU time per request.
import { config } from '../lib/config.js';
import { abHead, type LoadResult, median, wrkGet } from '../lib/load.js';
import { MANIFEST_ACCEPT, makeImage, pushImage, sha256 } from '../lib/registry.js';
import type { Results } from '../lib/results.js';
import { cpuSeconds, type Server } from '../lib/servers.js';

interface Run extends LoadResult {
  cpuS: number;
}

async function measured(s: Server, run: (seconds: number) => Promise<LoadResult>): Promise<Run> {
  const before = cpuSeconds(s);
  const r = await run(config.durationS);
  const cpuS = cpuSeconds(s) - before;
  if (r.errors > 0) throw new Error(`${r.tool}: ${r.errors} of ${r.requests} responses were errors or non-2xx`);
  if (r.requests === 0) throw new Error(`${r.tool}: no request completed`);
  return { ...r, cpuS };
}

/**
 * BENCH_REPEAT rounds per server, alternating which server goes first, after one short untimed warm-up each
 * (JIT, pools, caches). Reports the median req/s and p99, and total CPU ÷ total requests.
 */
export async function rounds(
  servers: Server[],
  res: Results,
  name: string,
  key: string,
  run: (s: Server, secs: number) => Promise<LoadResult>,
  section: 'load' | 'bearer' | 'trust' = 'load',
) {
  const runs = new Map<Server, Run[]>(servers.map((s) => [s, []]));
  for (const s of servers) await res.guard(s, section, async () => void (await run(s, Math.min(2, config.durationS))));
  for (let round = 0; round < config.repeat; round++) {
    for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
      await res.guard(s, section, async () => {
        const r = await measured(s, (secs) => run(s, secs));
        runs.get(s)!.push(r);
        console.log(`-- ${section}: ${s.column} ${name} round ${round + 1}/${config.repeat}: ${Math.round(r.rps)} req/s, p99 ${r.p99Ms.toFixed(1)} ms`);
      });
    }
  }
  for (const s of servers) {
    const list = runs.get(s)!;
    res.detail(s, key, list);
    if (list.length < config.repeat) continue;
    res.set(s, `${key}_rps`, median(list.map((r) => r.rps)));
    res.set(s, `${key}_p99`, median(list.map((r) => r.p99Ms)));
    const requests = list.reduce((a, r) => a + r.requests, 0);
    res.set(s, `${key}_cpu`, (list.reduce((a, r) => a + r.cpuS, 0) * 1e6) / requests);
  }
}

export async function loadSection(servers: Server[], res: Results, flip: boolean): Promise<void> {
  const img = makeImage();
  const repo = 'bench/load';
  const manifestUrl = (s: Server) => `${s.base}/v2/${repo}/manifests/latest`;
  const blobUrl = (s: Server) => `${s.base}/v2/${repo}/blobs/${sha256(img.layer)}`;
  for (const s of servers) {
    await res.guard(s, 'load', async () => {
      await pushImage(s.base, repo, 'latest', img);
      // Correctness before speed: the tag resolves to the exact bytes pushed, and the blob HEAD is right.
      const get = await fetch(manifestUrl(s), { headers: { Accept: MANIFEST_ACCEPT } });
      const body = Buffer.from(await get.arrayBuffer());
      if (get.status !== 200 || sha256(body) !== img.digest) throw new Error(`manifest GET: HTTP ${get.status}, digest ${sha256(body)}`);
      const head = await fetch(blobUrl(s), { method: 'HEAD' });
      if (head.status !== 200 || Number(head.headers.get('content-length')) !== img.layer.length) {
        throw new Error(`blob HEAD: HTTP ${head.status}, Content-Length ${head.headers.get('content-length')}`);
      }
    });
  }
  const order = flip ? [...servers].reverse() : servers;
  const ready = order.filter((s) => !res.errors[s.column as 'berth' | 'reference'].load);
  await rounds(ready, res, 'manifest GET (wrk)', 'manifest', (s, secs) => wrkGet(manifestUrl(s), { Accept: MANIFEST_ACCEPT }, secs, config.connections));
  await rounds([...ready].reverse(), res, 'blob HEAD (ab)', 'head', (s, secs) => abHead(blobUrl(s), secs, config.connections));
  res.note(
    `Manifest GET: \`wrk -t2 -c${config.connections} --latency\` with an Accept header listing OCI and Docker manifest/index types. ` +
      `Blob HEAD: \`ab -k -i -c${config.connections}\` (wrk 4.1 stalls on HEAD responses); ab is single-threaded and speaks HTTP/1.0 keep-alive.`,
  );
  res.note('CPU per request = Δ(utime+stime) of the server process tree from /proc/<pid>/stat over the run ÷ completed requests (10 ms tick resolution).');
}
