// `berth gc --delay 0s` at volume (issue 11, "Speed"): objects deleted per second by the collector and by
// the crash-leftover sweep, on Ceph RGW (+ PostgreSQL) or on the filesystem (+ SQLite). Each round fills a
// fresh store: BENCH_GC_BLOBS unreferenced blobs (a row, a repository link, the bytes) and BENCH_GC_LEFTOVERS
// objects no row names; then runs `berth gc --delay 0s --grace 0s` as a command and reads its two summary
// lines; then checks storage is empty. On S3 each round also times bare DeleteObjects of BENCH_GC_RAW
// objects, with the collector's batch size and requests in flight: the storage's own ceiling right then.
//   node --import tsx bench/gc-volume.ts                                   Ceph RGW + PostgreSQL, 10,000 + 10,000, 3 rounds
//   BENCH_GC_STORAGE=fs BENCH_GC_BLOBS=100000 BENCH_GC_LEFTOVERS=0 BENCH_REPEAT=1 node --import tsx bench/gc-volume.ts
// Settings: BENCH_GC_STORAGE=s3|fs, BENCH_GC_METADATA=postgres|sqlite (default: postgres on s3, sqlite on fs),
// BENCH_GC_BLOBS, BENCH_GC_LEFTOVERS, BENCH_GC_RAW (0: skip), BENCH_REPEAT; REGISTRY_STORAGE_GC_* in the
// environment reach `berth gc` (e.g. REGISTRY_STORAGE_GC_DELETECONCURRENCY). Needs dist/main.js (npm run build).
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { createStorage, openMetadata } from '../src/app.js';
import { loadConfig } from '../src/config/index.js';
import type { MetadataDb } from '../src/metadata/database.js';
import { parseDigest } from '../src/oci/digest.js';
import type { StorageDriver } from '../src/storage/driver.js';
import { blobKey } from '../src/storage/layout.js';
import { cephRgw, postgresUrl, type Rgw } from './lib/backends.js';
import { median } from './lib/load.js';
import { runPool } from './lib/registry.js';

const run = promisify(execFile);
const int = (name: string, def: number) => {
  const n = Number(process.env[name] ?? def);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number`);
  return n;
};
const storageKind = process.env.BENCH_GC_STORAGE === 'fs' ? 'fs' : 's3';
const metadata = process.env.BENCH_GC_METADATA ?? (storageKind === 's3' ? 'postgres' : 'sqlite');
const blobs = int('BENCH_GC_BLOBS', storageKind === 's3' ? 10_000 : 100_000);
const leftovers = int('BENCH_GC_LEFTOVERS', storageKind === 's3' ? 10_000 : 0);
const rawCount = storageKind === 's3' ? int('BENCH_GC_RAW', 5000) : 0;
const rounds = int('BENCH_REPEAT', 3);
const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const mainJs = path.join(repoRoot, 'dist', 'main.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-gc-volume-'));

const rgw: Partial<Rgw> = storageKind === 's3' ? cephRgw() : {};
const pgUrl = metadata === 'postgres' ? postgresUrl() : '';

/** A fresh store per round: an S3 prefix or a directory, and a PostgreSQL schema or an SQLite file. */
async function roundEnv(i: number): Promise<{ env: Record<string, string>; drop: () => Promise<void> }> {
  const tag = `gcv_${Date.now().toString(36)}_${i}`;
  const dir = path.join(work, tag);
  fs.mkdirSync(dir);
  const env: Record<string, string> = { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(dir, 'data'), REGISTRY_LOG_LEVEL: 'warn' };
  if (storageKind === 's3')
    Object.assign(env, {
      REGISTRY_STORAGE: 's3',
      REGISTRY_STORAGE_S3_BUCKET: rgw.S3_BUCKET,
      REGISTRY_STORAGE_S3_REGION: rgw.S3_REGION ?? 'us-east-1',
      REGISTRY_STORAGE_S3_REGIONENDPOINT: rgw.S3_ENDPOINT,
      REGISTRY_STORAGE_S3_ACCESSKEY: rgw.S3_ACCESS_KEY,
      REGISTRY_STORAGE_S3_SECRETKEY: rgw.S3_SECRET_KEY,
      REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
      REGISTRY_STORAGE_S3_ROOTDIRECTORY: `bench-${tag}`,
    });
  let drop = async () => {};
  if (metadata === 'postgres') {
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    await c.query(`create schema ${tag}`);
    await c.end();
    const u = new URL(pgUrl);
    u.searchParams.set('options', `-c search_path=${tag}`);
    Object.assign(env, { REGISTRY_METADATA: 'postgres', REGISTRY_METADATA_POSTGRES_URL: u.href });
    drop = async () => {
      const d = new pg.Client({ connectionString: pgUrl });
      await d.connect();
      await d.query(`drop schema ${tag} cascade`);
      await d.end();
    };
  } else {
    env.REGISTRY_METADATA_SQLITE_PATH = path.join(dir, 'berth.db');
  }
  return { env, drop };
}

const blobOf = () => {
  const bytes = randomBytes(64);
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
};

/** `count` unreferenced blobs (row, link of one repository, bytes) and `stray` objects no row names. */
async function fill(storage: StorageDriver, meta: MetadataDb, count: number, stray: number): Promise<void> {
  const now = Date.now() - 3600_000;
  const repo = await meta.db.insertInto('repositories').values({ name: 'bench/gc-volume', created_at: now }).returning('id').executeTakeFirstOrThrow();
  for (let i = 0; i < count; i += 1000) {
    const chunk = Array.from({ length: Math.min(1000, count - i) }, blobOf);
    await runPool(chunk.length, 64, (j) => storage.put(blobKey(parseDigest(chunk[j].digest)), chunk[j].bytes));
    await meta.transaction(async (tx) => {
      for (let j = 0; j < chunk.length; j += 250) {
        const part = chunk.slice(j, j + 250);
        await tx
          .insertInto('blobs')
          .values(part.map((b) => ({ digest: b.digest, size: b.bytes.length, created_at: now })))
          .execute();
        await tx
          .insertInto('repository_blobs')
          .values(part.map((b) => ({ repository_id: Number(repo.id), digest: b.digest, created_at: now })))
          .execute();
      }
    });
  }
  const strays = Array.from({ length: stray }, blobOf);
  await runPool(stray, 64, (j) => storage.put(blobKey(parseDigest(strays[j].digest)), strays[j].bytes));
}

async function countObjects(storage: StorageDriver): Promise<number> {
  let n = 0;
  for await (const _ of storage.list('blobs/')) n++;
  return n;
}

/** Bare DeleteObjects of `count` fresh objects: 1,000 keys a request, `inFlight` requests at once. */
async function rawDeletes(storage: StorageDriver, count: number, inFlight: number): Promise<number> {
  const keys = Array.from({ length: count }, () => blobKey(parseDigest(blobOf().digest)));
  await runPool(count, 64, (i) => storage.put(keys[i], Buffer.from('x')));
  const groups: string[][] = [];
  for (let i = 0; i < count; i += 1000) groups.push(keys.slice(i, i + 1000));
  const t0 = performance.now();
  await runPool(groups.length, inFlight, (i) => storage.deleteMany!(groups[i]));
  return count / ((performance.now() - t0) / 1000);
}

interface Round {
  collected: number;
  collectorSeconds: number;
  swept: number;
  sweepSeconds: number;
  commandSeconds: number;
  rawRate?: number;
  load: [number, number];
}

const load1 = () => Number(os.loadavg()[0].toFixed(2));

async function oneRound(i: number): Promise<Round> {
  const { env, drop } = await roundEnv(i);
  const fullEnv = { ...process.env, ...env, NODE_ENV: 'production' };
  const config = loadConfig({ env: fullEnv });
  const storage = await createStorage(config);
  const meta = await openMetadata(config);
  try {
    const t0 = performance.now();
    await fill(storage, meta, blobs, leftovers);
    console.log(`  filled ${blobs} blobs + ${leftovers} leftovers in ${((performance.now() - t0) / 1000).toFixed(0)} s (load ${load1()})`);
    const before = load1();
    const t1 = performance.now();
    const { stdout } = await run(process.execPath, [mainJs, 'gc', '--delay', '0s', '--grace', '0s'], { env: fullEnv, cwd: work, maxBuffer: 64 << 20 });
    const commandSeconds = (performance.now() - t1) / 1000;
    const load: [number, number] = [before, load1()];
    const c = /deleted \d+ manifests and (\d+) blobs.* in ([\d.]+) s/.exec(stdout);
    const s = /swept (\d+) leftover objects.* in ([\d.]+) s/.exec(stdout);
    if (!c || !s) throw new Error(`unexpected berth gc output: ${stdout}`);
    const left = await countObjects(storage);
    if (Number(c[1]) !== blobs || Number(s[1]) !== leftovers || left !== 0)
      throw new Error(`expected ${blobs} blobs and ${leftovers} leftovers to go and nothing left; got ${c[1]}, ${s[1]}, ${left} left:\n${stdout}`);
    const rawRate = rawCount > 0 ? await rawDeletes(storage, rawCount, inFlight()) : undefined;
    return { collected: blobs, collectorSeconds: Number(c[2]), swept: leftovers, sweepSeconds: Number(s[2]), commandSeconds, rawRate, load };
  } finally {
    await meta.close();
    await drop();
    await clear(storage);
  }
}

/** Whatever a failed round left in the shared bucket goes. */
async function clear(storage: StorageDriver): Promise<void> {
  const keys: string[] = [];
  for await (const o of storage.list('')) keys.push(o.key);
  for (let i = 0; i < keys.length; i += 1000) await storage.deleteMany!(keys.slice(i, i + 1000));
}

/** DeleteObjects requests `berth gc` keeps in flight (what the raw baseline uses too). */
const inFlight = () => Number(process.env.REGISTRY_STORAGE_GC_DELETECONCURRENCY ?? 4);

const rate = (n: number, s: number) => (s > 0 ? Math.round(n / s) : 0);
/** A rate with its time, or a dash when there was nothing to do. */
const cell = (n: number, s: number) => (n > 0 ? `${rate(n, s)} (${s} s)` : '–');

async function main(): Promise<void> {
  if (!fs.existsSync(mainJs)) throw new Error('dist/main.js is missing: npm run build');
  const commit = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const gcEnv = Object.entries(process.env).filter(([k]) => k.startsWith('REGISTRY_STORAGE_GC_'));
  const where = storageKind === 's3' ? `Ceph RGW (${rgw.S3_ENDPOINT}) + ${metadata}` : `filesystem + ${metadata}`;
  console.log(`gc volume: ${where}, ${blobs} blobs + ${leftovers} leftovers, ${rounds} rounds`);
  const results: Round[] = [];
  for (let i = 0; i < rounds; i++) {
    const r = await oneRound(i);
    results.push(r);
    console.log(
      `  round ${i + 1}: collector ${r.collected} in ${r.collectorSeconds} s = ${rate(r.collected, r.collectorSeconds)}/s; ` +
        `sweep ${r.swept} in ${r.sweepSeconds} s = ${rate(r.swept, r.sweepSeconds)}/s; command ${r.commandSeconds.toFixed(1)} s` +
        `${r.rawRate ? `; bare DeleteObjects ${Math.round(r.rawRate)}/s` : ''}; load ${r.load[0]} → ${r.load[1]}`,
    );
  }
  const med = (f: (r: Round) => number) => Math.round(median(results.map(f)));
  const date = new Date().toISOString();
  const lines = [
    `# berth gc at volume: ${where}`,
    '',
    `${date} · ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'} · Node ${process.version} · Berth ${commit} · ${rounds} rounds, medians`,
    '',
    `Settings: ${blobs.toLocaleString('en-US')} unreferenced 64-byte blobs (row, repository link, bytes) and ${leftovers.toLocaleString('en-US')} leftovers (bytes, no row) per round; ` +
      `\`berth gc --delay 0s --grace 0s\`; storage.gc.deleteconcurrency ${inFlight()} (${gcEnv.length ? gcEnv.map(([k, v]) => `${k}=${v}`).join(', ') : 'the default'}); ` +
      `the collector claims ${metadata === 'postgres' ? 250 : 5000} blobs a batch (${metadata}), the sweep 1,000 listed objects` +
      `${rawCount ? `; bare DeleteObjects baseline: ${rawCount} objects, 1,000 keys a request, ${inFlight()} in flight` : ''}.`,
    '',
    '| round | collector objects/s | sweep objects/s | command (s) | bare DeleteObjects/s | load (1 min) before → after |',
    '|---|---:|---:|---:|---:|---|',
    ...results.map(
      (r, i) =>
        `| ${i + 1} | ${cell(r.collected, r.collectorSeconds)} | ${cell(r.swept, r.sweepSeconds)} | ${r.commandSeconds.toFixed(1)} | ${r.rawRate ? Math.round(r.rawRate) : '–'} | ${r.load[0]} → ${r.load[1]} |`,
    ),
    `| **median** | **${blobs ? med((r) => rate(r.collected, r.collectorSeconds)) : '–'}** | **${leftovers ? med((r) => rate(r.swept, r.sweepSeconds)) : '–'}** | ${median(results.map((r) => r.commandSeconds)).toFixed(1)} | ${rawCount ? med((r) => r.rawRate ?? 0) : '–'} | |`,
  ];
  const out = process.env.BENCH_OUT || path.join(repoRoot, 'bench', 'results');
  const file = path.join(out, `gc-volume-${storageKind}-${metadata}-${date.slice(0, 10)}`);
  fs.writeFileSync(`${file}.md`, `${lines.join('\n')}\n`);
  fs.writeFileSync(
    `${file}.json`,
    `${JSON.stringify({ date, commit, storage: storageKind, metadata, blobs, leftovers, gcEnv: Object.fromEntries(gcEnv), results }, null, 2)}\n`,
  );
  console.log(`written: ${file}.md`);
}

try {
  await main();
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
