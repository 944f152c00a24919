#!/usr/bin/env node
// The `berth` command line. Exit codes: 0 ok, 1 runtime failure, a user's mistake or a
// failed `config verify`, 2 configuration error when starting the server, 3 `scrub` found problems. A user's mistake
// is one line on stderr (cli/errors.ts); only bugs print a stack.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerAccountCommands } from './cli/account-commands.js';
import { userErrorLine } from './cli/errors.js';
import { registerGcCommand } from './cli/gc-command.js';
import { registerImportCommand } from './cli/import-command.js';
import { registerMigrateCommand } from './cli/migrate-command.js';
import { registerScrubCommand } from './cli/scrub-command.js';
import { ConfigError, loadConfig } from './config/index.js';
import { tracingSettings } from './observability/tracing-config.js';

// package.json sits one level above both src/ (tsx) and dist/ (built).
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command().name('berth').description('Berth: an OCI container image registry').version(pkg.version, '-v, --version');

program
  .command('serve [config]')
  .description('run the registry server (config as a positional argument, like registry:2, or with -c)')
  .option('-c, --config <file>', 'YAML config file (default: $BERTH_CONFIG, else built-in defaults)')
  .action(async (positional: string | undefined, opts: { config?: string }) => {
    const file = opts.config ?? positional ?? (process.env.BERTH_CONFIG || undefined);
    try {
      const config = loadConfig({ file, env: process.env });
      // Imported lazily so `berth config ...` does not load the HTTP stack.
      const { serve } = await import('./server.js');
      await serve(config);
    } catch (err) {
      fail(err, err instanceof ConfigError ? 2 : 1);
    }
  });

const configCmd = program.command('config').description('inspect and check configuration');

configCmd
  .command('verify <file>')
  .description('validate a config file (with REGISTRY_*/BERTH_* overrides and OTEL_* tracing settings); prints "ok"')
  .action((file: string) => {
    try {
      loadConfig({ file, env: process.env });
      // The OTEL_* tracing variables `serve` would refuse (docs/observability.md#traces).
      tracingSettings(process.env);
    } catch (err) {
      fail(err, 1);
    }
    process.stdout.write('ok\n');
  });

registerAccountCommands(program, fail);
registerGcCommand(program, fail);
registerImportCommand(program, fail);
registerMigrateCommand(program, fail);
registerScrubCommand(program, fail);
oneLineUsageErrors(program, 'berth');

function fail(err: unknown, code: number): never {
  const line = userErrorLine(err);
  process.stderr.write(`berth: ${line ?? (err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`);
  process.exit(code);
}

/** Bad arguments and options: commander's message on one line, and where the usage is. */
function oneLineUsageErrors(cmd: Command, path: string): void {
  cmd.configureOutput({
    outputError: (message, write) =>
      write(
        `berth: ${message
          .replace(/^error: /, '')
          .replace(/\s*\n\s*/g, ' ')
          .trim()} (see ${path} --help)\n`,
      ),
  });
  for (const sub of cmd.commands) oneLineUsageErrors(sub, `${path} ${sub.name()}`);
}

await program.parseAsync(process.argv);
