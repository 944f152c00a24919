// Python: installed distributions (*.dist-info/METADATA, *.egg-info/PKG-INFO) and the lock files an image
// may ship (poetry.lock, Pipfile.lock, requirements.txt with exact `==` pins).
import type { RawPackage } from './raw.js';

const pypi = (name: string, version: string, license?: string): RawPackage => ({ type: 'pypi', name, version, ...(license ? { license } : {}) });

/** Core metadata (RFC 822 headers up to the first blank line). */
export function parsePythonMetadata(text: string): RawPackage[] {
  const head = text.split(/\r?\n\r?\n/, 1)[0];
  const fields: Record<string, string> = {};
  for (const line of head.split(/\r?\n/)) {
    const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
    if (m && !(m[1].toLowerCase() in fields)) fields[m[1].toLowerCase()] = m[2].trim();
  }
  if (!fields.name || !fields.version) return [];
  const license = fields['license-expression'] || (fields.license && fields.license !== 'UNKNOWN' ? fields.license : undefined);
  return [pypi(fields.name, fields.version, license)];
}

/** poetry.lock: TOML `[[package]]` tables with `name` and `version` strings (only those keys are read). */
export function parsePoetryLock(text: string): RawPackage[] {
  const out: RawPackage[] = [];
  let inPackage = false;
  let name: string | undefined;
  let version: string | undefined;
  const flush = () => {
    if (inPackage && name && version) out.push(pypi(name, version));
    name = version = undefined;
  };
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t.startsWith('[')) {
      if (t === '[[package]]') {
        flush();
        inPackage = true;
      } else if (!t.startsWith('[package.')) {
        flush();
        inPackage = false;
      }
      continue;
    }
    if (!inPackage) continue;
    const m = /^(name|version)\s*=\s*["']([^"']+)["']/.exec(t);
    if (m && m[1] === 'name' && name === undefined) name = m[2];
    if (m && m[1] === 'version' && version === undefined) version = m[2];
  }
  flush();
  return out;
}

/** Pipfile.lock: `default` holds what is installed (`develop` is for development only). */
export function parsePipfileLock(text: string): RawPackage[] {
  const lock = JSON.parse(text) as { default?: Record<string, { version?: unknown }> };
  const out: RawPackage[] = [];
  for (const [name, d] of Object.entries(lock.default ?? {})) {
    const v = typeof d?.version === 'string' ? /^===?\s*(\S+)$/.exec(d.version.trim()) : null;
    if (v) out.push(pypi(name, v[1]));
  }
  return out;
}

/** requirements.txt: only exact pins (`name==1.2.3`, extras and environment markers allowed) name a version. */
export function parseRequirements(text: string): RawPackage[] {
  const out: RawPackage[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (!line || line.startsWith('-')) continue;
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*===?\s*([A-Za-z0-9.!+_-]+)\s*(?:;.*)?(?:\s+--hash=\S+)*\s*\\?$/.exec(line);
    if (m && !m[2].includes('*')) out.push(pypi(m[1], m[2]));
  }
  return out;
}

export function pythonReader(path: string): ((text: string) => RawPackage[]) | null {
  // an .egg-info is a directory holding PKG-INFO, or (distutils) a file of that content
  if (/\.dist-info\/METADATA$/.test(path) || /\.egg-info(\/PKG-INFO)?$/.test(path)) return parsePythonMetadata;
  const base = path.slice(path.lastIndexOf('/') + 1);
  if (base === 'poetry.lock') return parsePoetryLock;
  if (base === 'Pipfile.lock') return parsePipfileLock;
  if (base === 'requirements.txt') return parseRequirements;
  return null;
}
