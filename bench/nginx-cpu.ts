// Server CPU per request behind nginx (issue 15, "scale-out, honestly"): on 2 cores a second replica cannot
// show scaling, so this measures what one request costs and projects requests per second per core.
// One replica (Berth: http.workers unset = one process, or BENCH_BERTH_WORKERS; the reference: one Go
// process) behind nginx (deploy/nginx/berth.conf, access log off), for each setup:
//   fs  filesystem + SQLite (the reference: filesystem)
//   s3  Ceph RGW + PostgreSQL (the reference: its s3 driver on the same gateway); redirects off
// Rows: manifest GET by tag (wrk), blob HEAD (ab), small image push (5 requests an image, fetch pool).
// CPU is Δ(utime+stime) from /proc over each run: the registry's process tree, nginx, and the shared
// dependencies (every `postgres` process; `radosgw`, `ceph-osd`, `ceph-mon`), each ÷ requests completed.
//   node --import tsx bench/nginx-cpu.ts          (BENCH_NGINX_SETUPS=fs,s3 BENCH_REPEAT=3 BENCH_DURATION=10 BENCH_SMALL_PUSHES=500,
//                                                  a fifth of them on s3; ~8 min)
//   BENCH_QUICK=1 node --import tsx bench/nginx-cpu.ts
// Writes bench/results/nginx-cpu-latest.md and .json (BENCH_OUT, BENCH_NAME). Needs dist/main.js.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { berthPostgresEnv, berthS3Env, cephRgw, clearS3Prefix, dropSchema, freshSchema, referenceS3Storage, type Schema, s3Prefix } from './lib/backends.js';
import { config, repoRoot } from './lib/config.js';
import { abHead, type LoadResult, median, wrkGet } from './lib/load.js';
import { startNginx } from './lib/nginx.js';
import { MANIFEST_ACCEPT, makeImage, pushImage, runPool, sha256 } from './lib/registry.js';
import { cpuSeconds, cpuSecondsByName, type Server, type ServerOptions, startServer, stopServer, treeCpuSeconds } from './lib/servers.js';

type Setup = 'fs' | 's3';
type Kind = 'berth' | 'reference';
type Row = 'manifest' | 'head' | 'push';

const setups = (process.env.BENCH_NGINX_SETUPS || 'fs,s3').split(',').map((s) => s.trim()) as Setup[];
const rounds = config.quick ? 2 : Number(process.env.BENCH_REPEAT || 3);
const pushes = Number(process.env.BENCH_SMALL_PUSHES || (config.quick ? 100 : 500));
/** Small pushes through S3 run at a few images/s here (PostgreSQL + Ceph on the same 2 cores): a fifth as many. */
const pushesFor = (setup: Setup) => (setup === 's3' ? Math.max(20, Math.round(pushes / 5)) : pushes);
const DEPS: Record<Setup, string[]> = { fs: [], s3: ['postgres', 'radosgw', 'ceph-osd', 'ceph-mon'] };

/** µs of CPU per request of one run, by where it was spent. */
interface Sample {
  server: number;
  nginx: number;
  deps: number;
  rps: number;
}

const work = fs.mkdtempSync(path.join(process.env.BENCH_TMP || os.tmpdir(), 'berth-nginx-cpu-'));

async function measure(server: Server, nginxPid: number, deps: string[], run: () => Promise<{ requests: number; seconds: number }>): Promise<Sample> {
  const before = { server: cpuSeconds(server), nginx: treeCpuSeconds(nginxPid), deps: deps.length ? cpuSecondsByName(deps) : 0 };
  const r = await run();
  if (r.requests === 0) throw new Error('no request completed');
  const per = (s: number) => (s * 1e6) / r.requests;
  return {
    server: per(cpuSeconds(server) - before.server),
    nginx: per(treeCpuSeconds(nginxPid) - before.nginx),
    deps: deps.length ? per(cpuSecondsByName(deps) - before.deps) : 0,
    rps: r.requests / r.seconds,
  };
}

const checked = (r: LoadResult) => {
  if (r.errors > 0) throw new Error(`${r.tool}: ${r.errors} of ${r.requests} responses were errors or non-2xx`);
  return { requests: r.requests, seconds: r.requests / r.rps };
};

async function runSetup(setup: Setup, samples: Map<string, Sample[]>): Promise<void> {
  const dir = path.join(work, setup);
  let schema: Schema | undefined;
  const prefixes: string[] = [];
  const started: { server: Server; stop: () => Promise<void> }[] = [];
  try {
    const opts: Record<Kind, ServerOptions> = { berth: { name: 'berth' }, reference: { name: 'reference' } };
    if (setup === 's3') {
      const rgw = cephRgw();
      schema = await freshSchema('bench_nginx');
      const [pb, pr] = [s3Prefix('nginx-berth'), s3Prefix('nginx-reference')];
      prefixes.push(pb, pr);
      opts.berth = { name: 'berth', env: { ...berthS3Env(rgw, pb), ...berthPostgresEnv(schema) }, referenceStorage: referenceS3Storage(rgw, pb) };
      opts.reference = { name: 'reference', referenceStorage: referenceS3Storage(rgw, pr) };
    }
    const pairs: { kind: Kind; server: Server; lb: string; nginxPid: number }[] = [];
    for (const kind of ['berth', 'reference'] as Kind[]) {
      const server = await startServer(kind, config.selftest ? 'reference' : kind, dir, opts[kind]);
      const port = Number(new URL(server.base).port);
      const lb = await startNginx(path.join(dir, `nginx-${kind}`), [port]);
      started.push({
        server,
        stop: async () => {
          await lb.stop();
          await stopServer(server);
        },
      });
      pairs.push({ kind, server, lb: lb.url, nginxPid: lb.proc.pid! });
    }
    const img = makeImage();
    for (const p of pairs) {
      // Correctness through nginx before any figure: the tag serves the pushed bytes, HEAD the right length.
      await pushImage(p.lb, 'bench/cpu', 'latest', img);
      const r = await fetch(`${p.lb}/v2/bench/cpu/manifests/latest`, { headers: { Accept: MANIFEST_ACCEPT } });
      const body = Buffer.from(await r.arrayBuffer());
      if (r.status !== 200 || sha256(body) !== img.digest) throw new Error(`${p.kind}: manifest GET through nginx: HTTP ${r.status}`);
      const h = await fetch(`${p.lb}/v2/bench/cpu/blobs/${sha256(img.layer)}`, { method: 'HEAD' });
      if (h.status !== 200 || Number(h.headers.get('content-length')) !== img.layer.length)
        throw new Error(`${p.kind}: blob HEAD through nginx: HTTP ${h.status}`);
      await wrkGet(`${p.lb}/v2/bench/cpu/manifests/latest`, { Accept: MANIFEST_ACCEPT }, 2, config.connections);
      await abHead(`${p.lb}/v2/bench/cpu/blobs/${sha256(img.layer)}`, 2, config.connections);
    }
    const runs: Record<Row, (p: (typeof pairs)[number], round: number) => Promise<{ requests: number; seconds: number }>> = {
      manifest: async (p) => checked(await wrkGet(`${p.lb}/v2/bench/cpu/manifests/latest`, { Accept: MANIFEST_ACCEPT }, config.durationS, config.connections)),
      head: async (p) => checked(await abHead(`${p.lb}/v2/bench/cpu/blobs/${sha256(img.layer)}`, config.durationS, config.connections)),
      push: async (p, round) => {
        const n = pushesFor(setup);
        const imgs = Array.from({ length: n }, () => makeImage());
        const seconds = await runPool(n, config.concurrency, (i) => pushImage(p.lb, `bench/push-${round}-${i % 10}`, `v${i}`, imgs[i]));
        return { requests: n * 5, seconds };
      },
    };
    for (let round = 0; round < rounds; round++) {
      for (const row of ['manifest', 'head', 'push'] as Row[]) {
        for (const p of round % 2 === 0 ? pairs : [...pairs].reverse()) {
          const s = await measure(p.server, p.nginxPid, DEPS[setup], () => runs[row](p, round));
          const key = `${setup}/${row}/${p.kind}`;
          samples.set(key, [...(samples.get(key) ?? []), s]);
          console.log(
            `-- ${setup} ${row} round ${round + 1}/${rounds} ${p.kind}: ${Math.round(s.rps)} req/s, server ${s.server.toFixed(0)} µs, nginx ${s.nginx.toFixed(0)} µs, deps ${s.deps.toFixed(0)} µs per request`,
          );
        }
      }
    }
  } finally {
    for (const x of started) await x.stop();
    if (schema) await dropSchema(schema).catch(() => {});
    if (setup === 's3') for (const p of prefixes) await clearS3Prefix(cephRgw(), p).catch(() => {});
  }
}

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1));
const range = (xs: number[]) => `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
const perCore = (us: number) => Math.round(1e6 / us).toLocaleString('en-US');

async function main(): Promise<void> {
  const samples = new Map<string, Sample[]>();
  const load0 = os.loadavg()[0];
  const t0 = performance.now();
  for (const setup of setups) await runSetup(setup, samples);
  const label: Record<Setup, string> = { fs: 'filesystem + SQLite', s3: 'Ceph RGW + PostgreSQL' };
  const rowName: Record<Row, string> = { manifest: 'manifest GET by tag', head: 'blob HEAD', push: 'small push (per request; 5 an image)' };
  const lines = [
    '| setup | request | server CPU µs/req, berth | reference | ratio (ref ÷ berth) | req/s per core, server only: berth | reference | + nginx, + dependencies µs/req: berth | reference | req/s per core, whole path: berth | reference |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const setup of setups)
    for (const row of ['manifest', 'head', 'push'] as Row[]) {
      const b = samples.get(`${setup}/${row}/berth`) ?? [];
      const r = samples.get(`${setup}/${row}/reference`) ?? [];
      if (!b.length || !r.length) continue;
      const m = (xs: Sample[], k: keyof Sample) => median(xs.map((x) => x[k]));
      const whole = (xs: Sample[]) => m(xs, 'server') + m(xs, 'nginx') + m(xs, 'deps');
      lines.push(
        `| ${label[setup]} | ${rowName[row]} | ${range(b.map((x) => x.server))} | ${range(r.map((x) => x.server))} | ${(m(r, 'server') / m(b, 'server')).toFixed(2)}× | ` +
          `${perCore(m(b, 'server'))} | ${perCore(m(r, 'server'))} | ${fmt(m(b, 'nginx'))}, ${fmt(m(b, 'deps'))} | ${fmt(m(r, 'nginx'))}, ${fmt(m(r, 'deps'))} | ` +
          `${perCore(whole(b))} | ${perCore(whole(r))} |`,
      );
    }
  const commit = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const md = [
    '# Server CPU per request behind nginx: Berth vs reference registry',
    '',
    `${new Date().toISOString()} · ${os.cpus().length} × ${os.cpus()[0]?.model} · Node ${process.version} · Berth ${commit} · ` +
      `${((performance.now() - t0) / 60000).toFixed(1)} min · load ${load0.toFixed(2)} → ${os.loadavg()[0].toFixed(2)}`,
    '',
    `Settings: setups ${setups.join(',')} · Berth http.workers ${config.berthWorkers || 'unset (one process)'} · ${rounds} rounds · ` +
      `wrk/ab ${config.durationS} s × ${config.connections} connections through nginx · ${pushes} small pushes (${pushesFor('s3')} on s3) at concurrency ${config.concurrency} per round`,
    '',
    ...lines,
    '',
    '## Notes',
    '- One replica behind nginx (deploy/nginx/berth.conf with its upstream and listen lines replaced, `worker_processes 1`, access log off); the load generators talk to nginx.',
    '- Server CPU: Δ(utime+stime) of the registry’s process tree over the run ÷ requests completed; median (lowest–highest) of the rounds. Requests per second per core = 10⁶ ÷ µs per request: what one fully busy core would serve.',
    '- nginx: its master and worker. Dependencies (s3 setup only): every process named postgres, radosgw, ceph-osd or ceph-mon on the machine (a PostgreSQL backend that exits during a run loses its share); on a shared machine this counts other work too.',
    '- Whole path: server + nginx + dependencies, i.e. the cores a deployment needs per request/s when all of it runs on the same kind of core.',
    '- The reference has no database: its tags and links are files (fs) or S3 objects (s3), so its dependency CPU is storage only.',
  ].join('\n');
  console.log(`\n${md}`);
  const outDir = config.outDir;
  const name = process.env.BENCH_NAME || 'nginx-cpu-latest';
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, `${name}.md`), `${md}\n`);
  fs.writeFileSync(path.join(outDir, `${name}.json`), `${JSON.stringify({ setups, rounds, pushes, samples: Object.fromEntries(samples) }, null, 2)}\n`);
  console.log(`written: ${path.join(outDir, name)}.md and .json`);
}

main()
  .catch((e) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exitCode = 1;
  })
  .finally(() => {
    if (!config.keep) fs.rmSync(work, { recursive: true, force: true });
  });
