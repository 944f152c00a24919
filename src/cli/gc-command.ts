// `berth gc`: one full garbage collection now, against the storage and database the configuration
// names, while servers keep serving (the same claims and checks as their background collection).
import type { Command } from 'commander';
import { describeDatabase } from '../config/describe.js';
import { ConfigError, loadConfig } from '../config/index.js';
import { parseDurationMs } from '../config/values.js';
import type { CollectPlan, CollectResult, Collector } from '../gc/collector.js';
import type { MetadataDb } from '../metadata/database.js';
import { UsageError, inContext } from './errors.js';
import { ProgressBar } from './progress-bar.js';

type Fail = (err: unknown, code: number) => never;

interface GcOptions {
  config?: string;
  dryRun?: boolean;
  delay?: string;
}

export function registerGcCommand(program: Command, fail: Fail): void {
  program
    .command('gc')
    .description('collect garbage now: blobs nothing uses, and manifests storage.gc allows (untagged, referrers of deleted subjects); servers keep serving')
    .option('-c, --config <file>', 'YAML config file (default: $BERTH_CONFIG, else built-in defaults)')
    .option('--dry-run', 'list what would go, with counts and bytes, and change nothing')
    .option('--delay <duration>', 'take blobs unused this long (overrides storage.gc.delay; 0s takes everything unused now)')
    .action(async (opts: GcOptions) => {
      let meta: MetadataDb | undefined;
      try {
        const config = loadConfig({ file: opts.config ?? (process.env.BERTH_CONFIG || undefined), env: process.env });
        const delay = opts.delay === undefined ? undefined : parseDurationMs(opts.delay);
        if (delay === undefined && opts.delay !== undefined) throw new UsageError(`--delay: expected a duration such as 24h, 30m or 0s, got ${JSON.stringify(opts.delay)}`);
        // Loaded lazily, so other commands stay light.
        const [{ createRegistryCore, createStorage, openMetadata }, { createWebhooks }] = await Promise.all([import('../app.js'), import('../webhooks/index.js')]);
        const storage = await inContext('storage', () => createStorage(config));
        const db = await inContext(`metadata database ${describeDatabase(config)}`, () => openMetadata(config));
        meta = db;
        // Manifests collected here notify webhooks like any deletion (the servers deliver them).
        const webhooks = await createWebhooks(config, db, null);
        const { collector } = createRegistryCore(config, storage, db, Date.now, webhooks.sink);
        if (opts.dryRun) printPlan(await collector.plan({ delay }), delay ?? config.storage.gc.delay);
        else process.stdout.write(`${summary(await collect(collector, delay))}\n`);
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

export function summary(r: CollectResult): string {
  return `gc: deleted ${r.manifests} manifests and ${r.blobs} blobs, freed ${formatBytes(r.bytes)} (${r.bytes} bytes), removed ${r.links} unused blob links, in ${r.seconds.toFixed(1)} s`;
}

function printPlan(plan: CollectPlan, delay: number): void {
  const out: string[] = [];
  for (const m of plan.manifests) out.push(`manifest ${m.repository}@${m.digest} ${m.size} bytes (${m.reason === 'untagged' ? 'untagged' : 'its subject is gone'})`);
  for (const b of plan.blobs) out.push(`blob ${b.digest} ${b.size} bytes`);
  out.push(
    `gc --dry-run: would delete ${plan.manifests.length} manifests and ${plan.blobs.length} blobs, freeing ${formatBytes(plan.bytes)} (${plan.bytes} bytes), with delay ${delay / 1000} s`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}
