// `berth gc` (the built command, as an operator runs it) against the store and database of a
// server that keeps serving: --dry-run lists what would go with counts and bytes and changes
// nothing; a collection prints one summary line and frees exactly those bytes; --delay overrides
// the configured delay; a bad --delay is one line on stderr.
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ProgressBar } from '../../src/cli/progress-bar.js';
import { api, pushImage, serverPerFile } from '../helpers/api-server.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { berthCommandOn } from '../helpers/berth-process.js';

const _MAIN = path.join(REPO_ROOT, 'dist', 'main.js');
// The configured delay is the default (24h): only --delay 0s makes the fresh garbage collectable.
const s = serverPerFile();

const berth = (args: string[]) => berthCommandOn(s, args);

async function storedBytes(root: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || e.name.startsWith('berth.db')) continue;
    const parent = (e as unknown as { parentPath?: string; path: string }).parentPath ?? e.path;
    total += (await stat(path.join(parent, e.name))).size;
  }
  return total;
}

describe('berth gc', () => {
  test('--dry-run lists what would go and changes nothing; then a collection frees exactly that and prints a summary', async () => {
    const kept = await pushImage(s.url, 'cli/app', { ref: 'kept', layers: 1 });
    const images = [];
    for (let i = 0; i < 3; i++) images.push(await pushImage(s.url, 'cli/app', { ref: `old${i}`, layers: 2, layerSize: 10_000 }));
    for (const im of images) assert.equal((await api(s.url, `/v2/cli/app/manifests/${im.manifest.digest}`, { method: 'DELETE' })).status, 202);
    const going = images.flatMap((im) => [im.config, ...im.layers, { digest: im.manifest.digest, size: im.manifest.bytes.length }]);
    const bytes = going.reduce((n, b) => n + b.size, 0);
    const before = await storedBytes(s.dir);

    const configured = await berth(['gc', '--dry-run']);
    assert.equal(configured.status, 0, configured.stderr);
    assert.match(configured.stdout, /would delete 0 manifests and 0 blobs, freeing 0 B \(0 bytes\)/, 'within the configured 24h delay nothing goes');

    const dry = await berth(['gc', '--dry-run', '--delay', '0s']);
    assert.equal(dry.status, 0, dry.stderr);
    // The plan, then the crash-leftover sweep's line (test/gc/sweep-command.test.ts): nothing left over here.
    const all = dry.stdout.trim().split('\n');
    assert.match(all.at(-1)!, /^gc: would sweep 0 leftover objects /);
    const lines = all.slice(0, -1);
    assert.deepEqual(lines.slice(0, -1).sort(), going.map((b) => `blob ${b.digest} ${b.size} bytes`).sort());
    assert.match(
      lines.at(-1)!,
      new RegExp(`^gc --dry-run: would delete 0 manifests and ${going.length} blobs, freeing .* \\(${bytes} bytes\\), with delay 0 s$`),
    );
    assert.equal(await storedBytes(s.dir), before, 'a dry run deletes nothing');
    assert.equal((await api(s.url, `/v2/cli/app/blobs/${images[0].layers[0].digest}`, { method: 'HEAD' })).status, 200);

    const run = await berth(['gc', '--delay', '0s']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr, '', 'no progress bar when stderr is not a terminal');
    assert.match(
      run.stdout,
      new RegExp(
        `^gc: deleted 0 manifests and ${going.length} blobs, freed .* \\(${bytes} bytes\\), removed \\d+ unused blob links, in [0-9.]+ s\\ngc: swept 0 leftover objects [^\\n]*\\n$`,
      ),
    );
    assert.equal(await storedBytes(s.dir), before - bytes);
    assert.equal((await api(s.url, `/v2/cli/app/blobs/${images[0].layers[0].digest}`, { method: 'HEAD' })).status, 404);
    const pulled = await api(s.url, `/v2/cli/app/blobs/${kept.layers[0].digest}`);
    assert.equal(pulled.status, 200, 'the server still serves what stays');

    const again = await berth(['gc', '--delay', '0s']);
    assert.match(again.stdout, /^gc: deleted 0 manifests and 0 blobs, freed 0 B \(0 bytes\)/);
  });

  test('a bad --delay is one line on stderr and changes nothing', async () => {
    const r = await berth(['gc', '--delay', 'soon']);
    assert.equal(r.status, 1);
    assert.deepEqual(r.stderr.trim().split('\n'), ['berth: --delay: expected a duration such as 24h, 30m or 0s, got "soon"']);
    assert.equal(r.stdout, '');
  });
});

describe('the progress bar', () => {
  test('draws the share done in place and clears its line', () => {
    const out: string[] = [];
    const bar = new ProgressBar({ write: (t) => out.push(t) > 0, columns: 80 }, 10);
    bar.update(5, 10, 'half', true);
    bar.update(10, 10, 'done', true);
    bar.clear();
    assert.deepEqual(out, ['\r\x1b[2K[#####-----]  50% half', '\r\x1b[2K[##########] 100% done', '\r\x1b[2K']);
  });
});
