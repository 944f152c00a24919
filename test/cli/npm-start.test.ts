// `npm start` compiles only when a source changed since the last build (scripts/build.mjs
// --if-stale), so a built tree answers within seconds instead of after a whole tsc run; the check
// and the server run in one Node process (scripts/start.mjs), not two Node starts.
// Each test works on a copy of the tree in a temporary directory, node_modules linked.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { freePort } from '../helpers/berth-process.js';
import { REPO_ROOT, sleep, tempDir } from '../helpers/shared.js';

/** A copy of what `npm start` reads: package files, scripts, sources and (optionally) dist. */
function copyTree(withDist: boolean): string {
  const dir = tempDir('npm-start');
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json']) cpSync(path.join(REPO_ROOT, f), path.join(dir, f), { preserveTimestamps: true });
  for (const d of ['src', 'scripts', ...(withDist ? ['dist'] : [])])
    cpSync(path.join(REPO_ROOT, d), path.join(dir, d), { recursive: true, preserveTimestamps: true });
  symlinkSync(realpathSync(path.join(REPO_ROOT, 'node_modules')), path.join(dir, 'node_modules'));
  return dir;
}

/** Marks the tree's dist as built now (the copy's dist is whatever the repository built). */
function markBuilt(dir: string, at = new Date()): void {
  utimesSync(path.join(dir, 'dist', '.build-stamp'), at, at);
}

/** Dates `p` and everything below it `at`. */
function age(p: string, at: Date): void {
  if (statSync(p).isDirectory()) for (const name of readdirSync(p)) age(path.join(p, name), at);
  utimesSync(p, at, at);
}

function check(dir: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [path.join(dir, 'scripts', 'build.mjs'), '--check'], { encoding: 'utf8' });
  return { status: r.status, out: r.stdout + r.stderr };
}

/** Runs `npm start` in `dir` until `done(output)` or its exit; returns the output and the process's fate. */
async function npmStart(dir: string, env: Record<string, string>, done: (out: string) => Promise<boolean>, timeoutMs: number) {
  const child = spawn('npm', ['start'], { cwd: dir, env: { ...process.env, ...env }, detached: true });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on('close', () => {
      exited = true;
      resolve();
    }),
  );
  const deadline = Date.now() + timeoutMs;
  try {
    while (!exited && !(await done(out))) {
      if (Date.now() > deadline) assert.fail(`npm start did not get there within ${timeoutMs} ms:\n${out}`);
      await sleep(25);
    }
  } finally {
    if (!exited) process.kill(-child.pid!, 'SIGTERM'); // npm, its shell and node: one process group
    await exit;
  }
  return out;
}

describe('npm start', () => {
  it('on a built tree: does not compile, answers GET /v2/ within seconds, from the one Node process npm starts', { timeout: 120_000 }, async () => {
    assert.ok(existsSync(path.join(REPO_ROOT, 'dist', '.build-stamp')), 'run `npm run build` first (npm test does)');
    const dir = copyTree(true);
    markBuilt(dir);
    // Every Node process started under npm (npm's own included) records its pid and script.
    const recorded = path.join(dir, 'node-processes.txt');
    const recorder = path.join(dir, 'record-start.cjs');
    writeFileSync(recorder, `require('node:fs').appendFileSync(${JSON.stringify(recorded)}, process.pid + ' ' + process.argv[1] + '\\n');\n`);
    const main = path.join(dir, 'dist', 'main.js');
    const before = statSync(main).mtimeMs;
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/v2/`;
    const started = Date.now();
    let answeredAfter = 0;
    const out = await npmStart(
      dir,
      {
        REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(dir, 'data'),
        REGISTRY_LOG_LEVEL: 'warn',
        NODE_OPTIONS: `--require ${recorder}`,
      },
      async () => {
        const ok = await fetch(url).then(
          (r) => r.status === 200,
          () => false,
        );
        if (ok) answeredAfter = Date.now() - started;
        return ok;
      },
      60_000,
    );
    assert.ok(answeredAfter > 0, `never answered:\n${out}`);
    assert.match(out, /build: dist is up to date/);
    assert.doesNotMatch(out, /compiling/);
    assert.equal(statSync(main).mtimeMs, before, 'dist/main.js untouched');
    const ours = readFileSync(recorded, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.slice(l.indexOf(' ') + 1))
      .filter((script) => script.startsWith(dir)); // not npm's own
    assert.deepEqual(ours, [path.join(dir, 'scripts', 'start.mjs')], 'one Node process besides npm: the check and the server in it');
    // tsc alone takes 20–60 s here; a start without it, a few seconds even on a loaded machine.
    assert.ok(answeredAfter < 15_000, `first answer after ${answeredAfter} ms`);
  });

  it('a source changed, added or removed, a tsconfig or the lock file makes the build stale', () => {
    const dir = copyTree(true);
    // Every input dated a day ago; then each step builds at a later time in the past and changes one thing after it.
    const dayAgo = new Date(Date.now() - 86_400_000);
    for (const rel of ['src', 'tsconfig.json', 'package.json', 'package-lock.json']) age(path.join(dir, rel), dayAgo);
    let clock = dayAgo.getTime();
    const build = () => {
      clock += 60_000;
      markBuilt(dir, new Date(clock));
    };
    const touch = (rel: string) => utimesSync(path.join(dir, rel), new Date(clock + 1000), new Date(clock + 1000));

    build();
    assert.deepEqual(check(dir), { status: 0, out: 'build: dist is up to date\n' });
    touch('src/oci/names.ts');
    assert.deepEqual(check(dir), { status: 1, out: 'build: stale, src/oci/names.ts changed since the last build\n' });
    build();
    assert.equal(check(dir).status, 0);
    writeFileSync(path.join(dir, 'src', 'oci', 'added.ts'), 'export {};\n');
    assert.deepEqual(check(dir), { status: 1, out: 'build: stale, src/oci/added.ts changed since the last build\n' });
    build();
    rmSync(path.join(dir, 'src', 'oci', 'added.ts'));
    assert.deepEqual(check(dir), { status: 1, out: 'build: stale, src/oci changed since the last build\n' }, 'a removed source');
    for (const rel of ['src/ui/client/tsconfig.json', 'tsconfig.json', 'package-lock.json']) {
      // src/oci was just changed for real (now): date it back before this build.
      age(path.join(dir, 'src', 'oci'), dayAgo);
      build();
      assert.equal(check(dir).status, 0);
      touch(rel);
      assert.deepEqual(check(dir), { status: 1, out: `build: stale, ${rel} changed since the last build\n` });
    }
  });

  it('on a stale tree: compiles first, then runs what it compiled', { timeout: 180_000 }, async () => {
    // A tree with the real package.json, build script and tsconfigs, but a two-line program, so tsc is quick.
    const dir = tempDir('npm-start-small');
    for (const f of ['package.json', 'tsconfig.json', 'scripts/build.mjs', 'scripts/start.mjs', 'src/ui/client/tsconfig.json']) {
      mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      cpSync(path.join(REPO_ROOT, f), path.join(dir, f));
    }
    symlinkSync(realpathSync(path.join(REPO_ROOT, 'node_modules')), path.join(dir, 'node_modules'));
    writeFileSync(path.join(dir, 'src', 'ui', 'client', 'app.tsx'), 'export const ui = 1;\n');
    writeFileSync(path.join(dir, 'src', 'main.ts'), "console.log('program v2 ' + process.argv.slice(2).join(' '));\n");
    // The last build, made from an older source.
    mkdirSync(path.join(dir, 'dist'));
    writeFileSync(path.join(dir, 'dist', 'main.js'), "console.log('program v1');\n");
    writeFileSync(path.join(dir, 'dist', '.build-stamp'), '');
    markBuilt(dir, new Date(Date.now() - 60_000));

    const out = await npmStart(dir, {}, async (o) => o.includes('program v'), 150_000);
    assert.match(out, /build: src\/main\.ts changed since the last build; compiling/);
    assert.match(out, /program v2 serve/);
    assert.doesNotMatch(out, /program v1/);
    assert.equal(check(dir).status, 0, 'fresh after the build');
  });
});
