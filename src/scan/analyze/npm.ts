// npm: package-lock.json (lockfileVersion 1: nested `dependencies`; 2 and 3: flat `packages` keyed by
// node_modules path) and installed node_modules/<name>/package.json. Development-only dependencies of a
// lock file are left out, as they are not installed by `npm ci --omit=dev`, and so are workspace folders.
import type { RawPackage } from './raw.js';

interface LockV1Dep {
  version?: string;
  dev?: boolean;
  bundled?: boolean;
  dependencies?: Record<string, LockV1Dep>;
}

interface LockPackage {
  name?: string;
  version?: string;
  dev?: boolean;
  link?: boolean;
}

function npm(name: string, version: string, license?: unknown): RawPackage {
  return { type: 'npm', name, version, ...(typeof license === 'string' ? { license } : {}) };
}

export function parsePackageLock(text: string): RawPackage[] {
  const lock = JSON.parse(text) as { lockfileVersion?: number; packages?: Record<string, LockPackage>; dependencies?: Record<string, LockV1Dep> };
  const out: RawPackage[] = [];
  if (lock.packages && typeof lock.packages === 'object') {
    for (const [where, p] of Object.entries(lock.packages)) {
      // only installed packages: the root and workspace folders ("packages/w") are the project's own code
      const i = where.lastIndexOf('node_modules/');
      if (i < 0 || !p || p.link || p.dev || typeof p.version !== 'string') continue;
      const name = p.name ?? where.slice(i + 'node_modules/'.length);
      if (name) out.push(npm(name, p.version, (p as { license?: unknown }).license));
    }
    return out;
  }
  const walk = (deps: Record<string, LockV1Dep> | undefined) => {
    for (const [name, d] of Object.entries(deps ?? {})) {
      if (!d || d.dev) continue;
      // v1 records git and file dependencies with a URL as version
      if (typeof d.version === 'string' && !/^[a-z+]+:/i.test(d.version)) out.push(npm(name, d.version));
      walk(d.dependencies);
    }
  };
  walk(lock.dependencies);
  return out;
}

export function parseNodeModulesPackage(text: string): RawPackage[] {
  const p = JSON.parse(text) as { name?: unknown; version?: unknown; license?: unknown; private?: unknown };
  if (typeof p.name !== 'string' || typeof p.version !== 'string' || !p.name || !p.version) return [];
  return [npm(p.name, p.version, p.license)];
}

/** Is `path` the package.json of an installed package (node_modules/x or node_modules/@s/x)? */
export function isNodeModulesPackage(path: string): boolean {
  return /(^|\/)node_modules\/(@[^/]+\/)?[^/@.][^/]*\/package\.json$/.test(path);
}
