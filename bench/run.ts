// Side-by-side benchmark: Berth and the reference registry (distribution 2.8) on loopback, in one run.
// Usage: bash bench/run.sh   (or: node --import tsx bench/run.ts). Settings: see bench/lib/config.ts and docs/benchmarks.md.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { config, repoRoot } from './lib/config.js';
import { markdownTable } from './lib/report.js';
import { Results } from './lib/results.js';
import { berthPostgresEnv, dropSchema, freshSchema, type Schema } from './lib/backends.js';
import { type Memory, memory, resetPeak, type Server, startServer, stopServer } from './lib/servers.js';
import { bearerSection, startBearerServers } from './sections/bearer.js';
import { type BlobSource, blobNotes, blobPass, makeBlobSource } from './sections/blob.js';
import { gcSection } from './sections/gc.js';
import { loadPass, prepareLoad } from './sections/load.js';
import { catalogSection, tagsSection } from './sections/lists.js';
import { mirrorSection } from './sections/mirror.js';
import { pushNotes, pushPass } from './sections/push.js';
import { replicasSection } from './sections/replicas.js';
import { s3Section } from './sections/s3.js';
import { startupSection } from './sections/startup.js';
import { trustSection } from './sections/trust.js';

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .split('\n')[0]
      .trim();
  } catch (e) {
    return (e as { stdout?: string }).stdout?.split('\n')[0].trim() || 'unknown';
  }
}

function environment() {
  return {
    date: new Date().toISOString(),
    cpu: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    reference: version('docker-registry', ['--version']),
    wrk: version('wrk', ['-v']),
    berthCommit: version('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']),
  };
}

function preflight(): void {
  for (const tool of ['wrk', 'ab', 'docker-registry', 'curl']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} is not installed (apt-get install -y docker-registry wrk apache2-utils, or run bench/run.sh)`);
    }
  }
  if (!config.selftest && !process.env.BENCH_BERTH_CMD && !fs.existsSync(path.join(repoRoot, 'dist', 'main.js'))) {
    throw new Error('dist/main.js is missing: run `npm run build`, or BENCH_SELFTEST=1 to benchmark the reference against itself');
  }
}

/** The settings the figures depend on, as one line under the title. */
function settingsLine(): string {
  const c = config;
  return (
    `Settings: sections ${[...c.only].join(',')} · Berth http.workers ${c.berthWorkers || 'unset (default start: one process)'} · ${c.passes} passes · ` +
    `blob ${c.blobMiB} MiB · S3 blob ${c.s3MiB} MiB · ${c.durationS} s × ${c.connections} connections per load run · ` +
    `${c.smallPushes} small pushes at concurrency ${c.concurrency} · ${c.starts} starts per variant, idle read after ${c.settleS} s · ` +
    `${c.tagMoves} tag moves per round · load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} at the end`
  );
}

/** Idle, peak and end memory of each pass per server: growth across passes shows here. */
function memoryTable(passes: Record<string, { idle: Memory; end?: Memory; peak?: number }[]>): string[] {
  if (!passes.berth.length && !passes.reference.length) return [];
  const f = (n: number | undefined) => (n === undefined ? 'n/a' : n.toFixed(1));
  const lines = [
    '',
    '## Memory across passes (same servers; MiB, summed over processes)',
    '',
    '| server | pass | RSS before | PSS before | peak RSS during | RSS after | PSS after |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [col, list] of Object.entries(passes))
    list.forEach((p, i) => {
      lines.push(`| ${col} | ${i + 1} | ${f(p.idle.rssMiB)} | ${f(p.idle.pssMiB)} | ${f(p.peak)} | ${f(p.end?.rssMiB)} | ${f(p.end?.pssMiB)} |`);
    });
  return lines;
}

async function main(): Promise<number> {
  preflight();
  const env = environment();
  const workDir = fs.mkdtempSync(path.join(process.env.BENCH_TMP || os.tmpdir(), 'berth-bench-'));
  const res = new Results();
  const servers: Server[] = [];
  const cleanup = async () => {
    await Promise.all(servers.map(stopServer));
    if (!config.keep) fs.rmSync(workDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  const started = performance.now();
  const timings: Record<string, number> = {};
  let mark = performance.now();
  const lap = (name: string) => {
    timings[name] = (performance.now() - mark) / 60000;
    mark = performance.now();
  };
  const only = config.only;
  const passRows = only.has('blob') || only.has('load') || only.has('push') || only.has('pg');
  let schema: Schema | undefined;
  const memPasses: Record<string, { idle: Memory; end?: Memory; peak?: number }[]> = { berth: [], reference: [] };
  /** A whole section failed before any server could run it (e.g. Ceph would not start). */
  const sectionFailed = (section: 'startup' | 's3' | 'replicas' | 'pg', e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    for (const col of ['berth', 'reference'] as const) res.errors[col][section] ??= msg;
    console.error(`!! ${section} failed: ${msg}`);
  };
  try {
    // Start-up first: it starts and stops its own servers, on an otherwise idle machine.
    if (only.has('startup')) await startupSection(workDir, res).catch((e) => sectionFailed('startup', e));
    lap('startup');
    servers.push(await startServer('berth', config.selftest ? 'reference' : 'berth', workDir));
    servers.push(await startServer('reference', 'reference', workDir));
    // Berth on PostgreSQL runs the small-push and manifest GET rows in the same passes (its own data).
    let pgServer: Server | undefined;
    if (only.has('pg')) {
      try {
        schema = await freshSchema('bench_pg');
        pgServer = await startServer('berth', config.selftest ? 'reference' : 'berth', workDir, {
          name: 'berth-pg',
          variant: 'pg',
          env: berthPostgresEnv(schema),
        });
        servers.push(pgServer);
      } catch (e) {
        sectionFailed('pg', e);
      }
    }
    const pair = servers.filter((s) => !s.variant);
    for (const s of servers) console.log(`${s.variant ?? s.column}: ${s.label} at ${s.base} (pid ${s.proc.pid})`);
    for (const s of pair) res.set(s, 'rss_idle', memory(s).rssMiB);
    if (passRows) {
      let src: BlobSource | undefined;
      if (only.has('blob')) {
        console.log(`-- blob: generating ${config.blobMiB} MiB of random data`);
        src = makeBlobSource(workDir, config.blobMiB);
        blobNotes(res);
      }
      const layer = only.has('load') || only.has('pg') ? await prepareLoad(servers, res) : '';
      if (only.has('push') || only.has('pg')) pushNotes(res);
      const canReset = pair.every(resetPeak);
      for (let pass = 0; pass < config.passes; pass++) {
        console.log(`== pass ${pass + 1}/${config.passes}`);
        for (const s of pair) {
          resetPeak(s);
          memPasses[s.column].push({ idle: memory(s) });
        }
        if (src) await blobPass(pair, res, src, pass);
        if (layer) await loadPass(only.has('load') ? servers : servers.filter((s) => s.variant === 'pg'), res, layer, pass);
        if (only.has('push') || pgServer)
          await pushPass(only.has('push') ? servers : servers.filter((s) => s.variant === 'pg' || s.column === 'reference'), res, pass);
        for (const s of pair) {
          const m = memory(s);
          const rec = memPasses[s.column][pass];
          rec.end = m;
          rec.peak = m.hwmMiB;
          res.add(s, 'mem_peak', m.hwmMiB);
          res.add(s, 'mem_end_rss', m.rssMiB);
          res.add(s, 'mem_end_pss', m.pssMiB);
          console.log(`-- memory after pass ${pass + 1} ${s.column}: peak ${m.hwmMiB.toFixed(1)} MiB, RSS ${m.rssMiB.toFixed(1)}, PSS ${m.pssMiB.toFixed(1)}`);
        }
      }
      for (const s of pair) {
        const list = memPasses[s.column];
        res.set(s, 'hwm_end', Math.max(...list.map((p) => p.peak ?? 0)));
        if (list.length > 1 && list[0].end && list.at(-1)!.end) res.set(s, 'mem_growth', list.at(-1)!.end!.rssMiB - list[0].end.rssMiB);
      }
      res.note(
        canReset
          ? 'Memory per pass: VmHWM is reset at the start of each pass (`echo 5 > /proc/<pid>/clear_refs`), so "peak during a pass" is that pass’s own peak.'
          : 'Memory per pass: /proc/<pid>/clear_refs is not writable here, so "peak during a pass" is the peak since the server started.',
      );
      src = undefined;
      lap('passes');
    }
    if (pgServer) {
      await stopServer(pgServer);
      servers.splice(servers.indexOf(pgServer), 1);
    }
    if (only.has('tags')) await tagsSection(pair, res, true);
    if (only.has('catalog')) await catalogSection(pair, res, false);
    if (only.has('gc')) await gcSection(pair, res);
    if (only.has('bearer')) {
      // Its own pair of servers, in token-auth mode; stopped before the memory figures are read.
      const bearer = await startBearerServers(workDir);
      try {
        await bearerSection(bearer.servers, res, bearer.sign);
      } finally {
        await Promise.all(bearer.servers.map(stopServer));
      }
    }
    // Its own mirrors of a third registry (the upstream); stopped before the memory figures are read.
    if (only.has('mirror')) await mirrorSection(workDir, res);
    // Its own pair: Berth with an enforce trust policy; stopped before the memory figures are read.
    if (only.has('trust')) await trustSection(workDir, res);
    lap('optional sections');
    for (const s of pair) {
      const m = memory(s);
      res.detail(s, 'memory_end', m);
      res.detail(s, 'memory_passes', memPasses[s.column]);
      res.detail(s, 'label', s.label);
      if (s.proc.exitCode !== null) res.errors[s.column as 'berth' | 'reference'].memory = `exited with ${s.proc.exitCode}`;
    }
    // The main pair idles meanwhile; stopped first so they are not measured alongside.
    await Promise.all(servers.map(stopServer));
    if (only.has('s3')) await s3Section(workDir, res).catch((e) => sectionFailed('s3', e));
    lap('s3');
    if (only.has('replicas')) await replicasSection(workDir, res).catch((e) => sectionFailed('replicas', e));
    lap('replicas');
  } finally {
    await cleanup();
    if (schema) await dropSchema(schema).catch(() => {});
  }
  const minutes = (performance.now() - started) / 60000;

  const rows = res.rows();
  const failures = Object.entries(res.errors).flatMap(([col, e]) => Object.entries(e).map(([sec, msg]) => `${col} / ${sec}: ${msg}`));
  const header = [
    `# Berth vs reference registry — ${config.quick ? 'quick' : 'full'} run`,
    '',
    `${env.date} · ${env.cpu} · ${env.memGiB} GiB RAM · Linux ${env.kernel} · Node ${env.node} · Berth ${env.berthCommit} · ${env.reference} · ${minutes.toFixed(1)} min`,
    '',
    config.selftest ? '**SELF-TEST: the "berth" column is the reference registry too (BENCH_SELFTEST=1); ratios should be ≈1.**\n' : '',
  ].join('\n');
  const notes = [
    'Ratios: berth/reference for throughput; reference/berth for rows marked ↓ (latency, time, CPU, memory), so >1 always means Berth did better.',
    'The load generators (wrk, ab, Node) run on the same machine as both servers and compete with them for its CPU cores; the servers are measured one at a time, alternating which goes first.',
    'MB/s is 10^6 bytes per second. Blob, load and push rows get one round per pass (BENCH_PASSES) against the same servers; list rows (optional sections) are medians of sequential requests on one keep-alive connection.',
    `Time per section (min): ${Object.entries(timings)
      .map(([k, v]) => `${k} ${v.toFixed(1)}`)
      .join(', ')}.`,
    'Memory figures are sums over the server process tree (workers included); RSS and VmHWM count shared pages once per process, PSS splits them.',
    `Each cell is the median of its samples with the lowest–highest in brackets; n is the number of samples (passes, starts, rounds; warm pulls give 3 and S3 pulls 2 per round, tag moves ${config.tagMoves}).`,
    ...res.notes,
  ];
  const md = [
    header,
    settingsLine(),
    '',
    markdownTable(rows),
    ...memoryTable(memPasses),
    '',
    '## Notes',
    ...notes.map((n) => `- ${n}`),
    ...(failures.length ? ['', '## Failures', ...failures.map((f) => `- ${f.replace(/\n/g, ' ')}`)] : []),
    '',
  ].join('\n');
  console.log(`\n${md}`);
  fs.mkdirSync(config.outDir, { recursive: true });
  const out = path.join(config.outDir, config.outName);
  fs.writeFileSync(`${out}.md`, md);
  const json = {
    environment: env,
    config: { ...config, only: [...config.only] },
    rows,
    values: res.values,
    samples: res.samples,
    details: res.details,
    errors: res.errors,
    notes,
  };
  fs.writeFileSync(`${out}.json`, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`written: ${path.relative(repoRoot, out)}.md and .json`);
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(2);
  },
);
