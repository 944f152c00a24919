// What one run of a retention policy deletes in one repository: a pure function of the facts
// (tags with push times, manifests with pull and untagged times, children, subjects, the
// namespace's immutable-tag rules, the time). No I/O: the runner gathers and applies.
//
// 1. A tag any covering rule selects is kept when any selecting rule keeps it (keep wins);
//    otherwise deleted, unless an immutable-tag rule protects it or it is a cosign-style
//    signature tag (sha256-<hex>.sig|.att|.sbom) whose subject stays in the repository.
// 2. With `untagged` on a covering rule (the shortest applies), manifests left without a tag
//    that have been untagged that long go, except what a staying manifest keeps: the children
//    of an index and the referrers of a subject (the closure), so an old index and its
//    children go together while a kept image's platforms and signatures stay.
import type { ImmutableTagRule } from '../metadata/immutable-tag-rules.js';
import { immutableBy, repositorySelected, tagSelected } from '../registry/tag-rules.js';
import type { ParsedRule } from './rules.js';

export interface TagFact {
  name: string;
  digest: string;
  /** When the tag was last pushed (tags.updated_at, ms). */
  pushedAt: number;
}

export interface ManifestFact {
  digest: string;
  size: number;
  /** When it lost its last tag (or was pushed without one); null while tagged. */
  untaggedAt: number | null;
  /** When it was last pulled; null = never. */
  pulledAt: number | null;
  /** The manifest it refers to (OCI `subject`), if any. */
  subject: string | null;
  /** The manifests it lists (an index's platforms). */
  children: string[];
}

export interface RepositoryFacts<M extends ManifestFact = ManifestFact> {
  name: string;
  tags: TagFact[];
  manifests: M[];
}

export interface TagDeletion {
  tag: string;
  digest: string;
  pushedAt: number;
  pulledAt: number | null;
}

export interface RepositoryPlan<M extends ManifestFact = ManifestFact> {
  repository: string;
  /** Tags to delete. */
  tags: TagDeletion[];
  /** Manifests to delete, every index before the children it lists and every subject before its referrers. */
  manifests: M[];
  /** Selected tags no rule keeps that an immutable-tag rule protects. */
  protected: { tag: string; rule: string }[];
  /** Selected tags that stay (kept by a rule, immutable, or signatures of a subject that stays). */
  kept: number;
  /** The shortest `untagged` of the covering rules (ms), null when untagged manifests are left alone. */
  untaggedMs: number | null;
}

const SIGNATURE_TAG = /^(sha256|sha512)-([0-9a-f]{64}|[0-9a-f]{128})\.(sig|att|sbom)$/;

/** The subject digest a cosign-style tag names, or null. */
export function signatureSubject(tag: string): string | null {
  const m = SIGNATURE_TAG.exec(tag);
  return m ? `${m[1]}:${m[2]}` : null;
}

const byName = (a: TagFact, b: TagFact) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The tags of `selected` that the rule keeps. */
function keptBy(rule: ParsedRule, selected: TagFact[], pulledAt: (t: TagFact) => number | null, now: number): TagFact[] {
  if (rule.forever) return selected;
  const out = new Set<TagFact>();
  if (rule.latestPushed !== null) {
    const newest = [...selected].sort((a, b) => b.pushedAt - a.pushedAt || byName(a, b));
    for (const t of newest.slice(0, rule.latestPushed)) out.add(t);
  }
  if (rule.latestPulled !== null) {
    // Never pulled ranks below every pull; among equals the newer push wins.
    const newest = [...selected].sort((a, b) => (pulledAt(b) ?? -1) - (pulledAt(a) ?? -1) || b.pushedAt - a.pushedAt || byName(a, b));
    for (const t of newest.slice(0, rule.latestPulled)) out.add(t);
  }
  for (const t of selected) {
    if (rule.pushedWithin !== null && t.pushedAt > now - rule.pushedWithin) out.add(t);
    const p = pulledAt(t);
    if (rule.pulledWithin !== null && p !== null && p > now - rule.pulledWithin) out.add(t);
  }
  return [...out];
}

/** The manifests that go as untagged, given the tags deleted this run. */
function untaggedGone(repo: RepositoryFacts<ManifestFact>, deleted: Set<string>, untaggedMs: number, now: number): Set<string> {
  const hadTag = new Set(repo.tags.map((t) => t.digest));
  const tagged = new Set(repo.tags.filter((t) => !deleted.has(t.name)).map((t) => t.digest));
  // A manifest that loses its last tag in this run counts as untagged from now.
  const since = (m: ManifestFact) => (hadTag.has(m.digest) ? now : (m.untaggedAt ?? now));
  const candidate = (m: ManifestFact) => !tagged.has(m.digest) && since(m) + untaggedMs <= now;

  const byDigest = new Map(repo.manifests.map((m) => [m.digest, m]));
  const referrers = new Map<string, string[]>();
  for (const m of repo.manifests) {
    if (!m.subject) continue;
    const list = referrers.get(m.subject);
    if (list) list.push(m.digest);
    else referrers.set(m.subject, [m.digest]);
  }
  // What stays keeps its children and its referrers, transitively.
  const staying = new Set<string>();
  const queue = repo.manifests.filter((m) => !candidate(m)).map((m) => m.digest);
  while (queue.length > 0) {
    const d = queue.pop()!;
    if (staying.has(d)) continue;
    staying.add(d);
    for (const c of byDigest.get(d)?.children ?? []) if (!staying.has(c)) queue.push(c);
    for (const r of referrers.get(d) ?? []) if (!staying.has(r)) queue.push(r);
  }
  return new Set(repo.manifests.filter((m) => !staying.has(m.digest)).map((m) => m.digest));
}

/**
 * Orders manifests so that what keeps another comes first: an index before the children it
 * lists, a subject before its referrers. Each deletion re-checks in its transaction that nothing
 * keeps the manifest any more, so a keeper that turns out to stay (tagged meanwhile) saves them.
 */
function keepersFirst<M extends ManifestFact>(ms: M[]): M[] {
  const inSet = new Map(ms.map((m) => [m.digest, m]));
  const kept = new Map<string, Set<string>>(ms.map((m) => [m.digest, new Set<string>()]));
  const keepers = new Map<string, number>(ms.map((m) => [m.digest, 0]));
  const edge = (from: string, to: string) => {
    if (from === to || !inSet.has(from) || !inSet.has(to) || kept.get(from)!.has(to)) return;
    kept.get(from)!.add(to);
    keepers.set(to, keepers.get(to)! + 1);
  };
  for (const m of ms) {
    for (const c of m.children) edge(m.digest, c);
    if (m.subject) edge(m.subject, m.digest);
  }
  const ready = ms.filter((m) => keepers.get(m.digest) === 0);
  const out: M[] = [];
  const placed = new Set<M>();
  // `ready` grows while it is read: an index, not shift(), keeps this linear.
  for (let i = 0; i < ready.length; i++) {
    const m = ready[i];
    out.push(m);
    placed.add(m);
    for (const d of kept.get(m.digest)!) {
      const n = keepers.get(d)! - 1;
      keepers.set(d, n);
      if (n === 0) ready.push(inSet.get(d)!);
    }
  }
  // A cycle cannot be pushed (children and subjects exist first); append anything left regardless.
  for (const m of ms) if (!placed.has(m)) out.push(m);
  return out;
}

/** One repository's plan under a policy's rules. */
export function evaluateRepository<M extends ManifestFact>(
  repo: RepositoryFacts<M>,
  rules: ParsedRule[],
  immutable: ImmutableTagRule[],
  now: number,
): RepositoryPlan<M> {
  const covering = rules.filter((r) => repositorySelected(r, repo.name));
  const byDigest = new Map(repo.manifests.map((m) => [m.digest, m]));
  const pulledAt = (t: TagFact) => byDigest.get(t.digest)?.pulledAt ?? null;

  const selected = new Set<string>();
  const kept = new Set<string>();
  for (const rule of covering) {
    const sel = repo.tags.filter((t) => tagSelected(rule, t.name));
    for (const t of sel) selected.add(t.name);
    for (const t of keptBy(rule, sel, pulledAt, now)) kept.add(t.name);
  }
  const protectedTags: { tag: string; rule: string }[] = [];
  const doomed: TagFact[] = [];
  for (const t of [...repo.tags].sort(byName)) {
    if (!selected.has(t.name) || kept.has(t.name)) continue;
    const rule = immutableBy(immutable, repo.name, t.name);
    if (rule) protectedTags.push({ tag: t.name, rule: rule.name });
    else doomed.push(t);
  }

  const withUntagged = covering.map((r) => r.untagged).filter((u): u is number => u !== null);
  const untaggedMs = withUntagged.length > 0 ? Math.min(...withUntagged) : null;
  // Signature tags stay while their subject does; the subject may go as untagged, which may
  // free more signature tags: repeat until nothing changes (the set only grows).
  let gone = new Set<string>();
  for (;;) {
    const deleted = doomed.filter((t) => {
      const s = signatureSubject(t.name);
      return !(s !== null && byDigest.has(s) && !gone.has(s));
    });
    const next = untaggedMs === null ? new Set<string>() : untaggedGone(repo, new Set(deleted.map((t) => t.name)), untaggedMs, now);
    if (next.size === gone.size) {
      return {
        repository: repo.name,
        tags: deleted.map((t) => ({ tag: t.name, digest: t.digest, pushedAt: t.pushedAt, pulledAt: pulledAt(t) })),
        manifests: keepersFirst(repo.manifests.filter((m) => gone.has(m.digest))),
        protected: protectedTags,
        kept: selected.size - deleted.length,
        untaggedMs,
      };
    }
    gone = next;
  }
}
