// The advisory database: OSV records (https://ossf.github.io/osv-schema/) loaded from JSON files or OSV's
// per-ecosystem zip exports, indexed by (ecosystem, package name), and matched against installed packages
// with each ecosystem's version ordering.
import { createHash } from 'node:crypto';
import { Unzip, UnzipInflate } from 'fflate';
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
  upstream?: string[];
  summary?: string;
  details?: string;
  withdrawn?: string;
  severity?: OsvSeverity[];
  affected?: OsvAffected[];
  database_specific?: Record<string, unknown>;
}

/** What matching needs of one affected entry: the record's bulk (details, references, credits) is dropped. */
interface Entry {
  id: string;
  aliases: string[];
  summary: string;
  ecosystem: string;
  ranges: { type?: string; events?: OsvEvent[] }[];
  versions: string[];
  severities: OsvSeverity[];
  words: unknown[];
  /** Ids whose records may rate this one when it carries no severity (aliases, upstream CVEs). */
  related: string[];
}

type Rating = Pick<Entry, 'severities' | 'words'>;

/** An OSV record is a few KiB; a zip entry inflating past this is not one (or is a zip bomb). */
const MAX_RECORD_BYTES = 32 * 1024 * 1024;
const ZIP_END = Buffer.from([0x50, 0x4b, 0x05, 0x06]);

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

function affects(version: string, a: Pick<Entry, 'ranges' | 'versions'>, ecosystem: string): { affected: boolean; fixed?: string } {
  const bare = (v: string) => (ecosystemBase(ecosystem) === 'Go' ? v.replace(/^v/, '') : v);
  let fixed: string | undefined;
  let affected = a.versions.some((v) => typeof v === 'string' && bare(v) === bare(version));
  for (const r of a.ranges) {
    if (!r || typeof r !== 'object') continue;
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
    private readonly ratings: Map<string, Rating>,
  ) {}

  /** The entry's own severity, else that of a related record (Debian's and Alpine's records carry none; the CVE's does). */
  private rate(e: Entry): { severity: Severity; score?: number } {
    let r = this.rated.get(e);
    if (!r) {
      r = this.rateUncached(e);
      this.rated.set(e, r);
    }
    return r;
  }

  /** Computed once per entry: CVSS scoring is the costly part of matching. */
  private readonly rated = new WeakMap<Entry, { severity: Severity; score?: number }>();

  private rateUncached(e: Entry): { severity: Severity; score?: number } {
    const own = severityOf(e.severities, e.words);
    if (own.severity !== 'unknown') return own;
    for (const id of e.related) {
      const r = this.ratings.get(id);
      const sev = r && severityOf(r.severities, r.words);
      if (sev && sev.severity !== 'unknown') return sev;
    }
    return own;
  }

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
          if (seen.has(e.id) || !ecosystemApplies(e.ecosystem, pkg.ecosystem)) continue;
          const hit = affects(version, e, pkg.ecosystem);
          if (!hit.affected) continue;
          seen.add(e.id);
          const sev = this.rate(e);
          found.push({
            id: e.id,
            aliases: [...e.aliases],
            package: pkg.name,
            ecosystem: pkg.ecosystem,
            installed: pkg.version,
            ...(hit.fixed ? { fixed: hit.fixed } : {}),
            severity: sev.severity,
            ...(sev.score !== undefined ? { score: sev.score } : {}),
            summary: e.summary,
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

function parseJson(path: string, bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    throw new OsvLoadError(`${path}: not JSON (${(err as Error).message})`);
  }
}

const isList = <T>(x: unknown): x is T[] => Array.isArray(x);

class Builder {
  readonly index = new Map<string, Entry[]>();
  readonly ratings = new Map<string, Rating>();
  size = 0;

  /** One file: an OSV record, or an array of them (as some exports and API answers are). */
  addFile(path: string, bytes: Uint8Array): void {
    const doc = parseJson(path, bytes);
    for (const rec of Array.isArray(doc) ? doc : [doc]) this.addRecord(path, rec);
  }

  private addRecord(path: string, raw: unknown): void {
    const rec = raw as OsvRecord;
    if (!rec || typeof rec !== 'object' || typeof rec.id !== 'string') throw new OsvLoadError(`${path}: not an OSV record (no id)`);
    if (rec.withdrawn) return;
    this.size++;
    const aliases = isList<unknown>(rec.aliases) ? rec.aliases.filter((a): a is string => typeof a === 'string') : [];
    const summary = typeof rec.summary === 'string' ? rec.summary : typeof rec.details === 'string' ? rec.details.split('\n')[0].slice(0, 300) : '';
    const recordSeverity = isList<OsvSeverity>(rec.severity) ? rec.severity : [];
    const upstream = isList<unknown>(rec.upstream) ? rec.upstream.filter((a): a is string => typeof a === 'string') : [];
    if (recordSeverity.length || rec.database_specific?.severity !== undefined) {
      this.ratings.set(rec.id, { severities: recordSeverity, words: [rec.database_specific?.severity] });
    }
    for (const a of isList<OsvAffected>(rec.affected) ? rec.affected : []) {
      const eco = a?.package?.ecosystem;
      const name = a?.package?.name;
      if (typeof eco !== 'string' || typeof name !== 'string') continue;
      const base = ecosystemBase(eco);
      const key = `${base}\0${keyName(base, name)}`;
      const list = this.index.get(key) ?? [];
      list.push({
        id: rec.id,
        aliases,
        summary,
        ecosystem: eco,
        ranges: isList<{ type?: string; events?: OsvEvent[] }>(a.ranges) ? a.ranges : [],
        versions: isList<string>(a.versions) ? a.versions : [],
        severities: [...(isList<OsvSeverity>(a.severity) ? a.severity : []), ...recordSeverity],
        words: [a.ecosystem_specific?.severity, a.database_specific?.severity, rec.database_specific?.severity],
        related: [...upstream, ...aliases],
      });
      this.index.set(key, list);
    }
  }

  /** A zip (OSV's per-ecosystem all.zip): entries are inflated and parsed one at a time. */
  addZip(path: string, bytes: Uint8Array): void {
    // the streaming reader skips what it does not recognise: a truncated or foreign file must fail here
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const end = buf.length >= 22 ? buf.lastIndexOf(ZIP_END, buf.length - 22) : -1;
    if (end < 0 || end < buf.length - 22 - 0xffff) throw new OsvLoadError(`${path}: not a zip archive (no end of central directory)`);
    const failures: Error[] = [];
    const unzip = new Unzip((file) => {
      if (!file.name.toLowerCase().endsWith('.json')) return;
      const chunks: Uint8Array[] = [];
      let size = 0;
      file.ondata = (err, data, final) => {
        if (err) return void failures.push(new OsvLoadError(`${path}!${file.name}: ${err.message}`));
        size += data.length;
        if (size > MAX_RECORD_BYTES) {
          chunks.length = 0;
          file.terminate();
          return void failures.push(new OsvLoadError(`${path}!${file.name}: inflates past ${MAX_RECORD_BYTES} bytes`));
        }
        chunks.push(data);
        if (!final) return;
        try {
          this.addFile(`${path}!${file.name}`, Buffer.concat(chunks));
        } catch (e) {
          failures.push(e as Error);
        }
      };
      file.start();
    });
    unzip.register(UnzipInflate);
    try {
      unzip.push(bytes, true);
    } catch (err) {
      throw new OsvLoadError(`${path}: not a zip archive (${(err as Error).message})`);
    }
    if (failures.length) throw failures[0];
  }
}

/**
 * Loads OSV records: `.json` files (a record or an array of records) and `.zip` files (OSV's
 * per-ecosystem exports). Other files are ignored; a file that is not valid JSON fails the load, naming it.
 */
export async function loadOsv(entries: AsyncIterable<{ path: string; bytes: Buffer }>): Promise<AdvisoryDb> {
  const b = new Builder();
  const digests: string[] = [];
  for await (const { path, bytes } of entries) {
    const lower = path.toLowerCase();
    if (!lower.endsWith('.json') && !lower.endsWith('.zip')) continue;
    digests.push(`${path}\0${createHash('sha256').update(bytes).digest('hex')}`);
    if (lower.endsWith('.json')) b.addFile(path, bytes);
    else b.addZip(path, bytes);
  }
  const hash = createHash('sha256');
  for (const d of digests.sort()) hash.update(`${d}\n`);
  return new OsvDb(`sha256:${hash.digest('hex')}`, b.size, b.index, b.ratings);
}
