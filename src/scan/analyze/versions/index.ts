// Version ordering per OSV ecosystem. Each compare returns <0, 0, >0 and throws on a version it cannot read.
import { createRequire } from 'node:module';
import { compareApk } from './apk.js';
import { compareDpkg } from './dpkg.js';
import { comparePep440 } from './pep440.js';
import { compareRpm } from './rpm.js';

// semver ships no types; the two functions used here
const semver = createRequire(import.meta.url)('semver') as {
  valid(v: string): string | null;
  compare(a: string, b: string): -1 | 0 | 1;
};

export class UnorderedVersionError extends Error {}

export type Compare = (a: string, b: string) => number;

function compareSemver(a: string, b: string): number {
  const x = a.trim().replace(/^v/, '');
  const y = b.trim().replace(/^v/, '');
  if (!semver.valid(x) || !semver.valid(y)) throw new UnorderedVersionError(`not a semantic version: ${semver.valid(x) ? b : a}`);
  return semver.compare(x, y);
}

const RPM_FAMILIES = ['Red Hat', 'Rocky Linux', 'AlmaLinux', 'openSUSE', 'SUSE', 'Mageia', 'openEuler'];

/** The base of an OSV ecosystem name: `Debian:12` -> `Debian`. */
export function ecosystemBase(ecosystem: string): string {
  const i = ecosystem.indexOf(':');
  return i < 0 ? ecosystem : ecosystem.slice(0, i);
}

/** How versions of `ecosystem` sort, or null when Berth does not know (such ranges are not matched). */
export function comparatorFor(ecosystem: string): Compare | null {
  const base = ecosystemBase(ecosystem);
  if (base === 'Debian' || base === 'Ubuntu') return compareDpkg;
  if (base === 'Alpine' || base === 'Wolfi' || base === 'Chainguard') return compareApk;
  if (RPM_FAMILIES.includes(base)) return compareRpm;
  if (base === 'PyPI') return comparePep440;
  if (base === 'npm' || base === 'Go' || base === 'crates.io' || base === 'Packagist' || base === 'Hex' || base === 'Pub') return compareSemver;
  return null;
}

export { compareApk, compareDpkg, comparePep440, compareRpm, compareSemver };
