// Every shell command in README.md and docs/*.md (```sh, ```bash and ```shell blocks) works as
// written in a fresh clone after `npm ci`:
//   - each program exists: `npx berth` (this package's bin), an npm script, a file of the
//     repository, or a command on the PATH (without node_modules/.bin, which only npm scripts see);
//   - the REGISTRY_*/BERTH_* variables a command sets are a valid configuration (`config verify`);
//   - the berth commands that need no running server (config verify, user, keys, help) run,
//     in a copy of the built tree with the files they name, and succeed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, realpathSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { REPO_ROOT, tempDir } from '../helpers/shared.js';

interface DocCommand {
  /** file:line, for messages */
  where: string;
  /** the command as written, continuation lines joined, comment removed */
  text: string;
  /** simple commands of the line (split at |, &&, || and ;), as words */
  parts: { env: Record<string, string>; words: string[] }[];
}

const DOCS = [
  'README.md',
  ...readdirSync(path.join(REPO_ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };

/** Shell words and operators of one line: quotes and backslashes honoured, `#` comments dropped. */
function tokenize(line: string): string[] {
  const out: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated quote in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i];
    } else if (/\s/.test(c)) {
      if (word !== null) out.push(word);
      word = null;
    } else if (c === '#' && word === null) {
      break;
    } else if ('|&;'.includes(c)) {
      if (word !== null) out.push(word);
      word = null;
      const op = line.slice(i, i + 2) === '&&' || line.slice(i, i + 2) === '||' ? line.slice(i, i + 2) : c;
      out.push(op);
      i += op.length - 1;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) out.push(word);
  return out;
}

function commandsOf(file: string): DocCommand[] {
  const lines = readFileSync(path.join(REPO_ROOT, file), 'utf8').split('\n');
  const out: DocCommand[] = [];
  let shell = false;
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```\s*(\w*)/.exec(lines[i]);
    if (fence) {
      shell = !shell && ['sh', 'bash', 'shell'].includes(fence[1]);
      continue;
    }
    if (!shell) continue;
    const start = i;
    let text = lines[i];
    while (/\\\s*$/.test(text) && i + 1 < lines.length) text = text.replace(/\\\s*$/, ' ') + lines[++i];
    const tokens = tokenize(text);
    if (tokens.length === 0) continue;
    const parts: DocCommand['parts'] = [];
    let current: string[] = [];
    for (const t of [...tokens, ';']) {
      if (['|', '&&', '||', ';'].includes(t)) {
        if (current.length) {
          const env: Record<string, string> = {};
          while (current.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(current[0])) {
            const [k, ...v] = current.shift()!.split('=');
            env[k] = v.join('=');
          }
          parts.push({ env, words: current });
        }
        current = [];
      } else {
        current.push(t);
      }
    }
    out.push({ where: `${file}:${start + 1}`, text: text.replace(/\s+#.*$/, '').trim(), parts });
  }
  return out;
}

const ALL = DOCS.flatMap(commandsOf);
/** PATH as a user's shell has it: npm adds node_modules/.bin only for its scripts. */
const USER_PATH = (process.env.PATH ?? '')
  .split(':')
  .filter((p) => !p.includes('node_modules'))
  .join(':');

function onPath(program: string): boolean {
  return spawnSync('sh', ['-c', 'command -v "$0"', program], { env: { PATH: USER_PATH } }).status === 0;
}

/** Options of node and bash that take the next word as their value (`node --import tsx x.ts`). */
const OPTIONS_WITH_VALUE = new Set(['--import', '--require', '-r', '--loader', '--env-file', '-o', '-O']);

/** The script a node or bash command runs: its first word that is neither an option nor an option's value. */
function scriptOf(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (OPTIONS_WITH_VALUE.has(args[i])) i++;
    else if (!args[i].startsWith('-')) return args[i];
  }
  return undefined;
}

/** Why the program of a simple command would not run in a fresh clone, or null. */
function missingProgram(words: string[]): string | null {
  const [program, first, second] = words;
  if (program === undefined) return null; // an assignment alone (API=…)
  if (program === 'npx') return first && pkg.bin[first] ? null : `npx ${first} is not this package's command (${Object.keys(pkg.bin)})`;
  if (program === 'npm') {
    if (['ci', 'install', 'start', 'test'].includes(first)) return null;
    if (first === 'run') return pkg.scripts[second] ? null : `no npm script "${second}"`;
    return `npm ${first}: not a command the docs should need`;
  }
  if (program === 'node' || program === 'bash') {
    const script = scriptOf(words.slice(1));
    return script !== undefined && existsSync(path.join(REPO_ROOT, script)) ? null : `${script ?? 'no script'} does not exist`;
  }
  return onPath(program) ? null : `${program} is not on the PATH of a fresh clone (only npm scripts see node_modules/.bin; use npx ${program})`;
}

const BERTH_RUNS = new Set(['config', 'user', 'keys', 'help', '--help', '-h', '--version', '-v']);

/** `npx berth ARGS` or `node dist/main.js ARGS` with ARGS that need no server. */
function runsBerthOffline(words: string[]): boolean {
  const args = words[0] === 'npx' && words[1] === 'berth' ? words.slice(2) : words[0] === 'node' && words[1] === pkg.bin.berth ? words.slice(2) : null;
  return args !== null && BERTH_RUNS.has(args[0]);
}

describe('commands in README.md and docs/', () => {
  let tree: string;
  before(() => {
    assert.ok(existsSync(path.join(REPO_ROOT, 'dist', 'main.js')), 'run `npm run build` first (npm test does)');
    // What a fresh clone holds after `npm ci`, plus the files the commands name.
    tree = tempDir('doc-commands');
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json']) cpSync(path.join(REPO_ROOT, f), path.join(tree, f));
    for (const d of ['src', 'scripts', 'dist']) cpSync(path.join(REPO_ROOT, d), path.join(tree, d), { recursive: true });
    symlinkSync(realpathSync(path.join(REPO_ROOT, 'node_modules')), path.join(tree, 'node_modules'));
    // The copied dist is the repository's build: current (npx runs `prepare`, the build check, first).
    const now = new Date();
    utimesSync(path.join(tree, 'dist', '.build-stamp'), now, now);
    writeFileSync(
      path.join(tree, 'config.yml'),
      `storage:\n  filesystem:\n    rootdirectory: ${JSON.stringify(path.join(tree, 'data-config'))}\nauth:\n  token: {}\n  accounts:\n    bcryptcost: 4\nlog:\n  level: warn\n`,
    );
    writeFileSync(path.join(tree, 'empty.yml'), '');
  });

  it('finds the commands', () => {
    assert.ok(ALL.length >= 20, `only ${ALL.length} commands found`);
    assert.ok(
      ALL.some((c) => c.parts.some((p) => p.words[0] === 'npx' && p.words[1] === 'berth')),
      'some command runs berth',
    );
  });

  it('every program exists in a fresh clone', () => {
    const missing = ALL.flatMap((c) =>
      c.parts
        .map((p) => missingProgram(p.words))
        .filter(Boolean)
        .map((why) => `${c.where}: ${c.text}\n    ${why}`),
    );
    assert.deepEqual(missing, []);
  });

  it('the REGISTRY_* and BERTH_* variables they set are a valid configuration', () => {
    const bad: string[] = [];
    for (const c of ALL) {
      for (const p of c.parts) {
        const env = Object.fromEntries(Object.entries(p.env).filter(([k]) => /^(REGISTRY|BERTH)_/.test(k)));
        if (Object.keys(env).length === 0) continue;
        const r = spawnSync(process.execPath, [path.join(tree, 'dist', 'main.js'), 'config', 'verify', 'empty.yml'], {
          cwd: tree,
          env: { ...cleanEnv(), ...env },
          encoding: 'utf8',
        });
        if (r.status !== 0) bad.push(`${c.where}: ${c.text}\n    ${r.stderr.trim()}`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it('the npx berth commands that need no server run as written', () => {
    const runnable = ALL.filter((c) => c.parts.some((p) => runsBerthOffline(p.words)));
    assert.ok(runnable.length >= 5, `${runnable.length} runnable berth commands`);
    // Documents list `user add` before `user passwd`; run in that order, in one data directory.
    for (const c of runnable) {
      const r = spawnSync('bash', ['-c', c.text], {
        cwd: tree,
        // npx links the package into its cache on first use: a cache of this tree's own, removed with it.
        env: { ...cleanEnv(), PATH: USER_PATH, PASSWORD: 'doc-example-password', npm_config_cache: path.join(tree, '.npm') },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(r.status, 0, `${c.where}: ${c.text}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    }
  });
});

/** A user's environment: no Berth settings (a developer's BERTH_CONFIG must not leak in), none of npm's script variables. */
function cleanEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !/^(BERTH|REGISTRY|npm)_/i.test(k))) as Record<string, string>;
}
