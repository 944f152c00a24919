// `berth migrate`: brings the metadata database to this release's schema and exits. With
// metadata.automigrate off, servers only check the schema, so a rollout runs this once first
// (a Kubernetes Job, docs/deployment.md) instead of every replica racing for it at start.
import type { Command } from 'commander';
import { describeDatabase } from '../config/describe.js';
import { loadConfig } from '../config/index.js';
import { inContext } from './errors.js';

type Fail = (err: unknown, code: number) => never;

export function registerMigrateCommand(program: Command, fail: Fail): void {
  program
    .command('migrate [config]')
    .description("apply the metadata database's pending migrations and exit (for metadata.automigrate: false)")
    .option('-c, --config <file>', 'YAML config file (default: $BERTH_CONFIG, else built-in defaults)')
    .action(async (positional: string | undefined, opts: { config?: string }) => {
      try {
        const config = loadConfig({ file: opts.config ?? positional ?? (process.env.BERTH_CONFIG || undefined), env: process.env });
        const { openMetadata } = await import('../metadata/open.js');
        const where = describeDatabase(config);
        let applied: string[] = [];
        const meta = await inContext(`metadata database ${where}`, () =>
          openMetadata(config, {
            migrate: true,
            onMigrated: (names) => {
              applied = names;
            },
          }),
        );
        await meta.close();
        process.stdout.write(
          applied.length > 0 ? `applied ${applied.length} migration(s) to ${where}: ${applied.join(', ')}\n` : `${where} is up to date: nothing to apply\n`,
        );
      } catch (err) {
        fail(err, 1);
      }
    });
}
