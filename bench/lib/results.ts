// Collected numbers per column, the per-section failures, and the list of metrics shown in the table.
import { config, tenth } from './config.js';
import type { Row } from './report.js';
import { logTail, type Server } from './servers.js';

export type Column = 'berth' | 'reference';
type Section = 'blob' | 'load' | 'bearer' | 'push' | 'tags' | 'catalog' | 'gc' | 'mirror' | 'trust' | 'memory';

interface MetricDef {
  key: string;
  section: Section;
  metric: string;
  unit: string;
  better: 'higher' | 'lower';
}

const k = (n: number) => n.toLocaleString('en-US');

export function metricDefs(): MetricDef[] {
  const c = config;
  const blob = `${k(c.blobMiB)} MiB blob`;
  const small = tenth(c.tags);
  const smallRepos = tenth(c.repos);
  const defs: MetricDef[] = [
    { key: 'push_mono', section: 'blob', metric: `push ${blob}, monolithic POST+PUT`, unit: 'MB/s', better: 'higher' },
    { key: 'push_chunked', section: 'blob', metric: `push ${blob}, ${c.chunkMiB} MiB PATCH chunks`, unit: 'MB/s', better: 'higher' },
    { key: 'pull_warm', section: 'blob', metric: `pull ${blob}, warm page cache`, unit: 'MB/s', better: 'higher' },
    { key: 'pull_cold', section: 'blob', metric: `pull ${blob}, caches dropped`, unit: 'MB/s', better: 'higher' },
    { key: 'hwm_blob', section: 'blob', metric: `peak RSS after ${blob} transfers (VmHWM)`, unit: 'MiB', better: 'lower' },
    { key: 'manifest_rps', section: 'load', metric: `manifest GET by tag, ${c.connections} conns`, unit: 'req/s', better: 'higher' },
    { key: 'manifest_p99', section: 'load', metric: 'manifest GET p99 latency', unit: 'ms', better: 'lower' },
    { key: 'manifest_cpu', section: 'load', metric: 'server CPU per manifest GET', unit: 'µs', better: 'lower' },
    { key: 'head_rps', section: 'load', metric: `blob HEAD, ${c.connections} conns`, unit: 'req/s', better: 'higher' },
    { key: 'head_p99', section: 'load', metric: 'blob HEAD p99 latency', unit: 'ms', better: 'lower' },
    { key: 'head_cpu', section: 'load', metric: 'server CPU per blob HEAD', unit: 'µs', better: 'lower' },
    { key: 'bearer_base_rps', section: 'bearer', metric: `bearer GET /v2/, ${c.connections} conns`, unit: 'req/s', better: 'higher' },
    { key: 'bearer_base_p99', section: 'bearer', metric: 'bearer GET /v2/ p99 latency', unit: 'ms', better: 'lower' },
    { key: 'bearer_base_cpu', section: 'bearer', metric: 'server CPU per bearer GET /v2/', unit: 'µs', better: 'lower' },
    { key: 'bearer_manifest_rps', section: 'bearer', metric: `bearer manifest GET by tag, ${c.connections} conns`, unit: 'req/s', better: 'higher' },
    { key: 'bearer_manifest_p99', section: 'bearer', metric: 'bearer manifest GET p99 latency', unit: 'ms', better: 'lower' },
    { key: 'bearer_manifest_cpu', section: 'bearer', metric: 'server CPU per bearer manifest GET', unit: 'µs', better: 'lower' },
    { key: 'small_time', section: 'push', metric: `${k(c.smallPushes)} small image pushes, concurrency ${c.concurrency}`, unit: 's', better: 'lower' },
    { key: 'small_ips', section: 'push', metric: 'small image pushes', unit: 'images/s', better: 'higher' },
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
    { key: 'rss_idle', section: 'memory', metric: 'RSS at start (VmRSS)', unit: 'MiB', better: 'lower' },
    { key: 'rss_end', section: 'memory', metric: 'RSS at end (VmRSS)', unit: 'MiB', better: 'lower' },
    { key: 'pss_end', section: 'memory', metric: 'PSS at end (shared pages split, smaps_rollup)', unit: 'MiB', better: 'lower' },
    { key: 'hwm_end', section: 'memory', metric: 'peak RSS over the run (VmHWM)', unit: 'MiB', better: 'lower' },
  );
  return defs;
}

export class Results {
  values: Record<Column, Record<string, number>> = { berth: {}, reference: {} };
  errors: Record<Column, Partial<Record<Section, string>>> = { berth: {}, reference: {} };
  details: Record<Column, Record<string, unknown>> = { berth: {}, reference: {} };
  notes: string[] = [];

  set(s: Server, key: string, value: number): void {
    this.values[s.column as Column][key] = value;
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
          berth: b,
          reference: r,
          berthError: b === undefined ? this.errors.berth[d.section] : undefined,
          referenceError: r === undefined ? this.errors.reference[d.section] : undefined,
        };
      });
  }
}
