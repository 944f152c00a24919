// 3 and 6: manifest GET by tag (wrk) and blob HEAD (ab) under load, with server CPU time per request.
import { config } from '../lib/config.js';
import { abHead, type LoadResult, wrkGet } from '../lib/load.js';
import { MANIFEST_ACCEPT, makeImage, pushImage, sha256 } from '../lib/registry.js';
import type { Results } from '../lib/results.js';
import { cpuSeconds, type Server } from '../lib/servers.js';

/** One short untimed warm-up run (JIT, connection pools, caches), then the measured run. */
async function measured(s: Server, run: (seconds: number) => Promise<LoadResult>): Promise<LoadResult & { cpuUs: number }> {
  await run(Math.min(2, config.durationS));
  const before = cpuSeconds(s);
  const r = await run(config.durationS);
  const cpu = cpuSeconds(s) - before;
  if (r.errors > 0) throw new Error(`${r.tool}: ${r.errors} of ${r.requests} responses were errors or non-2xx`);
  if (r.requests === 0) throw new Error(`${r.tool}: no request completed`);
  return { ...r, cpuUs: (cpu * 1e6) / r.requests };
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
  for (const s of order) {
    await res.guard(s, 'load', async () => {
      console.log(`-- load: ${s.column} manifest GET (wrk, ${config.durationS}s)`);
      const g = await measured(s, (secs) => wrkGet(manifestUrl(s), { Accept: MANIFEST_ACCEPT }, secs, config.connections));
      res.set(s, 'manifest_rps', g.rps);
      res.set(s, 'manifest_p99', g.p99Ms);
      res.set(s, 'manifest_cpu', g.cpuUs);
      res.detail(s, 'manifest_get', g);
    });
  }
  for (const s of [...order].reverse()) {
    await res.guard(s, 'load', async () => {
      console.log(`-- load: ${s.column} blob HEAD (ab, ${config.durationS}s)`);
      const h = await measured(s, (secs) => abHead(blobUrl(s), secs, config.connections));
      res.set(s, 'head_rps', h.rps);
      res.set(s, 'head_p99', h.p99Ms);
      res.set(s, 'head_cpu', h.cpuUs);
      res.detail(s, 'blob_head', h);
    });
  }
  res.note(
    `Manifest GET: \`wrk -t2 -c${config.connections} --latency\` with an Accept header listing OCI and Docker manifest/index types. ` +
      `Blob HEAD: \`ab -k -i -c${config.connections}\` (wrk 4.1 stalls on HEAD responses); ab is single-threaded and speaks HTTP/1.0 keep-alive.`,
  );
  res.note('CPU per request = Δ(utime+stime) of the server process tree from /proc/<pid>/stat over the run ÷ completed requests (10 ms tick resolution).');
}
