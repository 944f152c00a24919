#!/usr/bin/env node
// The `berth` command line. Exit codes: 0 ok, 1 runtime failure or failed
// `config verify`, 2 configuration error when starting the server.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerAccountCommands } from './cli/account-commands.js';
import { ConfigError, loadConfig } from './config/index.js';

// package.json sits one level above both src/ (tsx) and dist/ (built).
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command()
  .name('berth')
  .description('Berth: an OCI container image registry')
  .version(pkg.version, '-v, --version')
  .showHelpAfterError();

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
  .description('validate a config file (with REGISTRY_*/BERTH_* overrides applied); prints "ok"')
  .action((file: string) => {
    try {
      loadConfig({ file, env: process.env });
    } catch (err) {
      fail(err, 1);
    }
    process.stdout.write('ok\n');
  });

registerAccountCommands(program, fail);

function fail(err: unknown, code: number): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`berth: configuration error: ${err.message}\n`);
  } else {
    process.stderr.write(`berth: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exit(code);
}

await program.parseAsync(process.argv);
