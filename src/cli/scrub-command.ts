// `berth scrub`: checks storage against the database (src/gc/scrub.ts) with the configuration
// `berth serve` reads, while servers keep serving; prints a line per problem, the manifests that
// cannot be pulled, and a summary. Exit 0 when everything is in place, 3 when problems were
// found (repaired or not, so cron notices), 1 when the scrub itself failed.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { describeDatabase, describeStorage } from '../config/describe.js';
import { ConfigError, loadConfig } from '../config/index.js';
import { formatBytes } from '../config/values.js';
import type { ScrubProblem, ScrubReport, Unpullable } from '../gc/scrub.js';
import type { MetadataDb } from '../metadata/database.js';
import { UsageError, inContext } from './errors.js';
import { ProgressBar } from './progress-bar.js';

/** Exit status when the scrub found problems. */
export const PROBLEMS_FOUND = 3;

type Fail = (err: unknown, code: number) => never;

interface ScrubFlags {
  config?: string;
  deep?: boolean;
  repair?: boolean;
  force?: boolean;
  concurrency: string;
  json?: boolean;
}

export function registerScrubCommand(program: Command, fail: Fail): void {
  program
    .command('scrub')
    .description('check that storage holds every blob and manifest the database knows, with the recorded size (and digest, with --deep)')
    .option('-c, --config <file>', 'YAML config file (default: $BERTH_CONFIG, else built-in defaults)')
    .option('--deep', 'also read every object and check its digest (reads every byte)')
    .option('--repair', 'make the database forget lost and corrupt objects (corrupt bytes are deleted), so HEAD answers 404 and the next push uploads them')
    .option('--force', 'repair even when storage holds none of the objects the database knows (an emptied store)')
    .option('--concurrency <n>', 'objects checked at once', '32')
    .option('--json', 'print the report as JSON instead of lines')
    .action(async (opts: ScrubFlags) => {
      const code = await runScrub(opts, fail);
      process.exitCode = code;
    });
}

async function runScrub(opts: ScrubFlags, fail: Fail): Promise<number> {
  let meta: MetadataDb | undefined;
  try {
    const concurrency = Number(opts.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 1024)
      throw new UsageError(`--concurrency must be a whole number from 1 to 1024, not ${opts.concurrency}`);
    const config = loadConfig({ file: opts.config ?? (process.env.BERTH_CONFIG || undefined), env: process.env });
    // Loaded lazily, so `berth config verify` stays light.
    const [{ createStorage }, { openMetadata }, { scrub }, { WebhookSink }, { WebhookStore }] = await Promise.all([
      import('../app.js'),
      import('../metadata/open.js'),
      import('../gc/scrub.js'),
      import('../webhooks/sink.js'),
      import('../webhooks/store.js'),
    ]);
    const storage = await inContext(`storage ${describeStorage(config)}`, () => createStorage(config));
    meta = await inContext(`metadata database ${describeDatabase(config)}`, () => openMetadata(config));
    // Manifests a repair removes reach webhooks like any deletion; running servers deliver them.
    const events = new WebhookSink(new WebhookStore(meta.db), { baseUrl: config.http.host, source: { addr: `${hostname()}:scrub`, instanceID: randomUUID() } });
    const progress = !opts.json && process.stderr.isTTY ? new ProgressBar(process.stderr) : null;
    const report = await inContext(`scrub of ${describeStorage(config)}`, () =>
      scrub(storage, meta!, {
        deep: opts.deep,
        repair: opts.repair,
        force: opts.force,
        concurrency,
        events,
        onProgress: progress
          ? (p) =>
              progress.update(
                p.checked,
                p.total,
                `${count(p.checked)}/${count(p.total)} objects, ${formatBytes(p.bytes)}, ${count(p.problems)} problems`,
                p.checked >= p.total,
              )
          : undefined,
        onProblem: opts.json
          ? undefined
          : (p) => {
              progress?.clear();
              process.stdout.write(`${problemLine(p)}\n`);
            },
      }),
    );
    progress?.clear();
    if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else {
      for (const u of report.unpullable) process.stdout.write(`${unpullableLine(u, report)}\n`);
      process.stdout.write(`${summaryLine(report)}\n`);
    }
    await meta.close();
    return report.problems.length > 0 ? PROBLEMS_FOUND : 0;
  } catch (err) {
    await meta?.close().catch(() => {});
    fail(err, err instanceof ConfigError ? 2 : 1);
  }
}

export function problemLine(p: ScrubProblem): string {
  const what =
    p.kind === 'size'
      ? `: ${count(p.actualSize ?? 0)} bytes stored, ${count(p.size)} recorded`
      : p.kind === 'digest'
        ? `: content hashes to ${p.actualDigest}`
        : '';
  const where = p.repositories.length > 0 ? `; linked in ${list(p.repositories)}` : '';
  return `${p.kind === 'missing' ? 'missing' : 'corrupt'} ${p.object} ${p.digest} (${formatBytes(p.size)})${what}${where}${repairText(p)}`;
}

function repairText(p: ScrubProblem): string {
  const r = p.repair;
  if (!r) return '';
  if (r.result === 'restored') return '; back in storage, left as is';
  if (r.result === 'skipped') return `; not repaired: ${r.reason}`;
  const parts = [
    ...(r.deletedObject ? ['deleted the corrupt bytes'] : []),
    `forgot the ${p.object}${r.links > 0 ? ` and ${r.links} repository link${r.links === 1 ? '' : 's'}` : ''}`,
    ...(r.manifests > 0
      ? [`removed the manifest from ${list(r.manifestRepositories)}${r.tags > 0 ? ` with ${r.tags} tag${r.tags === 1 ? '' : 's'}` : ''}`]
      : []),
  ];
  return `; repaired: ${parts.join(', ')}`;
}

export function unpullableLine(u: Unpullable, report: ScrubReport): string {
  const name = u.tags.length > 0 ? `${u.repository}:${u.tags.join(',')} (${u.digest})` : `${u.repository}@${u.digest}`;
  const own = u.lacks.includes(u.digest);
  const removed = own && report.problems.some((p) => p.digest === u.digest && p.repair?.result === 'forgotten');
  if (removed) return `removed ${name}: its body was lost; push it again`;
  const others = u.lacks.filter((d) => d !== u.digest);
  const why = [...(own ? ['its own body'] : []), ...(others.length > 0 ? [list(others)] : [])].join(' and ');
  return `unpullable ${name}: lacks ${why}`;
}

export function summaryLine(r: ScrubReport): string {
  const seconds = r.ms / 1000;
  const rate = seconds > 0 ? Math.round(r.objects / seconds) : r.objects;
  const head = `scrub${r.deep ? ' --deep' : ''}: ${count(r.objects)} objects (${formatBytes(r.bytes)}) checked in ${seconds.toFixed(1)} s (${count(rate)}/s)`;
  if (r.problems.length === 0) return `${head}; no problems`;
  const repos = new Set(r.unpullable.map((u) => u.repository)).size;
  const parts = [
    `${count(r.missing.count)} missing (${formatBytes(r.missing.bytes)})`,
    `${count(r.corrupt.count)} corrupt (${formatBytes(r.corrupt.bytes)})`,
    `${count(r.unpullable.length)} manifest${r.unpullable.length === 1 ? '' : 's'} in ${count(repos)} repositor${repos === 1 ? 'y' : 'ies'} affected`,
  ];
  const rep = r.repaired;
  const repaired = rep
    ? `; repaired ${count(rep.objects)} (${count(rep.manifests)} manifests and ${count(rep.tags)} tags removed, ${count(rep.deletedObjects)} corrupt objects deleted)${rep.restored > 0 ? `, ${count(rep.restored)} back in storage` : ''}`
    : '; run with --repair to make clients upload them again';
  return `${head}; ${parts.join(', ')}${repaired}`;
}

function list(xs: string[], max = 5): string {
  return xs.length <= max ? xs.join(', ') : `${xs.slice(0, max).join(', ')} and ${xs.length - max} more`;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}
