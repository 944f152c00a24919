// Side-by-side benchmark: Berth and the reference registry (distribution 2.8) on loopback, in one run.
// Usage: bash bench/run.sh   (or: node --import tsx bench/run.ts). Settings: see bench/lib/config.ts and docs/benchmarks.md.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { config, repoRoot } from './lib/config.js';
import { markdownTable } from './lib/report.js';
import { Results } from './lib/results.js';
import { memory, type Server, startServer, stopServer } from './lib/servers.js';
import { bearerSection, startBearerServers } from './sections/bearer.js';
import { blobSection } from './sections/blob.js';
import { loadSection } from './sections/load.js';
import { mirrorSection } from './sections/mirror.js';
import { trustSection } from './sections/trust.js';
import { gcSection } from './sections/gc.js';
import { catalogSection, tagsSection } from './sections/lists.js';
import { pushSection } from './sections/push.js';

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
  for (const tool of ['wrk', 'ab', 'docker-registry']) {
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
  try {
    servers.push(await startServer('berth', config.selftest ? 'reference' : 'berth', workDir));
    servers.push(await startServer('reference', 'reference', workDir));
    for (const s of servers) {
      console.log(`${s.column}: ${s.label} at ${s.base} (pid ${s.proc.pid})`);
      res.set(s, 'rss_idle', memory(s).rssMiB);
    }
    if (config.only.has('blob')) await blobSection(servers, res);
    if (config.only.has('load')) await loadSection(servers, res, true);
    if (config.only.has('push')) await pushSection(servers, res, false);
    if (config.only.has('tags')) await tagsSection(servers, res, true);
    if (config.only.has('catalog')) await catalogSection(servers, res, false);
    if (config.only.has('gc')) await gcSection(servers, res);
    if (config.only.has('bearer')) {
      // Its own pair of servers, in token-auth mode; stopped before the memory figures are read.
      const bearer = await startBearerServers(workDir);
      try {
        await bearerSection(bearer.servers, res, bearer.sign);
      } finally {
        await Promise.all(bearer.servers.map(stopServer));
      }
    }
    // Its own mirrors of a third registry (the upstream); stopped before the memory figures are read.
    if (config.only.has('mirror')) await mirrorSection(workDir, res);
    // Its own pair: Berth with an enforce trust policy; stopped before the memory figures are read.
    if (config.only.has('trust')) await trustSection(workDir, res);
    for (const s of servers) {
      const m = memory(s);
      res.set(s, 'rss_end', m.rssMiB);
      res.set(s, 'pss_end', m.pssMiB);
      res.set(s, 'hwm_end', m.hwmMiB);
      res.detail(s, 'processes', m.processes);
      res.detail(s, 'label', s.label);
      if (s.proc.exitCode !== null) res.errors[s.column as 'berth' | 'reference'].memory = `exited with ${s.proc.exitCode}`;
    }
  } finally {
    await cleanup();
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
    'MB/s is 10^6 bytes per second; blob rows are medians of BENCH_REPEAT rounds; list rows are medians of sequential requests on one keep-alive connection.',
    'Memory figures are sums over the server process tree (workers included); RSS and VmHWM count shared pages once per process, PSS splits them.',
    ...res.notes,
  ];
  const md = [
    header,
    markdownTable(rows),
    '',
    '## Notes',
    ...notes.map((n) => `- ${n}`),
    ...(failures.length ? ['', '## Failures', ...failures.map((f) => `- ${f.replace(/\n/g, ' ')}`)] : []),
    '',
  ].join('\n');
  console.log(`\n${md}`);
  fs.mkdirSync(config.outDir, { recursive: true });
  fs.writeFileSync(path.join(config.outDir, 'latest.md'), md);
  const json = { environment: env, config: { ...config, only: [...config.only] }, rows, values: res.values, details: res.details, errors: res.errors, notes };
  fs.writeFileSync(path.join(config.outDir, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  console.log(`written: ${path.relative(repoRoot, path.join(config.outDir, 'latest.md'))} and latest.json`);
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(2);
  },
);
