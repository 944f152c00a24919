// Benchmark settings, read once from the environment. BENCH_QUICK=1 shrinks every size for development.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const quick = process.env.BENCH_QUICK === '1';

function num(name: string, full: number, quickValue: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return quick ? quickValue : full;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}

export const DEFAULT_SECTIONS = 'startup,blob,load,push,pg,s3,replicas';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const config = {
  quick,
  /** Run the reference registry in both columns (validates the harness without Berth). */
  selftest: process.env.BENCH_SELFTEST === '1',
  /** Shell command that starts Berth; REGISTRY_* variables are set for it. */
  berthCmd: process.env.BENCH_BERTH_CMD || `node ${path.join(repoRoot, 'dist', 'main.js')} serve`,
  /** Where the start-up row runs `npm start` (a checkout with dist/ built; e.g. an older build for a before/after). */
  npmDir: process.env.BENCH_NPM_DIR || repoRoot,
  /** Shell command that runs `berth gc` (flags are appended) with Berth's environment, in its directory. */
  berthGcCmd: process.env.BENCH_BERTH_GC_CMD || `node ${path.join(repoRoot, 'dist', 'main.js')} gc`,
  /** Images deleted and collected per GC round. */
  gcImages: num('BENCH_GC_IMAGES', 1000, 100),
  /** REGISTRY_HTTP_WORKERS for Berth; unset or empty leaves it unset (the default start: one process). */
  berthWorkers: process.env.BENCH_BERTH_WORKERS ?? '',
  /**
   * Passes of the main workload (blob, load, push) against the same servers: each pass is one round of
   * every row, and memory is read before and after each, so growth across passes shows.
   */
  passes: num('BENCH_PASSES', 3, 3),
  /** Server starts per variant in the start-up section (time to first answer, idle memory). */
  starts: num('BENCH_STARTS', 3, 3),
  /** Seconds a freshly started server idles before its memory is read. */
  settleS: num('BENCH_SETTLE', 2, 1),
  /** Size of the blob pushed and pulled through S3 (Ceph RGW). */
  s3MiB: num('BENCH_S3_MIB', 1024, 64),
  /** Tag moves timed per round in the replicas section. */
  tagMoves: num('BENCH_TAG_MOVES', 5, 3),
  blobMiB: num('BENCH_BLOB_MIB', 1024, 64),
  chunkMiB: num('BENCH_CHUNK_MIB', 10, 10),
  /** Rounds of each blob push/pull; the median is reported. */
  /** Rounds of the optional sections (tags, catalog, gc, bearer, mirror, trust). */
  repeat: num('BENCH_REPEAT', 5, 1),
  durationS: num('BENCH_DURATION', 10, 3),
  connections: num('BENCH_CONNECTIONS', 32, 32),
  smallPushes: num('BENCH_SMALL_PUSHES', 1000, 100),
  concurrency: num('BENCH_CONCURRENCY', 8, 8),
  tags: num('BENCH_TAGS', 10000, 1000),
  repos: num('BENCH_REPOS', 10000, 1000),
  /** Sequential requests per list/catalog latency measurement. */
  listSamples: num('BENCH_LIST_SAMPLES', 100, 30),
  /** Size of the big layer of the mirror section's image (the parallel pulls use a quarter of it). */
  mirrorMiB: num('BENCH_MIRROR_MIB', 256, 16),
  /** Concurrent cold pulls of one image through each mirror. */
  mirrorClients: num('BENCH_MIRROR_CLIENTS', 10, 5),
  /**
   * Comma-separated sections to run. Default: the issue-15 set (startup,blob,load,push,pg,s3,replicas);
   * also available: chunked (a PATCH-chunked push in the blob rows), tags,catalog,bearer,gc,mirror,trust.
   */
  only: new Set((process.env.BENCH_ONLY || DEFAULT_SECTIONS).split(',').map((s) => s.trim())),
  keep: process.env.BENCH_KEEP === '1',
  outDir: process.env.BENCH_OUT || path.join(repoRoot, 'bench', 'results'),
  /** Base name of the result files in outDir (default latest, or latest-workersN with BENCH_BERTH_WORKERS=N). */
  outName: process.env.BENCH_NAME || (process.env.BENCH_BERTH_WORKERS ? `latest-workers${process.env.BENCH_BERTH_WORKERS}` : 'latest'),
};

/** The smaller of the two sizes at which list pages are timed. */
export const tenth = (n: number) => Math.max(1, Math.round(n / 10));

export type BenchConfig = typeof config;
