// Collected numbers per column, the per-section failures, and the list of metrics shown in the table.
import { config, tenth } from './config.js';
import { median } from './load.js';
import type { Row } from './report.js';
import { logTail, type Server } from './servers.js';

export type Column = 'berth' | 'reference';
export type Section = 'startup' | 'blob' | 'load' | 'bearer' | 'push' | 'pg' | 's3' | 'replicas' | 'tags' | 'catalog' | 'gc' | 'mirror' | 'trust' | 'memory';

interface MetricDef {
  key: string;
  section: Section;
  metric: string;
  unit: string;
  better: 'higher' | 'lower';
  /** A difference or a count, where a ratio of the two servers' figures would mislead. */
  noRatio?: boolean;
}

const k = (n: number) => n.toLocaleString('en-US');

/** `1,024 MiB` or `1 GiB`. */
const size = (mib: number) => (mib % 1024 === 0 ? `${mib / 1024} GiB` : `${k(mib)} MiB`);

export function metricDefs(): MetricDef[] {
  const c = config;
  const small = tenth(c.tags);
  const smallRepos = tenth(c.repos);
  const blob = `${size(c.blobMiB)} blob`;
  const workers = c.berthWorkers ? `${c.berthWorkers} workers` : 'default start';
  const defs: MetricDef[] = [
    {
      key: 'start_npm',
      section: 'startup',
      metric: '`npm start` (already built) to the first answered request; reference: `docker-registry serve`',
      unit: 's',
      better: 'lower',
    },
    {
      key: 'start_node',
      section: 'startup',
      metric: '`node dist/main.js serve` to the first answered request; reference: `docker-registry serve`',
      unit: 's',
      better: 'lower',
    },
    { key: 'idle_rss', section: 'startup', metric: 'idle RSS, default start (workers unset), all processes', unit: 'MiB', better: 'lower' },
    { key: 'idle_pss', section: 'startup', metric: 'idle PSS, default start, all processes', unit: 'MiB', better: 'lower' },
    { key: 'idle_procs', section: 'startup', metric: 'processes, default start', unit: 'count', better: 'lower', noRatio: true },
    { key: 'idle_rss_w2', section: 'startup', metric: 'idle RSS, http.workers 2, all processes (reference: its one process)', unit: 'MiB', better: 'lower' },
    { key: 'idle_pss_w2', section: 'startup', metric: 'idle PSS, http.workers 2, all processes', unit: 'MiB', better: 'lower' },
    { key: 'worker_rss', section: 'startup', metric: 'idle RSS per further worker (http.workers 3 − 2)', unit: 'MiB', better: 'lower' },
    { key: 'worker_pss', section: 'startup', metric: 'idle PSS per further worker (http.workers 3 − 2)', unit: 'MiB', better: 'lower' },
    { key: 'push_node', section: 'blob', metric: `push ${blob}, Node client (POST + one PUT ?digest=)`, unit: 'MB/s', better: 'higher' },
    { key: 'push_curl', section: 'blob', metric: `push ${blob}, curl --upload-file from the page cache (POST + PUT)`, unit: 'MB/s', better: 'higher' },
    { key: 'push_chunked', section: 'blob', metric: `push ${blob}, ${c.chunkMiB} MiB PATCH chunks, Node client`, unit: 'MB/s', better: 'higher' },
    { key: 'pull_warm', section: 'blob', metric: `pull ${blob}, warm page cache, curl`, unit: 'MB/s', better: 'higher' },
    { key: 'pull_warm_node', section: 'blob', metric: `pull ${blob}, warm page cache, Node client`, unit: 'MB/s', better: 'higher' },
    { key: 'pull_cold', section: 'blob', metric: `pull ${blob}, caches dropped, curl`, unit: 'MB/s', better: 'higher' },
    { key: 'pull_cold_node', section: 'blob', metric: `pull ${blob}, caches dropped, Node client`, unit: 'MB/s', better: 'higher' },
    { key: 'manifest_rps', section: 'load', metric: `manifest GET by tag, ${c.connections} conns, ${workers}`, unit: 'req/s', better: 'higher' },
    { key: 'manifest_p99', section: 'load', metric: 'manifest GET p99 latency', unit: 'ms', better: 'lower' },
    { key: 'manifest_cpu', section: 'load', metric: 'server CPU per manifest GET', unit: 'µs', better: 'lower' },
    { key: 'head_rps', section: 'load', metric: `blob HEAD, ${c.connections} conns, ${workers}`, unit: 'req/s', better: 'higher' },
    { key: 'head_p99', section: 'load', metric: 'blob HEAD p99 latency', unit: 'ms', better: 'lower' },
    { key: 'head_cpu', section: 'load', metric: 'server CPU per blob HEAD', unit: 'µs', better: 'lower' },
    { key: 'bearer_base_rps', section: 'bearer', metric: `bearer GET /v2/, ${c.connections} conns`, unit: 'req/s', better: 'higher' },
    { key: 'bearer_base_p99', section: 'bearer', metric: 'bearer GET /v2/ p99 latency', unit: 'ms', better: 'lower' },
    { key: 'bearer_base_cpu', section: 'bearer', metric: 'server CPU per bearer GET /v2/', unit: 'µs', better: 'lower' },
    { key: 'bearer_manifest_rps', section: 'bearer', metric: `bearer manifest GET by tag, ${c.connections} conns`, unit: 'req/s', better: 'higher' },
    { key: 'bearer_manifest_p99', section: 'bearer', metric: 'bearer manifest GET p99 latency', unit: 'ms', better: 'lower' },
    { key: 'bearer_manifest_cpu', section: 'bearer', metric: 'server CPU per bearer manifest GET', unit: 'µs', better: 'lower' },
    {
      key: 'small_ips',
      section: 'push',
      metric: `${k(c.smallPushes)} small image pushes, concurrency ${c.concurrency}, SQLite`,
      unit: 'images/s',
      better: 'higher',
    },
    {
      key: 'pg_small_ips',
      section: 'pg',
      metric: `${k(c.smallPushes)} small image pushes, concurrency ${c.concurrency}, PostgreSQL`,
      unit: 'images/s',
      better: 'higher',
    },
    { key: 'pg_manifest_rps', section: 'pg', metric: `manifest GET by tag on PostgreSQL, ${c.connections} conns`, unit: 'req/s', better: 'higher' },
    { key: 'pg_manifest_cpu', section: 'pg', metric: 'server CPU per manifest GET on PostgreSQL (Berth process only)', unit: 'µs', better: 'lower' },
    { key: 'pg_vs_sqlite', section: 'pg', metric: 'manifest GET by tag, PostgreSQL ÷ SQLite req/s (Berth, same pass)', unit: '×', better: 'higher' },
    { key: 's3_push', section: 's3', metric: `push ${size(c.s3MiB)} through S3 (Ceph RGW), Node client`, unit: 'MB/s', better: 'higher' },
    { key: 's3_pull', section: 's3', metric: `pull ${size(c.s3MiB)} through S3 (Ceph RGW), redirect off, curl`, unit: 'MB/s', better: 'higher' },
    {
      key: 's3_hwm',
      section: 's3',
      metric: 'peak RSS of the S3 servers over their rows (VmHWM; Berth with PostgreSQL metadata)',
      unit: 'MiB',
      better: 'lower',
    },
    {
      key: 'tag_move_ms',
      section: 'replicas',
      metric: 'tag moved on replica 1, time until replica 2 serves it (PostgreSQL; reference: shared filesystem)',
      unit: 'ms',
      better: 'lower',
    },
    { key: 'tag_put_rate', section: 'tags', metric: `tagging (PUT manifest by tag) up to ${k(c.tags)} tags`, unit: 'tags/s', better: 'higher' },
  ];
  for (const n of [small, c.tags]) {
    defs.push(
      { key: `tags_first_${n}`, section: 'tags', metric: `tags list first page n=100 @${k(n)} tags, p50`, unit: 'ms', better: 'lower' },
      { key: `tags_mid_${n}`, section: 'tags', metric: `tags list middle page (last=) @${k(n)} tags, p50`, unit: 'ms', better: 'lower' },
      { key: `tags_full_${n}`, section: 'tags', metric: `tags list full @${k(n)} tags, p50`, unit: 'ms', better: 'lower' },
    );
  }
  defs.push({ key: 'tags_growth', section: 'tags', metric: `first-page slowdown ${k(small)}→${k(c.tags)} tags`, unit: '×', better: 'lower' });
  defs.push({ key: 'repo_push_rate', section: 'catalog', metric: `repository creation up to ${k(c.repos)} repos`, unit: 'repos/s', better: 'higher' });
  for (const n of [smallRepos, c.repos]) {
    defs.push(
      { key: `cat_first_${n}`, section: 'catalog', metric: `catalog first page n=100 @${k(n)} repos, p50`, unit: 'ms', better: 'lower' },
      { key: `cat_mid_${n}`, section: 'catalog', metric: `catalog middle page (last=) @${k(n)} repos, p50`, unit: 'ms', better: 'lower' },
    );
  }
  defs.push(
    { key: 'cat_growth', section: 'catalog', metric: `catalog middle-page slowdown ${k(smallRepos)}→${k(c.repos)} repos`, unit: '×', better: 'lower' },
    {
      key: 'gc_time',
      section: 'gc',
      metric: `collect ${k(c.gcImages)} deleted images (${k(3 * c.gcImages)} objects), p50 of rounds`,
      unit: 's',
      better: 'lower',
    },
    { key: 'gc_rate', section: 'gc', metric: 'objects freed per second of collection, p50', unit: 'objects/s', better: 'higher' },
    {
      key: 'mirror_cold',
      section: 'mirror',
      metric: `mirror: cold pull of a ${k(c.mirrorMiB)} MiB image (fetched upstream), p50`,
      unit: 'MB/s',
      better: 'higher',
    },
    { key: 'mirror_warm', section: 'mirror', metric: 'mirror: warm pull of the same image (from the cache), p50', unit: 'MB/s', better: 'higher' },
    { key: 'mirror_tag_ms', section: 'mirror', metric: 'mirror: HEAD manifest by cached tag, p50', unit: 'ms', better: 'lower' },
    {
      key: 'mirror_parallel',
      section: 'mirror',
      metric: `mirror: ${c.mirrorClients} parallel cold pulls of one ${k(Math.max(1, Math.round(c.mirrorMiB / 4)))} MiB image, p50`,
      unit: 's',
      better: 'lower',
    },
    {
      key: 'trust_manifest_rps',
      section: 'trust',
      metric: `manifest GET by tag of a signed image, enforce policy, ${c.connections} conns`,
      unit: 'req/s',
      better: 'higher',
    },
    { key: 'trust_manifest_p99', section: 'trust', metric: 'signed manifest GET p99 latency (enforce)', unit: 'ms', better: 'lower' },
    { key: 'trust_manifest_cpu', section: 'trust', metric: 'server CPU per signed manifest GET (enforce)', unit: 'µs', better: 'lower' },
    { key: 'mirror_upstream_x', section: 'mirror', metric: 'mirror: upstream bytes fetched by those parallel pulls ÷ image size', unit: '×', better: 'lower' },
    { key: 'rss_idle', section: 'memory', metric: 'RSS of the main pair before pass 1 (VmRSS)', unit: 'MiB', better: 'lower' },
    { key: 'mem_peak', section: 'memory', metric: 'peak RSS during a pass of blob+load+push (VmHWM, reset per pass)', unit: 'MiB', better: 'lower' },
    { key: 'mem_end_rss', section: 'memory', metric: 'RSS at the end of a pass', unit: 'MiB', better: 'lower' },
    { key: 'mem_end_pss', section: 'memory', metric: 'PSS at the end of a pass (shared pages split, smaps_rollup)', unit: 'MiB', better: 'lower' },
    { key: 'hwm_end', section: 'memory', metric: 'peak RSS over the whole run (VmHWM, highest pass)', unit: 'MiB', better: 'lower' },
    { key: 'mem_growth', section: 'memory', metric: 'RSS growth, end of last pass − end of pass 1', unit: 'MiB', better: 'lower', noRatio: true },
  );
  return defs;
}

export class Results {
  /** The headline figure per metric: the median of its samples. */
  values: Record<Column, Record<string, number>> = { berth: {}, reference: {} };
  /** Every round's figure per metric (one per round or pass; several per round for warm pulls and tag moves). */
  samples: Record<Column, Record<string, number[]>> = { berth: {}, reference: {} };
  errors: Record<Column, Partial<Record<Section, string>>> = { berth: {}, reference: {} };
  details: Record<Column, Record<string, unknown>> = { berth: {}, reference: {} };
  notes: string[] = [];

  /** One figure that stands for the metric (a section that reduces its rounds itself). */
  set(s: Server | Column, key: string, value: number): void {
    const col = typeof s === 'string' ? s : (s.column as Column);
    this.values[col][key] = value;
    this.samples[col][key] = [value];
  }

  /** One round's figure; the headline becomes the median of all rounds so far. */
  add(s: Server | Column, key: string, value: number): void {
    const col = typeof s === 'string' ? s : (s.column as Column);
    if (!Number.isFinite(value)) return;
    this.samples[col][key] ??= [];
    const list = this.samples[col][key];
    list.push(value);
    this.values[col][key] = median(list);
  }

  detail(s: Server, key: string, value: unknown): void {
    this.details[s.column as Column][key] = value;
  }

  note(text: string): void {
    if (!this.notes.includes(text)) this.notes.push(text);
  }

  /** Runs fn for one server; a throw marks that server's section as failed and the run goes on. */
  async guard(s: Server, section: Section, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      const col = s.column as Column;
      this.errors[col][section] = this.errors[col][section] ?? msg;
      console.error(`!! ${s.column} failed in ${section}: ${msg}\n-- server log tail --\n${logTail(s, 10)}`);
    }
  }

  /** Table rows; metrics of sections that did not run (BENCH_ONLY) are left out. */
  rows(): Row[] {
    const ran = (d: MetricDef) =>
      d.key in this.values.berth || d.key in this.values.reference || this.errors.berth[d.section] || this.errors.reference[d.section];
    return metricDefs()
      .filter(ran)
      .map((d) => {
        const b = this.values.berth[d.key];
        const r = this.values.reference[d.key];
        return {
          metric: d.metric,
          unit: d.unit,
          better: d.better,
          noRatio: d.noRatio,
          berth: b,
          reference: r,
          berthSamples: this.samples.berth[d.key],
          referenceSamples: this.samples.reference[d.key],
          berthError: b === undefined ? this.errors.berth[d.section] : undefined,
          referenceError: r === undefined ? this.errors.reference[d.section] : undefined,
        };
      });
  }
}
