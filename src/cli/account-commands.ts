// `berth user add|passwd` and `berth keys rotate`: act on the metadata database
// named by the same configuration `berth serve` reads, so they work with the
// server stopped (and, SQLite's WAL allowing, with it running).
import { stdin } from 'node:process';
import type { Command } from 'commander';
import type { AccountService } from '../auth/accounts.js';
import { describeDatabase } from '../config/describe.js';
import { ConfigError, loadConfig, type BerthConfig, type TokenAuthConfig } from '../config/index.js';
import type { AccountStores } from '../metadata/accounts/index.js';
import type { MetadataDb } from '../metadata/database.js';
import { UsageError, inContext } from './errors.js';

/** Who the audit log names for changes made from the command line (not a valid username). */
const CLI_ACTOR = '(cli)';

type Fail = (err: unknown, code: number) => never;

export function registerAccountCommands(program: Command, fail: Fail): void {
  const configOption = ['-c, --config <file>', 'YAML config file (default: $BERTH_CONFIG, else built-in defaults)'] as const;

  const user = program.command('user').description('manage user accounts');

  user
    .command('add <name>')
    .description('create a user; the password is read from standard input')
    .option(...configOption)
    .option('--admin', 'make the user an administrator')
    .option('--email <address>', 'email address')
    .option('--password-stdin', 'read the password from standard input (required: never from the command line)')
    .action(async (name: string, opts: { config?: string; admin?: boolean; email?: string; passwordStdin?: boolean }) => {
      await withAccounts(opts.config, fail, async ({ accounts }) => {
        const password = await readPassword(opts.passwordStdin, `user add ${name}`);
        await accounts.createUser(
          { username: name, password, email: opts.email ?? null, isAdmin: !!opts.admin },
          { actor: CLI_ACTOR, action: 'user.create', target: name },
        );
        process.stdout.write(`created user ${name}${opts.admin ? ' (administrator)' : ''}\n`);
      });
    });

  user
    .command('passwd <name>')
    .description("set a user's password, read from standard input")
    .option(...configOption)
    .option('--password-stdin', 'read the password from standard input (required: never from the command line)')
    .action(async (name: string, opts: { config?: string; passwordStdin?: boolean }) => {
      await withAccounts(opts.config, fail, async ({ accounts, stores }) => {
        const u = await stores.users.userByName(name);
        if (!u || u.robotOrgId !== null) throw new UsageError(`no such user: ${name}`);
        await accounts.setPassword(u, await readPassword(opts.passwordStdin, `user passwd ${name}`), {
          actor: CLI_ACTOR,
          action: 'user.password',
          target: name,
        });
        process.stdout.write(`password changed for ${name}\n`);
      });
    });

  program
    .command('keys')
    .description('token signing keys')
    .command('rotate')
    .description('sign new tokens with a new key; older keys verify until their tokens expire')
    .option(...configOption)
    .action(async (opts: { config?: string }) => {
      await withAccounts(opts.config, fail, async ({ accounts, meta, stores, token }) => {
        const [{ KeyRing }, { signingKeySealer }] = await Promise.all([import('../token/keys.js'), import('../auth/token-auth.js')]);
        const keys = new KeyRing(stores.signingKeys, meta, token.expiration, signingKeySealer(token));
        await keys.init();
        const kid = await keys.rotate();
        await accounts.audit({ actor: CLI_ACTOR, action: 'keys.rotate', target: kid });
        process.stdout.write(`new signing key ${kid} (running servers pick it up within a minute)\n`);
      });
    });
}

interface Parts {
  config: BerthConfig;
  token: TokenAuthConfig;
  meta: MetadataDb;
  stores: AccountStores;
  accounts: AccountService;
}

async function withAccounts(file: string | undefined, fail: Fail, fn: (p: Parts) => Promise<void>): Promise<void> {
  let meta: MetadataDb | undefined;
  try {
    const config = loadConfig({ file: file ?? (process.env.BERTH_CONFIG || undefined), env: process.env });
    const token = builtinIssuer(config);
    // Loaded lazily, so `berth config verify` stays light.
    const [{ openMetadata }, { accountStores }, { AccountService }] = await Promise.all([
      import('../metadata/open.js'),
      import('../metadata/accounts/index.js'),
      import('../auth/accounts.js'),
    ]);
    meta = await inContext(`metadata database ${describeDatabase(config)}`, () => openMetadata(config));
    const stores = accountStores(meta);
    await fn({ config, token, meta, stores, accounts: new AccountService(stores, meta, config.auth!.accounts) });
  } catch (err) {
    await meta?.close().catch(() => {});
    fail(err, err instanceof ConfigError ? 2 : 1);
  }
  await meta?.close();
}

/** Accounts and signing keys belong to the built-in token issuer: refuse any other configuration. */
function builtinIssuer(config: BerthConfig): TokenAuthConfig {
  const token = config.auth?.token;
  const mode = config.auth?.htpasswd ? 'htpasswd auth' : 'no auth';
  if (!token)
    throw new UsageError(
      `accounts and signing keys need token auth, and this configuration has ${mode}: set REGISTRY_AUTH=token (or auth.token in the config file)`,
    );
  if (!token.builtin)
    throw new UsageError(
      'accounts and signing keys belong to the built-in token issuer, and this configuration trusts an external one (auth.token.builtin: false)',
    );
  return token;
}

/** The whole of standard input less one trailing newline; an empty password is refused. */
async function readPassword(fromStdin: boolean | undefined, command: string): Promise<string> {
  // Never from the command line (shell history, ps), and not from a terminal, which would echo it.
  const hint = `pipe it in: printf %s "$PASSWORD" | berth ${command} --password-stdin`;
  if (!fromStdin) throw new UsageError(`the password is read from standard input only: ${hint}`);
  if (stdin.isTTY) throw new UsageError(`standard input is a terminal: ${hint}`);
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (!password) throw new UsageError('refusing an empty password');
  return password;
}
