// 3 and 6: manifest GET by tag (wrk) and blob HEAD (ab) under load, with server CPU time per request.
import { config } from '../lib/config.js';
import { abHead, type LoadResult, wrkGet } from '../lib/load.js';
import { MANIFEST_ACCEPT, makeImage, pushImage, sha256 } from '../lib/registry.js';
import type { Results, Section } from '../lib/results.js';
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
 * (JIT, pools, caches). Reports req/s, p99 and CPU per request of each round (the table shows their median and range).
 */
export async function rounds(
  servers: Server[],
  res: Results,
  name: string,
  key: string,
  run: (s: Server, secs: number) => Promise<LoadResult>,
  section: 'load' | 'bearer' | 'trust' = 'load',
) {
  for (const s of servers) await res.guard(s, section, async () => void (await run(s, Math.min(2, config.durationS))));
  for (let round = 0; round < config.repeat; round++) {
    for (const s of round % 2 === 0 ? servers : [...servers].reverse()) {
      await res.guard(s, section, async () => {
        const r = await measured(s, (secs) => run(s, secs));
        record(res, s, key, r);
        console.log(`-- ${section}: ${s.column} ${name} round ${round + 1}/${config.repeat}: ${Math.round(r.rps)} req/s, p99 ${r.p99Ms.toFixed(1)} ms`);
      });
    }
  }
}

function record(res: Results, s: Server, key: string, r: Run): void {
  res.add(s, `${key}_rps`, r.rps);
  res.add(s, `${key}_p99`, r.p99Ms);
  res.add(s, `${key}_cpu`, (r.cpuS * 1e6) / r.requests);
}

const REPO = 'bench/load';
/** A variant's failure (e.g. Berth on PostgreSQL) fails its own rows, not the main pair's. */
const sectionOf = (s: Server): Section => (s.variant === 'pg' ? 'pg' : 'load');
const failed = (res: Results, s: Server) => res.errors[s.column as 'berth' | 'reference'][sectionOf(s)] !== undefined;
const manifestUrl = (s: Server) => `${s.base}/v2/${REPO}/manifests/latest`;

/** Pushes the image the load rows read and checks the answers are right (before any speed is measured). */
export async function prepareLoad(servers: Server[], res: Results): Promise<string> {
  const img = makeImage();
  for (const s of servers) {
    await res.guard(s, sectionOf(s), async () => {
      await pushImage(s.base, REPO, 'latest', img);
      const get = await fetch(manifestUrl(s), { headers: { Accept: MANIFEST_ACCEPT } });
      const body = Buffer.from(await get.arrayBuffer());
      if (get.status !== 200 || sha256(body) !== img.digest) throw new Error(`manifest GET: HTTP ${get.status}, digest ${sha256(body)}`);
      const head = await fetch(`${s.base}/v2/${REPO}/blobs/${sha256(img.layer)}`, { method: 'HEAD' });
      if (head.status !== 200 || Number(head.headers.get('content-length')) !== img.layer.length) {
        throw new Error(`blob HEAD: HTTP ${head.status}, Content-Length ${head.headers.get('content-length')}`);
      }
      // Untimed warm-up: JIT, pools, caches.
      const warm = Math.min(2, config.durationS);
      await wrkGet(manifestUrl(s), { Accept: MANIFEST_ACCEPT }, warm, config.connections);
      await abHead(`${s.base}/v2/${REPO}/blobs/${sha256(img.layer)}`, warm, config.connections);
    });
  }
  res.note(
    `Manifest GET: \`wrk -t2 -c${config.connections}\` with an Accept header listing OCI and Docker manifest/index types. ` +
      `Blob HEAD: \`ab -k -i -c${config.connections}\` (wrk 4.1 stalls on HEAD responses); ab is single-threaded and speaks HTTP/1.0 keep-alive. ` +
      `${config.durationS} s per run, one run per server and pass, after an untimed warm-up.`,
  );
  res.note('CPU per request = Δ(utime+stime) of the server process tree from /proc/<pid>/stat over the run ÷ completed requests (10 ms tick resolution).');
  return sha256(img.layer);
}

/**
 * One run of manifest GET (every server, `pg` variants included) and of blob HEAD (the main pair) per pass,
 * alternating the order by pass. A variant's rows carry its prefix (pg_manifest_rps); the reference's run of
 * the same pass is also its figure on those rows, and pg_vs_sqlite is Berth's PostgreSQL ÷ SQLite of the pass.
 */
export async function loadPass(servers: Server[], res: Results, layer: string, pass: number): Promise<void> {
  const order = pass % 2 === 0 ? servers : [...servers].reverse();
  const ok = (s: Server) => !failed(res, s);
  const byPass = new Map<Server, number>();
  for (const s of order.filter(ok)) {
    await res.guard(s, sectionOf(s), async () => {
      const r = await measured(s, (secs) => wrkGet(manifestUrl(s), { Accept: MANIFEST_ACCEPT }, secs, config.connections));
      record(res, s, s.variant ? `${s.variant}_manifest` : 'manifest', r);
      byPass.set(s, r.rps);
      if (s.column === 'reference' && servers.some((x) => x.variant === 'pg')) res.add(s, 'pg_manifest_rps', r.rps);
      console.log(`-- load pass ${pass + 1} ${s.variant ?? s.column}: manifest GET ${Math.round(r.rps)} req/s, p99 ${r.p99Ms.toFixed(1)} ms`);
    });
  }
  const sqlite = servers.find((s) => s.column === 'berth' && !s.variant);
  const pgServer = servers.find((s) => s.variant === 'pg');
  if (sqlite && pgServer && byPass.has(sqlite) && byPass.has(pgServer)) res.add('berth', 'pg_vs_sqlite', byPass.get(pgServer)! / byPass.get(sqlite)!);
  for (const s of [...order].reverse().filter((x) => !x.variant && ok(x))) {
    await res.guard(s, 'load', async () => {
      const r = await measured(s, (secs) => abHead(`${s.base}/v2/${REPO}/blobs/${layer}`, secs, config.connections));
      record(res, s, 'head', r);
      console.log(`-- load pass ${pass + 1} ${s.column}: blob HEAD ${Math.round(r.rps)} req/s, p99 ${r.p99Ms.toFixed(1)} ms`);
    });
  }
}
