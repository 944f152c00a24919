#!/usr/bin/env node
// The build: tsc for the server (src → dist) and for the web UI client (src/ui/client → dist/ui/client).
//   node scripts/build.mjs             build                                  (npm run build)
//   node scripts/build.mjs --if-stale  build only when the sources changed     (npm ci, npm test; npm start: scripts/start.mjs)
//   node scripts/build.mjs --check     exit 1 naming the first changed source, build nothing
// A successful build leaves dist/.build-stamp, dated when the build started. The build is stale when
// anything under src/ (a file changed, added or removed: directories count), a tsconfig, package.json or
// package-lock.json is newer than the stamp. The check stats every file under src/ (a few hundred): milliseconds.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STAMP = path.join(root, 'dist', '.build-stamp');
const PROJECTS = ['tsconfig.json', 'src/ui/client/tsconfig.json'];
const INPUTS = ['src', 'tsconfig.json', 'package.json', 'package-lock.json'];

/** Why the build is stale ("no build yet", "src/x.ts changed"), or null when it is fresh. */
export function staleness() {
  let built;
  try {
    built = statSync(STAMP).mtimeMs;
  } catch {
    return 'no build yet';
  }
  const walk = (rel) => {
    let st;
    try {
      st = statSync(path.join(root, rel));
    } catch {
      return null; // package-lock.json may be absent
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(path.join(root, rel))) {
        const hit = walk(path.join(rel, name));
        if (hit) return hit;
      }
    }
    // A directory newer than the build with nothing newer inside: an entry was added or removed.
    return st.mtimeMs > built ? rel : null;
  };
  for (const rel of INPUTS) {
    const hit = walk(rel);
    if (hit) return `${hit} changed since the last build`;
  }
  return null;
}

function build() {
  const started = new Date();
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  for (const project of PROJECTS) {
    const r = spawnSync(process.execPath, [tsc, '-p', path.join(root, project)], { stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
  mkdirSync(path.dirname(STAMP), { recursive: true });
  writeFileSync(STAMP, `built from the sources as of ${started.toISOString()}\n`);
  // Dated at the start, so a source saved while tsc ran makes the next check rebuild.
  utimesSync(STAMP, started, started);
}

/**
 * `--if-stale`: builds when the sources changed since the last build, says so on stderr either way.
 * Also what `npm start` runs first, in the server's own process (scripts/start.mjs).
 */
export function buildIfStale() {
  if (!existsSync(path.join(root, 'src', 'main.ts'))) {
    // `npm ci` in a Docker layer that has package.json but not yet the sources.
    process.stderr.write('build: no sources (src/main.ts) here yet; skipped\n');
    return;
  }
  const stale = staleness();
  if (stale) {
    process.stderr.write(`build: ${stale}; compiling (about 30 s)\n`);
    build();
  } else {
    process.stderr.write('build: dist is up to date\n');
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const mode = process.argv[2] ?? '';
  if (mode !== '' && mode !== '--if-stale' && mode !== '--check') {
    process.stderr.write(`build: unknown option ${mode} (use --if-stale or --check)\n`);
    process.exit(2);
  }
  if (mode === '') {
    build();
  } else if (mode === '--if-stale') {
    buildIfStale();
  } else if (!existsSync(path.join(root, 'src', 'main.ts'))) {
    process.stderr.write('build: no sources (src/main.ts) here yet; skipped\n');
  } else {
    const stale = staleness();
    process.stdout.write(stale ? `build: stale, ${stale}\n` : 'build: dist is up to date\n');
    process.exit(stale ? 1 : 0);
  }
}
