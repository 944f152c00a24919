// Every package package-lock.json installs must run on every Node version Berth supports:
// `npm ci` warns EBADENGINE otherwise, and the package may use APIs the older Node lacks.
// Supported means each LTS line the `engines` range of package.json admits, from its lowest
// admitted version to the line's last release (Node 20 until its end of life, 22, 24).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

// semver (a pinned devDependency) ships no types; the two functions used here:
const semver = createRequire(import.meta.url)('semver') as {
  minVersion(range: string): { version: string } | null;
  satisfies(version: string, range: string): boolean;
  lt(a: string, b: string): boolean;
};

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: Record<string, string> | string[] }>;
};
const LTS_LINES = [20, 22, 24];

/** The versions a dependency must admit: the lowest and a late release of each supported LTS line. */
function supportedVersions(range: string): string[] {
  const out: string[] = [];
  for (const major of LTS_LINES) {
    // each alternative of an `a || b` range separately: a space would bind to the last one only
    const lowest = range
      .split('||')
      .map((alt) => semver.minVersion(`${alt.trim()} ${major}.x`)?.version)
      .filter((v): v is string => v !== undefined)
      .reduce<string | undefined>((a, b) => (a === undefined || semver.lt(b, a) ? b : a), undefined);
    if (!lowest) continue;
    out.push(lowest, `${major}.99.0`);
  }
  return out;
}

describe('dependency engines', () => {
  it('package.json names a range covering Node 20.17 and Node 24', () => {
    const versions = supportedVersions(pkg.engines.node);
    assert.ok(versions.includes('20.17.0') && versions.includes('24.0.0'), `engines.node ${pkg.engines.node} admits ${versions}`);
  });

  it('the lock file names the same range for the project', () => {
    assert.equal((lock.packages[''].engines as Record<string, string>).node, pkg.engines.node, 'npm install rewrites it; run it after editing engines');
  });

  it('no installed package refuses a supported Node version', () => {
    const versions = supportedVersions(pkg.engines.node);
    const refused: string[] = [];
    for (const [where, entry] of Object.entries(lock.packages)) {
      // engines as an array (old package.json style) is ignored by npm too
      const wanted = !where || Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (!wanted) continue;
      const bad = versions.filter((v) => !semver.satisfies(v, wanted));
      if (bad.length) refused.push(`${where.replace(/^.*node_modules\//, '')}@${entry.version} engines.node "${wanted}" refuses ${bad.join(', ')}`);
    }
    assert.deepEqual(refused, [], 'pin (or override in package.json) versions that run on every supported Node');
  });
});
