// Fixed-duration load runs: wrk for GET, ab for HEAD (wrk 4.1 waits for a body after HEAD and stalls).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './config.js';

const run = promisify(execFile);

export interface LoadResult {
  tool: string;
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx responses plus socket errors: anything > 0 makes the run invalid. */
  errors: number;
}

export async function wrkGet(url: string, headers: Record<string, string>, seconds: number, connections: number): Promise<LoadResult> {
  const args = ['-t', String(Math.min(2, connections)), '-c', String(connections), '-d', `${seconds}s`, '--timeout', '10s'];
  args.push('-s', path.join(repoRoot, 'bench', 'wrk', 'report.lua'));
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  const { stdout } = await run('wrk', args, { env: { ...process.env, WRK_METHOD: 'GET' }, maxBuffer: 1 << 20 });
  const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (!line) throw new Error(`wrk printed no summary:\n${stdout}`);
  const j = JSON.parse(line.slice('BENCH_JSON '.length));
  const e = j.errors;
  return {
    tool: 'wrk',
    requests: j.requests,
    rps: j.requests / (j.duration_us / 1e6),
    p50Ms: j.latency_us.p50 / 1000,
    p99Ms: j.latency_us.p99 / 1000,
    errors: e.connect + e.read + e.write + e.status + e.timeout,
  };
}

export async function abHead(url: string, seconds: number, connections: number): Promise<LoadResult> {
  const csv = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ab-')), 'p.csv');
  const args = ['-q', '-i', '-k', '-c', String(connections), '-t', String(seconds), '-n', '100000000', '-s', '10', '-e', csv, url];
  let stdout: string;
  try {
    ({ stdout } = await run('ab', args, { maxBuffer: 1 << 20 }));
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    throw new Error(`ab failed: ${err.stderr ?? ''}${err.stdout ?? ''}`.slice(0, 1000));
  }
  const field = (name: string) => Number(new RegExp(`${name}:\\s+([\\d.]+)`).exec(stdout)?.[1] ?? 0);
  const pct = new Map<number, number>();
  for (const row of fs.readFileSync(csv, 'utf8').split('\n').slice(1)) {
    const [p, ms] = row.split(',');
    if (p && ms) pct.set(Number(p), Number(ms));
  }
  fs.rmSync(path.dirname(csv), { recursive: true, force: true });
  return {
    tool: 'ab',
    requests: field('Complete requests'),
    rps: field('Requests per second'),
    p50Ms: pct.get(50) ?? NaN,
    p99Ms: pct.get(99) ?? NaN,
    errors: field('Failed requests') + field('Non-2xx responses'),
  };
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

export const median = (values: number[]) => percentile(values, 50);
