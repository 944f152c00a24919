// The linter and formatter (Biome, biome.json) run before every `npm test` (pretest); this
// test says so in the results too, and fails when the tree is not formatted or lints dirty.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/shared.js';

describe('lint and format', () => {
  it('npm test runs the linter and the formatter check first', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.match(pkg.scripts.pretest, /npm run lint/);
    assert.equal(pkg.scripts.lint, 'biome check .');
  });

  it('the tree passes biome check (lint rules and formatting)', () => {
    const biome = path.join(REPO_ROOT, 'node_modules', '.bin', 'biome');
    const r = spawnSync(biome, ['check', '.', '--max-diagnostics=20'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  });
});
