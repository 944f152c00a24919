// auth/ sits below the surfaces: nothing in it imports from http/, api/ or ui/ (the
// surfaces ask auth/ who is calling and what they may do, never the other way round).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

it('no module in src/auth imports from src/http, src/api or src/ui', () => {
  const files = readdirSync(path.join(src, 'auth'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 5, 'found the auth modules');
  const upward: string[] = [];
  for (const f of files) {
    const text = readFileSync(path.join(src, 'auth', f), 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g)) {
      const spec = m[1] ?? m[2];
      if (!spec.startsWith('.')) continue;
      const target = path.relative(src, path.resolve(path.dirname(path.join(src, 'auth', f)), spec));
      if (/^(http|api|ui)\//.test(target)) upward.push(`auth/${f} → ${target}`);
    }
  }
  assert.deepEqual(upward, []);
});
