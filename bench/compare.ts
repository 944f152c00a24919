// Two Berth builds on the bearer rows, in one run: rounds alternate between the builds (and, inside
// each, between Berth and the reference registry, which serves as the machine's noise gauge).
//   BENCH_BUILDS='main=/tmp/berth-main/dist/main.js,branch=dist/main.js' node --import tsx bench/compare.ts
// Settings as bench/run.ts (BENCH_REPEAT, BENCH_DURATION, BENCH_CONNECTIONS), plus BENCH_COMPARE_ROUNDS
// (server restarts per build, default 3) and BENCH_COMPARE_NAME (output file stem, default bearer-compare).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { config } from './lib/config.js';
import { median } from './lib/load.js';
import { Results } from './lib/results.js';
import { stopServer } from './lib/servers.js';
import { bearerSection, startBearerServers } from './sections/bearer.js';

const builds = (process.env.BENCH_BUILDS ?? '')
  .split(',')
  .filter(Boolean)
  .map((b) => {
    const [name, main] = b.split('=');
    if (!name || !main || !fs.existsSync(main)) throw new Error(`BENCH_BUILDS entry "${b}": want name=path/to/dist/main.js (an existing file)`);
    return { name, cmd: `node ${path.resolve(main)} serve` };
  });
if (builds.length < 2) throw new Error('BENCH_BUILDS needs two or more name=path/to/dist/main.js entries');
const roundsPerBuild = Number(process.env.BENCH_COMPARE_ROUNDS || 3);
const stem = process.env.BENCH_COMPARE_NAME || 'bearer-compare';
const KEYS = ['bearer_base_rps', 'bearer_base_cpu', 'bearer_manifest_rps', 'bearer_manifest_cpu'] as const;

type Sample = Record<(typeof KEYS)[number], number>;

async function main(): Promise<void> {
  const samples = new Map<string, { berth: Sample[]; reference: Sample[] }>(builds.map((b) => [b.name, { berth: [], reference: [] }]));
  for (let round = 0; round < roundsPerBuild; round++) {
    for (const b of round % 2 === 0 ? builds : [...builds].reverse()) {
      const workDir = fs.mkdtempSync(path.join(process.env.BENCH_TMP || os.tmpdir(), 'berth-compare-'));
      const { servers, sign } = await startBearerServers(workDir, b.cmd);
      const res = new Results();
      try {
        await bearerSection(servers, res, sign);
      } finally {
        await Promise.all(servers.map(stopServer));
        fs.rmSync(workDir, { recursive: true, force: true });
      }
      const failed = Object.entries(res.errors).filter(([, e]) => e.bearer);
      if (failed.length) throw new Error(`${b.name}, round ${round + 1}: ${failed.map(([c, e]) => `${c}: ${e.bearer}`).join('; ')}`);
      // Each round's value is already the median of BENCH_REPEAT wrk runs; keep the runs too.
      const s = samples.get(b.name)!;
      for (const col of ['berth', 'reference'] as const) {
        s[col].push(Object.fromEntries(KEYS.map((k) => [k, res.values[col][k]])) as Sample);
      }
      console.log(`== ${b.name} round ${round + 1}/${roundsPerBuild}: ${KEYS.map((k) => `${k} ${Math.round(res.values.berth[k])}`).join(', ')}`);
    }
  }

  const fmt = (v: number) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));
  const spread = (vs: number[]) => `${fmt(Math.min(...vs))}–${fmt(Math.max(...vs))}`;
  const lines = [
    `# Berth builds compared on the bearer rows`,
    '',
    `${new Date().toISOString()} · ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'} · Node ${process.version} · ${roundsPerBuild} server starts per build × ${config.repeat} wrk runs of ${config.durationS} s, ${config.connections} connections, Berth workers ${config.berthWorkers || 'unset'}`,
    '',
    `| metric | ${builds.map((b) => `${b.name} median (spread)`).join(' | ')} | ${builds
      .slice(1)
      .map((b) => `${b.name}/${builds[0].name}`)
      .join(' | ')} | reference median per build |`,
    `|---|${builds.map(() => '---:').join('|')}|${builds
      .slice(1)
      .map(() => '---:')
      .join('|')}|---|`,
  ];
  const labels: Record<(typeof KEYS)[number], string> = {
    bearer_base_rps: 'bearer GET /v2/ (req/s)',
    bearer_base_cpu: 'server CPU per bearer GET /v2/ (µs) ↓',
    bearer_manifest_rps: 'bearer manifest GET by tag (req/s)',
    bearer_manifest_cpu: 'server CPU per bearer manifest GET (µs) ↓',
  };
  for (const k of KEYS) {
    const med = builds.map((b) => median(samples.get(b.name)!.berth.map((s) => s[k])));
    const cells = builds.map((b, i) => `${fmt(med[i])} (${spread(samples.get(b.name)!.berth.map((s) => s[k]))})`);
    const ratios = builds.slice(1).map((_, i) => `${(med[i + 1] / med[0]).toFixed(3)}×`);
    const refs = builds.map((b) => `${b.name} ${fmt(median(samples.get(b.name)!.reference.map((s) => s[k])))}`).join(', ');
    lines.push(`| ${labels[k]} | ${cells.join(' | ')} | ${ratios.join(' | ')} | ${refs} |`);
  }
  lines.push(
    '',
    'Spread: lowest–highest of the per-start medians. The reference column was measured in the same rounds: when it moves as much as Berth did, the machine moved.',
    '',
  );
  const md = lines.join('\n');
  console.log(`\n${md}`);
  fs.mkdirSync(config.outDir, { recursive: true });
  fs.writeFileSync(path.join(config.outDir, `${stem}.md`), md);
  fs.writeFileSync(
    path.join(config.outDir, `${stem}.json`),
    `${JSON.stringify({ builds, config: { ...config, only: [...config.only] }, roundsPerBuild, samples: Object.fromEntries(samples) }, null, 2)}\n`,
  );
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(2);
});
