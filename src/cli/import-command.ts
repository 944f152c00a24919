// `berth import SOURCE`: brings a registry:2 storage root (a directory, or s3://bucket/prefix) into
// the storage and database the configuration names, while servers keep serving (docs/import.md).
// Exit status 0 when everything found is in Berth, 3 when something was reported (corrupt or
// missing content, what depends on it, refusals, tags Berth moved since), 1 on failure.
import type { Command } from 'commander';
import { describeDatabase, describeStorage } from '../config/describe.js';
import { ConfigError, loadConfig } from '../config/index.js';
import { formatBytes } from '../config/values.js';
import type { ImportReport } from '../import/importer.js';
import type { ImportSource } from '../import/source.js';
import type { TransferMode } from '../import/target.js';
import type { MetadataDb } from '../metadata/database.js';
import { UsageError, inContext } from './errors.js';
import { ProgressBar } from './progress-bar.js';

type Fail = (err: unknown, code: number) => never;

interface ImportOptions {
  config?: string;
  dryRun?: boolean;
  link?: boolean;
  move?: boolean;
  json?: boolean;
  concurrency?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3PathStyle?: boolean;
  s3SkipVerify?: boolean;
}

export function registerImportCommand(program: Command, fail: Fail): void {
  program
    .command('import <source>')
    .description('import a registry:2 storage root (a directory, or s3://bucket/prefix) into the configured storage and database; servers keep serving')
    .option('-c, --config <file>', 'YAML config file (default: $BERTH_CONFIG, else built-in defaults)')
    .option('--dry-run', 'report what would be imported (repositories, tags, manifests, blobs, bytes, dangling links, corrupt blobs); change nothing')
    .option('--link', 'hard-link blob files instead of copying them (source and filesystem storage on one filesystem)')
    .option('--move', 'move blob files instead of copying them (the source registry loses them; one filesystem)')
    .option('--json', 'print the report as JSON on stdout')
    .option('--concurrency <n>', 'blobs imported at once (default 4)')
    .option('--s3-endpoint <url>', 'S3 endpoint of an s3:// source (default: $AWS_ENDPOINT_URL_S3 / $AWS_ENDPOINT_URL, else AWS)')
    .option('--s3-region <region>', 'region of an s3:// source (default: $AWS_REGION, else us-east-1)')
    .option('--no-s3-path-style', 'virtual-hosted addressing for an s3:// source (default: path-style when an endpoint is given)')
    .option('--s3-skip-verify', 'do not verify the S3 endpoint TLS certificate')
    .action(async (sourceArg: string, opts: ImportOptions) => {
      let meta: MetadataDb | undefined;
      let source: (ImportSource & { close?(): void }) | undefined;
      let problems = false;
      try {
        const config = loadConfig({ file: opts.config ?? (process.env.BERTH_CONFIG || undefined), env: process.env });
        if (opts.link && opts.move) throw new UsageError('--link and --move: choose one');
        const mode: TransferMode = opts.link ? 'link' : opts.move ? 'move' : 'copy';
        const concurrency = opts.concurrency === undefined ? 4 : Number(opts.concurrency);
        if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
          throw new UsageError(`--concurrency: expected 1 to 64, got ${JSON.stringify(opts.concurrency)}`);
        if (config.storage.maintenance.readonly.enabled && !opts.dryRun)
          throw new UsageError('the registry is read-only (storage.maintenance.readonly): nothing can be imported');
        source = await openSource(sourceArg, opts, mode);
        const [{ createRegistryCore, createStorage, openMetadata }, { BerthTarget }, { DryRunTarget }, { Importer, hasProblems, changedAnything }] =
          await Promise.all([import('../app.js'), import('../import/berth-target.js'), import('../import/dry-run-target.js'), import('../import/importer.js')]);
        const storage = await inContext(`storage ${describeStorage(config)}`, () => createStorage(config));
        const db = await inContext(`metadata database ${describeDatabase(config)}`, () => openMetadata(config));
        meta = db;
        // No event reaches webhooks: the import's changes are recorded for the index only (berth-target.ts).
        const { store, guard } = createRegistryCore(config, storage, db, Date.now, { record: async () => {} });
        const real = new BerthTarget({ config, storage, meta: db, store, guard }, opts.dryRun ? 'copy' : mode);
        const target = opts.dryRun ? new DryRunTarget(store, storage, real) : real;
        const bar = process.stderr.isTTY && !opts.json ? new ProgressBar(process.stderr) : null;
        const plain = !bar && !opts.json;
        if (plain)
          process.stdout.write(
            `import${opts.dryRun ? ' --dry-run' : ''}: from ${source.description} into ${describeStorage(config)}, ${describeDatabase(config)}\n`,
          );
        let report: ImportReport;
        try {
          report = await new Importer(source, target, {
            dryRun: !!opts.dryRun,
            mode,
            concurrency,
            onProgress: bar
              ? (p) =>
                  bar.update(
                    p.bytes,
                    p.totalBytes,
                    `${p.repositories}/${p.totalRepositories} repositories, ${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)} ${p.repository}`,
                  )
              : undefined,
            onRepository: plain ? (line) => process.stdout.write(`import: ${line}\n`) : undefined,
          }).run();
        } finally {
          bar?.clear();
        }
        for (const note of real.notes) process.stderr.write(`berth: import: ${note}\n`);
        if (opts.json) process.stdout.write(`${JSON.stringify({ ...report, changed: changedAnything(report) }, null, 2)}\n`);
        else process.stdout.write(`${reportLines(report, changedAnything(report)).join('\n')}\n`);
        problems = hasProblems(report);
      } catch (err) {
        source?.close?.();
        await meta?.close().catch(() => {});
        fail(err, err instanceof ConfigError ? 2 : 1);
      }
      source?.close?.();
      await meta?.close();
      if (problems) process.exitCode = 3;
    });
}

async function openSource(arg: string, opts: ImportOptions, mode: TransferMode): Promise<ImportSource & { close?(): void }> {
  const { isS3Url } = await import('../import/s3-source.js');
  if (isS3Url(arg)) {
    if (mode !== 'copy') throw new UsageError(`--${mode} needs a source directory on Berth's filesystem, not ${arg}`);
    const { S3Source } = await import('../import/s3-source.js');
    const s = new S3Source({
      url: arg,
      endpoint: opts.s3Endpoint,
      region: opts.s3Region,
      pathStyle: opts.s3PathStyle === false ? false : undefined,
      skipVerify: opts.s3SkipVerify,
    });
    await inContext(`source ${s.description}`, () => s.check()).catch((err) => {
      s.close();
      throw err;
    });
    return s;
  }
  const { checkDirectoryRoot, DirectorySource } = await import('../import/source.js');
  const { resolve } = await import('node:path');
  const root = resolve(arg);
  await checkDirectoryRoot(root).catch((err: Error) => {
    throw new UsageError(err.message);
  });
  return new DirectorySource(root);
}

/** The human report: problems one per line, then the summary. */
export function reportLines(r: ImportReport, changed: boolean): string[] {
  const out: string[] = [];
  const would = r.dryRun ? 'would ' : '';
  for (const c of r.corrupt)
    out.push(
      `corrupt blob ${c.digest} (${c.size} bytes, linked in ${c.repositories.join(', ')}): its bytes do not match its digest, not imported` +
        (c.dependents.length ? `; ${r.dryRun ? 'would not be imported' : 'not imported'} with it: ${c.dependents.join(', ')}` : ''),
    );
  for (const d of r.dangling)
    out.push(`dangling ${d.kind} link in ${d.repository}${d.tag ? ` (tag ${d.tag})` : ''}${d.digest ? `: ${d.digest}` : ''} has no content in the source`);
  for (const s of r.skipped) out.push(`${would}skip ${s.what} in ${s.repository}: ${s.reason}`);
  for (const c of r.conflicts) out.push(`tag ${c.repository}:${c.tag} kept: it points at ${c.berth} in Berth (moved there since), the source has ${c.source}`);
  for (const f of r.failures) out.push(`refused ${f.what} in ${f.repository}: ${f.error}`);
  for (const u of r.staleUploads) out.push(`stale upload ${u.id} in ${u.repository}: ignored`);
  if (r.unreferenced.blobs > 0)
    out.push(
      `${r.unreferenced.blobs} blobs (${formatBytes(r.unreferenced.bytes)}) no repository links: not imported (registry:2's garbage collection would delete them)`,
    );
  const b = r.blobs;
  const verb = r.dryRun ? 'to import' : 'imported';
  out.push(
    `import${r.dryRun ? ' --dry-run' : ''}: ${r.repositories.found} repositories (${r.repositories.created} new), ` +
      `${r.tags.found} tags (${r.tags.imported} ${verb}, ${r.tags.unchanged} already there, ${r.tags.skipped} skipped, ${r.tags.conflicts} kept as Berth has them), ` +
      `${r.manifests.found} manifests (${r.manifests.imported} ${verb}, ${r.manifests.unchanged} already there, ${r.manifests.skipped} skipped), ` +
      `${b.found} blobs of ${formatBytes(b.bytes)} (${b.imported} ${r.dryRun ? 'to copy' : r.mode === 'copy' ? 'copied' : r.mode === 'link' ? 'hard-linked' : 'moved'}, ${formatBytes(b.importedBytes)}; ` +
      `${b.linked} links to stored blobs ${r.dryRun ? 'to add' : 'added'}, ${b.unchanged} already there), ${r.history.entries} earlier tag digests ${r.dryRun ? 'for' : 'in'} the tag history; ` +
      `${r.corrupt.length} corrupt blobs, ${r.dangling.length} dangling links, ${r.staleUploads.length} stale uploads, in ${r.seconds.toFixed(1)} s`,
  );
  if (!changed)
    out.push(r.dryRun ? 'import --dry-run: nothing to import: everything is already in Berth' : 'import: nothing changed: everything was already in Berth');
  return out;
}
