// `berth gc`: one full garbage collection now, against the storage and database the configuration
// names, while servers keep serving (the same claims and checks as their background collection).
import type { Command } from 'commander';
import { describeDatabase } from '../config/describe.js';
import { ConfigError, loadConfig } from '../config/index.js';
import { formatBytes, parseDurationMs } from '../config/values.js';
import type { CollectPlan, CollectResult, Collector } from '../gc/collector.js';
import { DEFAULT_SWEEP_GRACE_MS, type Leftover, type SweepResult } from '../gc/sweep.js';
import type { MetadataDb } from '../metadata/database.js';
import { UsageError, inContext } from './errors.js';
import { ProgressBar } from './progress-bar.js';

type Fail = (err: unknown, code: number) => never;

interface GcOptions {
  config?: string;
  dryRun?: boolean;
  delay?: string;
  grace?: string;
}

export function registerGcCommand(program: Command, fail: Fail): void {
  program
    .command('gc')
    .description('collect garbage now: blobs nothing uses, and manifests storage.gc allows (untagged, referrers of deleted subjects); servers keep serving')
    .option('-c, --config <file>', 'YAML config file (default: $BERTH_CONFIG, else built-in defaults)')
    .option('--dry-run', 'list what would go, with counts and bytes, and change nothing')
    .option('--delay <duration>', 'take blobs unused this long (overrides storage.gc.delay; 0s takes everything unused now)')
    .option('--grace <duration>', 'sweep stored bytes the database does not know (crash leftovers) once this old (default 1h)')
    .action(async (opts: GcOptions) => {
      let meta: MetadataDb | undefined;
      try {
        const config = loadConfig({ file: opts.config ?? (process.env.BERTH_CONFIG || undefined), env: process.env });
        const delay = opts.delay === undefined ? undefined : parseDurationMs(opts.delay);
        if (delay === undefined && opts.delay !== undefined)
          throw new UsageError(`--delay: expected a duration such as 24h, 30m or 0s, got ${JSON.stringify(opts.delay)}`);
        const grace = opts.grace === undefined ? DEFAULT_SWEEP_GRACE_MS : parseDurationMs(opts.grace);
        if (grace === undefined) throw new UsageError(`--grace: expected a duration such as 1h or 30m, got ${JSON.stringify(opts.grace)}`);
        // Loaded lazily, so other commands stay light.
        const [{ createRegistryCore, createStorage, openMetadata }, { createWebhooks }] = await Promise.all([
          import('../app.js'),
          import('../webhooks/index.js'),
        ]);
        const storage = await inContext('storage', () => createStorage(config));
        const db = await inContext(`metadata database ${describeDatabase(config)}`, () => openMetadata(config));
        meta = db;
        // Manifests collected here notify webhooks like any deletion (the servers deliver them).
        const webhooks = await createWebhooks(config, db, null);
        const { collector, sweep } = createRegistryCore(config, storage, db, Date.now, webhooks.sink);
        if (opts.dryRun) {
          printPlan(await collector.plan({ delay }), delay ?? config.storage.gc.delay);
          const lines: string[] = [];
          const swept = await sweep.run({ graceMs: grace, dryRun: true, onLeftover: (l) => lines.push(leftoverLine(l)) });
          process.stdout.write(`${[...lines, sweepSummary(swept, grace, true)].join('\n')}\n`);
        } else {
          process.stdout.write(`${summary(await collect(collector, delay))}\n`);
          process.stdout.write(`${sweepSummary(await sweep.run({ graceMs: grace }), grace, false)}\n`);
        }
      } catch (err) {
        await meta?.close().catch(() => {});
        fail(err, err instanceof ConfigError ? 2 : 1);
      }
      await meta?.close();
    });
}

async function collect(collector: Collector, delay: number | undefined): Promise<CollectResult> {
  const bar = process.stderr.isTTY ? new ProgressBar(process.stderr) : null;
  try {
    return await collector.collect({
      delay,
      full: true,
      onProgress: bar ? (p) => bar.update(p.reviewed, p.total, `${p.manifests} manifests, ${p.blobs} blobs, ${formatBytes(p.bytes)} freed`) : undefined,
    });
  } finally {
    bar?.clear();
  }
}

function leftoverLine(l: Leftover): string {
  const age = new Date(l.modified).toISOString();
  return l.kind === 'blob' ? `leftover ${l.key} ${l.size} bytes (stored ${age}, no blob row)` : `leftover upload ${l.id} (last written ${age}, no session row)`;
}

export function sweepSummary(r: SweepResult, grace: number, dryRun: boolean): string {
  return (
    `gc: ${dryRun ? 'would sweep' : 'swept'} ${r.blobs} leftover objects (${formatBytes(r.bytes)}, ${r.bytes} bytes), ${r.uploads} abandoned upload sessions ` +
    `and ${r.debris} pieces of storage debris older than ${grace / 1000} s, of ${r.scanned} objects listed, in ${r.seconds.toFixed(1)} s`
  );
}

export function summary(r: CollectResult): string {
  return `gc: deleted ${r.manifests} manifests and ${r.blobs} blobs, freed ${formatBytes(r.bytes)} (${r.bytes} bytes), removed ${r.links} unused blob links, in ${r.seconds.toFixed(1)} s`;
}

function printPlan(plan: CollectPlan, delay: number): void {
  const out: string[] = [];
  for (const m of plan.manifests)
    out.push(`manifest ${m.repository}@${m.digest} ${m.size} bytes (${m.reason === 'untagged' ? 'untagged' : 'its subject is gone'})`);
  for (const b of plan.blobs) out.push(`blob ${b.digest} ${b.size} bytes`);
  out.push(
    `gc --dry-run: would delete ${plan.manifests.length} manifests and ${plan.blobs.length} blobs, freeing ${formatBytes(plan.bytes)} (${plan.bytes} bytes), with delay ${delay / 1000} s`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
}
