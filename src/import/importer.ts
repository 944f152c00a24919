// `berth import`: brings a registry:2 storage root into Berth, one repository at a time — its blobs
// (verified as they stream), its manifests (children before the indexes that list them), then its
// tags, each tag's earlier digests first so the tag history holds them. Everything already in Berth
// is left as it is, so a second run, or a run after an interruption, changes only what is missing.
// What cannot be imported (corrupt or missing bytes, and what depends on them) is reported.
import { forEachConcurrently } from '../gc/concurrency.js';
import { RegistryError } from '../errors/catalog.js';
import { digestOf, parseDigest } from '../oci/digest.js';
import { parseManifest, type ParsedManifest } from '../oci/manifest.js';
import { addObject, blobDataKey, emptyModel, parseLink, type SourceModel, type SourceRepository, tagSequence, V2_ROOT } from './registry-v2.js';
import type { ImportSource } from './source.js';
import type { ImportTarget, TransferMode } from './target.js';

export interface ImportReport {
  source: string;
  dryRun: boolean;
  mode: TransferMode;
  repositories: { found: number; created: number };
  tags: { found: number; imported: number; unchanged: number; skipped: number; conflicts: number };
  /** Earlier digests of tags written to the tag history before each tag's current one. */
  history: { entries: number };
  manifests: { found: number; imported: number; unchanged: number; skipped: number };
  /** Distinct blobs (configs and layers; manifests are counted above) the repositories link, and their bytes. */
  blobs: { found: number; bytes: number; imported: number; importedBytes: number; linked: number; unchanged: number };
  corrupt: { digest: string; size: number; repositories: string[]; dependents: string[] }[];
  dangling: { kind: 'layer' | 'manifest' | 'tag'; repository: string; digest?: string; tag?: string }[];
  skipped: { repository: string; what: string; reason: string }[];
  conflicts: { repository: string; tag: string; berth: string; source: string }[];
  failures: { repository: string; what: string; error: string }[];
  /** Blob files no repository links (registry:2 leaves them until its garbage collection): not imported. */
  unreferenced: { blobs: number; bytes: number };
  staleUploads: { repository: string; id: string }[];
  seconds: number;
}

export interface ImportProgress {
  repositories: number;
  totalRepositories: number;
  bytes: number;
  totalBytes: number;
  repository: string;
}

export interface ImportOptions {
  dryRun: boolean;
  mode: TransferMode;
  /** Blobs brought in at once (default 4). */
  concurrency?: number;
  onProgress?: (p: ImportProgress) => void;
  /** One line per repository when done with it (no terminal). */
  onRepository?: (line: string) => void;
}

interface Doc {
  mediaType: string;
  body: Buffer;
  parsed: ParsedManifest;
}

export class Importer {
  private readonly report: ImportReport;
  private readonly verdicts = new Map<string, 'ok' | 'corrupt' | 'missing'>();
  private readonly corrupt = new Map<string, { size: number; repositories: Set<string>; dependents: string[] }>();
  private readonly referenced = new Set<string>();
  private progress = { repositories: 0, totalRepositories: 0, bytes: 0, totalBytes: 0, repository: '' };

  constructor(
    private readonly source: ImportSource,
    private readonly target: ImportTarget,
    private readonly opts: ImportOptions,
  ) {
    this.report = {
      source: source.description,
      dryRun: opts.dryRun,
      mode: opts.mode,
      repositories: { found: 0, created: 0 },
      tags: { found: 0, imported: 0, unchanged: 0, skipped: 0, conflicts: 0 },
      history: { entries: 0 },
      manifests: { found: 0, imported: 0, unchanged: 0, skipped: 0 },
      blobs: { found: 0, bytes: 0, imported: 0, importedBytes: 0, linked: 0, unchanged: 0 },
      corrupt: [],
      dangling: [],
      skipped: [],
      conflicts: [],
      failures: [],
      unreferenced: { blobs: 0, bytes: 0 },
      staleUploads: [],
      seconds: 0,
    };
  }

  async run(): Promise<ImportReport> {
    const started = Date.now();
    const model = emptyModel();
    for await (const o of this.source.list(V2_ROOT)) addObject(model, o);
    const names = [...model.repositories.keys()].sort();
    const linkedBlobs = new Set<string>();
    for (const r of model.repositories.values()) for (const d of r.layers) if (model.blobs.has(d)) linkedBlobs.add(d);
    this.progress.totalRepositories = names.length;
    this.progress.totalBytes = [...linkedBlobs].reduce((a, d) => a + (model.blobs.get(d) ?? 0), 0);
    const blobsSeen = new Set<string>();
    for (const name of names) {
      const repo = model.repositories.get(name)!;
      this.progress.repository = name;
      this.tick();
      // A repository of only abandoned uploads is not one.
      if (repo.manifests.size > 0 || repo.layers.size > 0 || repo.tags.size > 0) await this.repository(model, repo, blobsSeen);
      for (const id of repo.uploads) this.report.staleUploads.push({ repository: name, id });
      this.progress.repositories++;
      this.tick();
    }
    for (const [digest, size] of model.blobs) {
      if (this.referenced.has(digest)) continue;
      this.report.unreferenced.blobs++;
      this.report.unreferenced.bytes += size;
    }
    this.report.corrupt = [...this.corrupt].map(([digest, c]) => ({ digest, size: c.size, repositories: [...c.repositories], dependents: c.dependents }));
    this.report.seconds = (Date.now() - started) / 1000;
    return this.report;
  }

  private tick(): void {
    this.opts.onProgress?.({ ...this.progress });
  }

  private async repository(model: SourceModel, repo: SourceRepository, blobsSeen: Set<string>): Promise<void> {
    const name = repo.name;
    const r = this.report;
    const before = { ...r.blobs, m: r.manifests.imported, t: r.tags.imported };
    r.repositories.found++;
    if (!(await this.target.repositoryExists(name))) r.repositories.created++;

    // Manifests first read (small): which blobs they need, and which are corrupt.
    const docs = new Map<string, Doc>();
    /** Manifests that cannot be imported, with the blob or manifest that is the cause. */
    const blocked = new Map<string, { reason: string; cause: string | null }>();
    for (const digest of repo.manifests) {
      this.referenced.add(digest);
      r.manifests.found++;
      const doc = await this.readManifest(model, name, digest);
      if ('doc' in doc) docs.set(digest, doc.doc);
      else blocked.set(digest, { reason: doc.reason, cause: doc.corrupt ? digest : null });
    }

    // Blobs: the layer links, plus any blob a manifest needs that the source holds.
    const wanted = new Set<string>();
    for (const d of repo.layers) {
      this.referenced.add(d);
      // A blob an earlier `--move` run took out of the source is in Berth already.
      if (model.blobs.has(d) || (await this.target.blobState(name, d)) !== 'absent') wanted.add(d);
      else r.dangling.push({ kind: 'layer', repository: name, digest: d });
    }
    for (const doc of docs.values())
      for (const b of doc.parsed.blobs)
        if (model.blobs.has(b.digest)) {
          this.referenced.add(b.digest);
          wanted.add(b.digest);
        }
    for (const d of wanted) {
      if (blobsSeen.has(d)) continue;
      blobsSeen.add(d);
      r.blobs.found++;
      r.blobs.bytes += model.blobs.get(d) ?? 0;
    }
    const available = new Set<string>();
    const unavailable = new Map<string, string>();
    await forEachConcurrently([...wanted], this.opts.concurrency ?? 4, async (d) => {
      const outcome = await this.blob(name, d, model.blobs.get(d) ?? 0);
      if (outcome === 'ok') available.add(d);
      else unavailable.set(d, outcome);
    });

    // Tags' current digests (link files), read before the manifests: a tag that is new to Berth and never
    // pointed elsewhere is written with its manifest's push, in the same transaction.
    const tags = new Map<string, string | null>();
    for (const [tag, t] of [...repo.tags].sort(([x], [y]) => x.localeCompare(y))) {
      const link = t.currentKey ? await this.source.readSmall(t.currentKey) : null;
      tags.set(tag, link ? parseLink(link) : null);
    }
    const withPush = new Map<string, string[]>();
    for (const [tag, current] of tags) {
      if (!current || !docs.has(current) || tagSequence(repo.tags.get(tag)!, current).some((d) => d !== current && docs.has(d))) continue;
      withPush.set(current, [...(withPush.get(current) ?? []), tag]);
    }
    const pushedTags = new Set<string>();

    // Manifests: children before the indexes that list them, a wave at a time.
    const ready = new Set<string>();
    const pending = new Map(docs);
    for (;;) {
      const wave: [string, Doc][] = [];
      let decided = false;
      for (const [digest, doc] of pending) {
        const verdict = await this.manifestVerdict(name, doc, available, unavailable, ready, blocked, pending);
        if (verdict === 'wait') continue;
        decided = true;
        if (verdict === 'ok') wave.push([digest, doc]);
        else blocked.set(digest, verdict);
      }
      for (const [digest] of wave) pending.delete(digest);
      for (const digest of blocked.keys()) pending.delete(digest);
      if (!decided) break;
      await forEachConcurrently(wave, this.opts.concurrency ?? 4, async ([digest, doc]) => {
        if (await this.target.hasManifest(name, digest)) {
          r.manifests.unchanged++;
          ready.add(digest);
          return;
        }
        try {
          const attach: string[] = [];
          for (const tag of withPush.get(digest) ?? []) if ((await this.target.tagDigest(name, tag)) === null) attach.push(tag);
          await this.target.putManifest(name, digest, doc.mediaType, doc.body, attach);
          for (const tag of attach) pushedTags.add(tag);
          r.manifests.imported++;
          ready.add(digest);
        } catch (err) {
          blocked.set(digest, { reason: `refused: ${problemText(err)}`, cause: null });
          this.fail(name, `manifest ${digest}`, err);
        }
      });
    }
    for (const digest of pending.keys()) blocked.set(digest, { reason: 'its index children form a cycle', cause: null });
    for (const [digest, b] of blocked) {
      if (!repo.manifests.has(digest)) continue;
      r.manifests.skipped++;
      r.skipped.push({ repository: name, what: `manifest ${digest}`, reason: b.reason });
      if (b.cause) this.corrupt.get(b.cause)?.dependents.push(`${name}@${digest}`);
    }

    // The other tags: each tag's earlier digests first (they seed the tag history), then the current one.
    for (const [tag, current] of tags) {
      r.tags.found++;
      if (pushedTags.has(tag)) {
        r.tags.imported++;
        continue;
      }
      if (!current) {
        r.tags.skipped++;
        r.dangling.push({ kind: 'tag', repository: name, tag });
        continue;
      }
      if (!ready.has(current)) {
        r.tags.skipped++;
        const b = blocked.get(current);
        if (!b && !repo.manifests.has(current)) r.dangling.push({ kind: 'tag', repository: name, tag, digest: current });
        r.skipped.push({
          repository: name,
          what: `tag ${tag}`,
          reason: b ? `its manifest ${current} is skipped (${b.reason})` : `its manifest ${current} is not in the source`,
        });
        if (b?.cause) this.corrupt.get(b.cause)?.dependents.push(`${name}:${tag}`);
        continue;
      }
      try {
        await this.tag(
          name,
          tag,
          tagSequence(repo.tags.get(tag)!, current).filter((d) => ready.has(d)),
          docs,
        );
      } catch (err) {
        r.tags.skipped++;
        this.fail(name, `tag ${tag}`, err);
      }
    }
    const newBlobs = r.blobs.imported - before.imported;
    const links = r.blobs.linked - before.linked;
    const moved = { copy: 'copied', link: 'hard-linked', move: 'moved' }[this.opts.mode];
    this.opts.onRepository?.(
      `${name}: ${wanted.size} blobs (${newBlobs} ${this.opts.dryRun ? 'to import' : moved}, ${links} ${this.opts.dryRun ? 'to link' : 'linked'}), ` +
        `${repo.manifests.size} manifests (${r.manifests.imported - before.m} new), ${repo.tags.size} tags (${r.tags.imported - before.t} new)`,
    );
  }

  private async readManifest(model: SourceModel, name: string, digest: string): Promise<{ doc: Doc } | { reason: string; corrupt?: boolean }> {
    const r = this.report;
    const body = model.blobs.has(digest) ? await this.source.readSmall(blobDataKey(digest)) : null;
    if (!body) {
      r.dangling.push({ kind: 'manifest', repository: name, digest });
      return { reason: 'its bytes are not in the source' };
    }
    if (digestOf(body, parseDigest(digest).algorithm) !== digest) {
      this.noteCorrupt(digest, body.length, name);
      return { reason: 'its bytes do not match its digest', corrupt: true };
    }
    try {
      const parsed = parseManifest(body, undefined);
      return { doc: { mediaType: parsed.mediaType, body, parsed } };
    } catch (err) {
      return { reason: `not a manifest Berth stores: ${(err as Error).message}` };
    }
  }

  private async manifestVerdict(
    name: string,
    doc: Doc,
    available: Set<string>,
    unavailable: Map<string, string>,
    ready: Set<string>,
    blocked: Map<string, { reason: string; cause: string | null }>,
    pending: Map<string, Doc>,
  ): Promise<'ok' | 'wait' | { reason: string; cause: string | null }> {
    for (const b of doc.parsed.blobs) {
      if (available.has(b.digest)) continue;
      const why = unavailable.get(b.digest);
      if (why === 'corrupt') return { reason: `its blob ${b.digest} is corrupt`, cause: b.digest };
      return { reason: `its blob ${b.digest} is ${why === 'missing' ? 'missing from the source' : 'not in the source'}`, cause: null };
    }
    for (const m of doc.parsed.manifests) {
      if (ready.has(m.digest)) continue;
      if (pending.has(m.digest)) return 'wait';
      const b = blocked.get(m.digest);
      if (b) return { reason: `its manifest ${m.digest} is skipped (${b.reason})`, cause: b.cause };
      if (await this.target.hasManifest(name, m.digest)) continue;
      return { reason: `its manifest ${m.digest} is not in the source repository`, cause: null };
    }
    return 'ok';
  }

  /** One blob for one repository: 'ok' when the repository can read it in Berth afterwards. */
  private async blob(name: string, digest: string, size: number): Promise<'ok' | 'corrupt' | 'missing'> {
    const r = this.report;
    const known = this.verdicts.get(digest);
    if (known === 'corrupt') this.noteCorrupt(digest, size, name);
    if (known && known !== 'ok') return known;
    try {
      const state = await this.target.blobState(name, digest);
      if (state === 'linked') {
        r.blobs.unchanged++;
        return 'ok';
      }
      if (state === 'stored' && (await this.target.linkBlob(name, digest, size))) {
        r.blobs.linked++;
        return 'ok';
      }
      const key = blobDataKey(digest);
      const outcome = await this.target.addBlob(name, {
        digest,
        size,
        open: () => this.source.read(key),
        localPath: this.source.localPath?.(key),
      });
      this.verdicts.set(digest, outcome);
      if (outcome === 'ok') {
        r.blobs.imported++;
        r.blobs.importedBytes += size;
        this.progress.bytes += size;
        this.tick();
      } else if (outcome === 'corrupt') this.noteCorrupt(digest, size, name);
      else r.dangling.push({ kind: 'layer', repository: name, digest });
      return outcome;
    } catch (err) {
      this.fail(name, `blob ${digest}`, err);
      return 'missing';
    }
  }

  private async tag(name: string, tag: string, sequence: string[], docs: Map<string, Doc>): Promise<void> {
    const r = this.report;
    const current = sequence[sequence.length - 1];
    const have = await this.target.tagDigest(name, tag);
    if (have === current) {
      r.tags.unchanged++;
      return;
    }
    let start = 0;
    if (have !== null) {
      // Someone else moved it in Berth: theirs stands. A tag only imports moved is the import's to finish.
      if (!(await this.target.tagOwnedByImport(name, tag))) {
        r.tags.conflicts++;
        r.conflicts.push({ repository: name, tag, berth: have, source: current });
        return;
      }
      const at = sequence.lastIndexOf(have);
      start = at === -1 ? sequence.length - 1 : at + 1;
    }
    for (const digest of sequence.slice(start)) {
      const doc = docs.get(digest);
      if (!doc) continue;
      await this.target.setTag(name, tag, doc.mediaType, doc.body);
      if (digest !== current) r.history.entries++;
    }
    r.tags.imported++;
  }

  private noteCorrupt(digest: string, size: number, repository: string): void {
    let c = this.corrupt.get(digest);
    if (!c) {
      c = { size, repositories: new Set(), dependents: [] };
      this.corrupt.set(digest, c);
    }
    c.repositories.add(repository);
  }

  /** A refusal (quota, immutable tag, a manifest Berth does not accept) is reported; anything else stops the run. */
  private fail(repository: string, what: string, err: unknown): void {
    if (!(err instanceof RegistryError) || err.status >= 500) throw err;
    this.report.failures.push({ repository, what, error: problemText(err) });
  }
}

function problemText(err: unknown): string {
  return err instanceof RegistryError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
}

/** True when the report shows something that needs an operator's look (the exit status says so). */
export function hasProblems(r: ImportReport): boolean {
  return r.corrupt.length + r.dangling.length + r.skipped.length + r.conflicts.length + r.failures.length > 0;
}

/** True when the run changed (or, dry, would change) something in Berth. */
export function changedAnything(r: ImportReport): boolean {
  return r.blobs.imported + r.blobs.linked + r.manifests.imported + r.tags.imported + r.repositories.created > 0;
}
