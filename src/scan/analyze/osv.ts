// The advisory database: OSV records (https://ossf.github.io/osv-schema/) loaded from JSON files or OSV's
// per-ecosystem zip exports, indexed by (ecosystem, package name), and matched against installed packages
// with each ecosystem's version ordering.
import { createHash } from 'node:crypto';
import { unzipSync } from 'fflate';
import { type OsvSeverity, severityOf } from './severity.js';
import type { AdvisoryDb, Finding, Package, Severity } from './types.js';
import { type Compare, comparatorFor, compareSemver, ecosystemBase } from './versions/index.js';
import { normalizePypiName } from './versions/pep440.js';

export class OsvLoadError extends Error {}

interface OsvEvent {
  introduced?: string;
  fixed?: string;
  last_affected?: string;
  limit?: string;
}

interface OsvAffected {
  package?: { ecosystem?: string; name?: string; purl?: string };
  ranges?: { type?: string; events?: OsvEvent[] }[];
  versions?: string[];
  severity?: OsvSeverity[];
  ecosystem_specific?: Record<string, unknown>;
  database_specific?: Record<string, unknown>;
}

interface OsvRecord {
  id: string;
  aliases?: string[];
  summary?: string;
  details?: string;
  withdrawn?: string;
  severity?: OsvSeverity[];
  affected?: OsvAffected[];
  database_specific?: Record<string, unknown>;
}

interface Entry {
  record: OsvRecord;
  affected: OsvAffected;
  ecosystem: string;
}

const SEVERITY_RANK: Record<Severity, number> = { critical: 4, high: 3, medium: 2, low: 1, unknown: 0 };

function keyName(base: string, name: string): string {
  return base === 'PyPI' ? normalizePypiName(name) : name;
}

/** Does an advisory for `advisory` (e.g. `Debian:12`, `Ubuntu:22.04:LTS`) apply to a package of `pkg`? */
export function ecosystemApplies(advisory: string, pkg: string): boolean {
  const aBase = ecosystemBase(advisory);
  if (aBase !== ecosystemBase(pkg)) return false;
  const aRel = advisory.slice(aBase.length + 1);
  const pRel = pkg.slice(aBase.length + 1);
  if (!aRel) return true;
  // a release-specific advisory needs the image's release: never guess across releases
  if (!pRel) return false;
  if (aRel === pRel || aRel.startsWith(`${pRel}:`)) return true;
  // Red Hat's ecosystems name products: "Red Hat:enterprise_linux:9::appstream"
  return aBase === 'Red Hat' && aRel.split(':').includes(pRel);
}

/** Is `version` inside one OSV range? Returns the fix that ends the affected span, if any. */
function inRange(version: string, events: OsvEvent[], compare: Compare): { affected: boolean; fixed?: string } {
  const point = (e: OsvEvent) => e.introduced ?? e.fixed ?? e.last_affected ?? e.limit ?? '0';
  const sorted = events
    .filter((e) => point(e) !== undefined)
    .slice()
    .sort((a, b) => {
      const pa = point(a);
      const pb = point(b);
      if (pa === '0' && a.introduced !== undefined) return -1;
      if (pb === '0' && b.introduced !== undefined) return 1;
      return compare(pa, pb);
    });
  let affected = false;
  for (const e of sorted) {
    if (e.introduced !== undefined) {
      if (e.introduced === '0' || compare(version, e.introduced) >= 0) affected = true;
    } else if (e.fixed !== undefined) {
      if (compare(version, e.fixed) >= 0) affected = false;
    } else if (e.last_affected !== undefined) {
      if (compare(version, e.last_affected) > 0) affected = false;
    }
  }
  if (!affected) return { affected };
  const fixes = sorted.filter((e) => e.fixed !== undefined && compare(version, e.fixed) < 0).map((e) => e.fixed!);
  return { affected, fixed: fixes[0] };
}

function affects(version: string, a: OsvAffected, ecosystem: string): { affected: boolean; fixed?: string } {
  const bare = (v: string) => (ecosystemBase(ecosystem) === 'Go' ? v.replace(/^v/, '') : v);
  let fixed: string | undefined;
  let affected = (a.versions ?? []).some((v) => bare(v) === bare(version));
  for (const r of a.ranges ?? []) {
    const compare = r.type === 'SEMVER' ? compareSemver : r.type === 'ECOSYSTEM' ? comparatorFor(ecosystem) : null;
    if (!compare || !Array.isArray(r.events)) continue;
    try {
      const hit = inRange(version, r.events, compare);
      if (hit.affected) {
        affected = true;
        if (hit.fixed && (!fixed || compare(hit.fixed, fixed) < 0)) fixed = hit.fixed;
      }
    } catch {
      // a version this ecosystem's ordering cannot read: no verdict from this range
    }
  }
  return { affected, fixed };
}

class OsvDb implements AdvisoryDb {
  constructor(
    readonly version: string,
    readonly size: number,
    private readonly index: Map<string, Entry[]>,
  ) {}

  match(pkgs: Package[]): Finding[] {
    const out: Finding[] = [];
    for (const pkg of pkgs) {
      const base = ecosystemBase(pkg.ecosystem);
      const found: Finding[] = [];
      // OS advisories are written against source packages; language ones against the package itself
      const candidates: [string, string][] = [[pkg.name, pkg.version]];
      if (pkg.sourceName && pkg.sourceName !== pkg.name) candidates.unshift([pkg.sourceName, pkg.sourceVersion ?? pkg.version]);
      else if (pkg.sourceName && pkg.sourceVersion) candidates[0] = [pkg.name, pkg.sourceVersion];
      const seen = new Set<string>();
      for (const [name, version] of candidates) {
        for (const e of this.index.get(`${base}\0${keyName(base, name)}`) ?? []) {
          if (seen.has(e.record.id) || !ecosystemApplies(e.ecosystem, pkg.ecosystem)) continue;
          const hit = affects(version, e.affected, pkg.ecosystem);
          if (!hit.affected) continue;
          seen.add(e.record.id);
          const words = [e.affected.ecosystem_specific?.severity, e.affected.database_specific?.severity, e.record.database_specific?.severity];
          const sev = severityOf([...(e.affected.severity ?? []), ...(e.record.severity ?? [])], words);
          found.push({
            id: e.record.id,
            aliases: [...(e.record.aliases ?? [])],
            package: pkg.name,
            ecosystem: pkg.ecosystem,
            installed: pkg.version,
            ...(hit.fixed ? { fixed: hit.fixed } : {}),
            severity: sev.severity,
            ...(sev.score !== undefined ? { score: sev.score } : {}),
            summary: e.record.summary ?? e.record.details?.split('\n')[0]?.slice(0, 300) ?? '',
            purl: pkg.purl,
            source: pkg.source,
          });
        }
      }
      out.push(...mergeAliases(found));
    }
    return out;
  }
}

/** One finding per vulnerability: records that alias each other (a GHSA and its CVE, a DSA and its CVE) merge. */
function mergeAliases(found: Finding[]): Finding[] {
  const groups: Finding[] = [];
  for (const f of found) {
    const ids = new Set([f.id, ...f.aliases]);
    const g = groups.find((x) => ids.has(x.id) || x.aliases.some((a) => ids.has(a)));
    if (!g) {
      groups.push(f);
      continue;
    }
    for (const a of [f.id, ...f.aliases]) if (a !== g.id && !g.aliases.includes(a)) g.aliases.push(a);
    if ((f.score ?? -1) > (g.score ?? -1) || SEVERITY_RANK[f.severity] > SEVERITY_RANK[g.severity]) {
      g.severity = f.severity;
      g.score = f.score;
    }
    if (!g.fixed && f.fixed) g.fixed = f.fixed;
  }
  return groups;
}

function parseRecord(path: string, bytes: Uint8Array): OsvRecord {
  let rec: unknown;
  try {
    rec = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    throw new OsvLoadError(`${path}: not JSON (${(err as Error).message})`);
  }
  if (!rec || typeof rec !== 'object' || typeof (rec as OsvRecord).id !== 'string') throw new OsvLoadError(`${path}: not an OSV record (no id)`);
  return rec as OsvRecord;
}

/**
 * Loads OSV records: `.json` files (one record each) and `.zip` files (OSV's per-ecosystem exports).
 * Other files are ignored; a file that is not valid JSON fails the load, naming it.
 */
export async function loadOsv(entries: AsyncIterable<{ path: string; bytes: Buffer }>): Promise<AdvisoryDb> {
  const index = new Map<string, Entry[]>();
  const digests: string[] = [];
  let size = 0;
  const add = (path: string, bytes: Uint8Array) => {
    const rec = parseRecord(path, bytes);
    if (rec.withdrawn) return;
    size++;
    for (const a of Array.isArray(rec.affected) ? rec.affected : []) {
      const eco = a?.package?.ecosystem;
      const name = a?.package?.name;
      if (typeof eco !== 'string' || typeof name !== 'string') continue;
      const base = ecosystemBase(eco);
      const key = `${base}\0${keyName(base, name)}`;
      const list = index.get(key) ?? [];
      list.push({ record: rec, affected: a, ecosystem: eco });
      index.set(key, list);
    }
  };
  for await (const { path, bytes } of entries) {
    const lower = path.toLowerCase();
    if (!lower.endsWith('.json') && !lower.endsWith('.zip')) continue;
    digests.push(`${path}\0${createHash('sha256').update(bytes).digest('hex')}`);
    if (lower.endsWith('.json')) {
      add(path, bytes);
      continue;
    }
    let files: Record<string, Uint8Array>;
    try {
      files = unzipSync(bytes, { filter: (f) => f.name.toLowerCase().endsWith('.json') });
    } catch (err) {
      throw new OsvLoadError(`${path}: not a zip archive (${(err as Error).message})`);
    }
    for (const name of Object.keys(files).sort()) add(`${path}!${name}`, files[name]);
  }
  const hash = createHash('sha256');
  for (const d of digests.sort()) hash.update(`${d}\n`);
  return new OsvDb(`sha256:${hash.digest('hex')}`, size, index);
}
