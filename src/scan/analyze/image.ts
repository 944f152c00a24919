// analyzeImage: the layers are read bottom to top, one at a time, and only the files that hold package
// data are read (each up to maxFileBytes; executables are streamed past for Go build information). What
// each file yields is kept per path, so a later layer's whiteout, opaque directory or replacement removes
// what a lower layer said: packages deleted from the image are not reported.
import { parseApkInstalled } from './apk.js';
import { parseDpkgStatus } from './dpkg.js';
import { goPackages, scanGoBinary } from './go-buildinfo.js';
import { type LayerEntry, readCapped, walkLayer } from './layers.js';
import { isNodeModulesPackage, parseNodeModulesPackage, parsePackageLock } from './npm.js';
import { type OsFamily, type OsRelease, osEcosystem, parseOsRelease } from './os-release.js';
import { purlOf } from './purl.js';
import { pythonReader } from './python.js';
import type { RawPackage } from './raw.js';
import { parseRpmBerkeleyDb, parseRpmSqlite } from './rpm.js';
import type { AnalyzeOptions, AnalyzeResult, LayerSource, Package } from './types.js';
import { normalizePypiName } from './versions/pep440.js';

type Reader =
  | { kind: 'os-release' }
  | { kind: 'text'; parse: (text: string) => RawPackage[] }
  | { kind: 'binary'; parse: (bytes: Buffer) => RawPackage[] | Promise<RawPackage[]> }
  | { kind: 'rpm-unsupported'; what: string }
  | { kind: 'go-binary' };

type Fact = { layer: string; osRelease: string } | { layer: string; packages: RawPackage[] } | { layer: string; skipped: string };

const OS_RELEASE = new Set(['etc/os-release', 'usr/lib/os-release']);
const RPM_SQLITE = new Set(['var/lib/rpm/rpmdb.sqlite', 'usr/lib/sysimage/rpm/rpmdb.sqlite']);
const RPM_OTHER = new Map([
  ['var/lib/rpm/Packages.db', 'ndb rpm database'],
  ['usr/lib/sysimage/rpm/Packages.db', 'ndb rpm database'],
]);
/** Executables smaller than this cannot be Go binaries (the runtime alone is over a megabyte). */
const MIN_GO_BINARY = 64 * 1024;

/** Which reader a file of the image needs, or null for the files that are not read at all. */
export function readerFor(entry: LayerEntry): Reader | null {
  const p = entry.path;
  if (OS_RELEASE.has(p)) return { kind: 'os-release' };
  if (p === 'var/lib/dpkg/status' || (p.startsWith('var/lib/dpkg/status.d/') && !p.slice(22).includes('/') && !p.endsWith('.md5sums')))
    return { kind: 'text', parse: parseDpkgStatus };
  if (p === 'lib/apk/db/installed') return { kind: 'text', parse: parseApkInstalled };
  if (RPM_SQLITE.has(p)) return { kind: 'binary', parse: parseRpmSqlite };
  if (p === 'var/lib/rpm/Packages') return { kind: 'binary', parse: parseRpmBerkeleyDb };
  const other = RPM_OTHER.get(p);
  if (other) return { kind: 'rpm-unsupported', what: other };
  const base = p.slice(p.lastIndexOf('/') + 1);
  if (base === 'package-lock.json' && !p.includes('node_modules/')) return { kind: 'text', parse: parsePackageLock };
  if (base === 'package.json' && isNodeModulesPackage(p)) return { kind: 'text', parse: parseNodeModulesPackage };
  const py = pythonReader(p);
  if (py) return { kind: 'text', parse: py };
  if (entry.mode & 0o111 && entry.size >= MIN_GO_BINARY) return { kind: 'go-binary' };
  return null;
}

async function readFact(entry: LayerEntry, body: AsyncIterable<Buffer>, reader: Reader, layer: string, max: number): Promise<Fact | null> {
  if (reader.kind === 'go-binary') {
    const info = await scanGoBinary(body);
    return info ? { layer, packages: goPackages(info) } : null;
  }
  if (reader.kind === 'rpm-unsupported') return { layer, skipped: `${reader.what}: not read (only rpmdb.sqlite is)` };
  if (entry.size > max) return { layer, skipped: `${entry.size} bytes, over maxFileBytes ${max}` };
  const bytes = await readCapped(body, max);
  if (!bytes) return { layer, skipped: `over maxFileBytes ${max}` };
  try {
    if (reader.kind === 'os-release') return { layer, osRelease: bytes.toString('utf8') };
    if (reader.kind === 'binary') return { layer, packages: await reader.parse(bytes) };
    return { layer, packages: reader.parse(bytes.toString('utf8')) };
  } catch (err) {
    return { layer, skipped: `unreadable: ${(err as Error).message}` };
  }
}

/** Removes `path` and everything under it ('' is the root). */
function removeTree(state: Map<string, Fact>, path: string): void {
  const prefix = path ? `${path}/` : '';
  for (const k of state.keys()) if (k === path || k.startsWith(prefix)) state.delete(k);
}

const FAMILY: Record<string, OsFamily | undefined> = { deb: 'deb', apk: 'apk', rpm: 'rpm' };
const ECOSYSTEM: Record<string, string> = { npm: 'npm', pypi: 'PyPI', golang: 'Go' };

export async function analyzeImage(layers: LayerSource[], opts: AnalyzeOptions): Promise<AnalyzeResult> {
  const state = new Map<string, Fact>();
  for (const layer of layers) {
    opts.signal?.throwIfAborted();
    const added = new Map<string, Fact>();
    const removed: string[] = [];
    const opaque: string[] = [];
    const present = new Set<string>();
    await walkLayer(await layer.open(), async (entry, body) => {
      opts.signal?.throwIfAborted();
      if (entry.kind === 'opaque') return void opaque.push(entry.path);
      if (entry.kind === 'whiteout') return void removed.push(entry.path);
      present.add(entry.path);
      if (entry.kind === 'link' && entry.linkname) {
        const target = added.get(entry.linkname);
        if (target) added.set(entry.path, target);
        return;
      }
      if (entry.kind !== 'file') return;
      const reader = readerFor(entry);
      if (!reader) return;
      const fact = await readFact(entry, body, reader, layer.digest, opts.maxFileBytes);
      if (fact) added.set(entry.path, fact);
    });
    // a layer's whiteouts and replacements apply to the layers below it, then its own files land
    for (const dir of opaque) removeTree(state, dir);
    for (const p of removed) removeTree(state, p);
    for (const p of present) state.delete(p);
    for (const [p, f] of added) state.set(p, f);
  }
  return summarize(state);
}

function summarize(state: Map<string, Fact>): AnalyzeResult {
  const osFact = state.get('etc/os-release') ?? state.get('usr/lib/os-release');
  const os: OsRelease | undefined = osFact && 'osRelease' in osFact ? (parseOsRelease(osFact.osRelease) ?? undefined) : undefined;
  const packages: Package[] = [];
  const skipped: AnalyzeResult['skipped'] = [];
  const seen = new Set<string>();
  for (const path of [...state.keys()].sort()) {
    const fact = state.get(path)!;
    if ('skipped' in fact) {
      skipped.push({ path, layer: fact.layer, reason: fact.skipped });
      continue;
    }
    if (!('packages' in fact)) continue;
    for (const raw of fact.packages) {
      const family = FAMILY[raw.type];
      const ecosystem = family ? osEcosystem(family, os) : ECOSYSTEM[raw.type];
      // one package per (ecosystem, name, version): a lock file and node_modules name the same install
      const key = `${ecosystem}\0${raw.type === 'pypi' ? normalizePypiName(raw.name) : raw.name}\0${raw.version}`;
      if (seen.has(key)) continue;
      seen.add(key);
      packages.push({
        ecosystem,
        name: raw.name,
        version: raw.version,
        purl: purlOf(raw, os),
        source: path,
        layer: fact.layer,
        ...(raw.sourceName ? { sourceName: raw.sourceName } : {}),
        ...(raw.sourceVersion ? { sourceVersion: raw.sourceVersion } : {}),
        ...(raw.arch ? { arch: raw.arch } : {}),
        ...(raw.license ? { license: raw.license } : {}),
      });
    }
  }
  return { ...(os ? { os: { id: os.id, version: os.version, ...(os.name ? { name: os.name } : {}) } } : {}), packages, skipped };
}
