// Immutable tags: a namespace's rules (metadata/immutable-tag-rules.ts) name repositories and
// tags by glob, with exclusions; a tag they match cannot be moved to another manifest or deleted,
// and a manifest such a tag points at cannot be deleted. Pushing the same digest again is fine,
// and so is creating the tag. The checks run inside the change's own transaction (manifest PUT and
// DELETE, restore, repository delete), so a rule and a push cannot race past each other.
// Globs are picomatch's (bash-like: `*`, `?`, `[0-9]`, `{a,b}`, `**` across "/" in repository paths).
import picomatch from 'picomatch';
import { namespaceOf } from '../auth/policy.js';
import { RegistryError } from '../errors/catalog.js';
import type { Tx } from '../metadata/database.js';
import type { ImmutableTagRule, ImmutableTagRuleStore, RuleFields } from '../metadata/immutable-tag-rules.js';
import type { TagHistoryStore } from '../metadata/tag-history.js';

const OPTIONS: picomatch.PicomatchOptions = { dot: true, nonegate: true, strictBrackets: true };
export const GLOB_LIMITS = { repositories: 255, tags: 128, exclusions: 20 } as const;
const GLOB_CHARS = { repositories: /^[A-Za-z0-9_.*?[\]{},()+@|^/-]+$/, tags: /^[A-Za-z0-9_.*?[\]{},()+@|^-]+$/ };

const compiled = new Map<string, (s: string) => boolean>();

/** Whether `s` matches the glob (compiled once; replication's filters use these globs too). */
export function globMatches(glob: string, s: string): boolean {
  return matcher(glob)(s);
}

function matcher(glob: string): (s: string) => boolean {
  let m = compiled.get(glob);
  if (!m) {
    if (compiled.size >= 2000) compiled.clear();
    m = picomatch(glob, OPTIONS);
    compiled.set(glob, m);
  }
  return m;
}

/** Why a glob cannot be used in a rule, or null when it can. */
export function invalidGlob(glob: string, kind: 'repositories' | 'tags'): string | null {
  if (glob.length === 0 || glob.length > GLOB_LIMITS[kind]) return `a ${kind} pattern has 1 to ${GLOB_LIMITS[kind]} characters`;
  if (glob.startsWith('!')) return `"${glob}": a pattern cannot be negated with "!"; list what to leave out in the exclusions`;
  if (!GLOB_CHARS[kind].test(glob)) {
    return `"${glob}": a ${kind} pattern holds the characters of ${kind === 'tags' ? 'tags' : 'repository names'} and the wildcards * ? [ ] { } ( ) , + @ | ^`;
  }
  try {
    picomatch.makeRe(glob, OPTIONS);
  } catch (err) {
    return `"${glob}": ${(err as Error).message}`;
  }
  return null;
}

/** Why the rule's fields cannot be used, or null. */
export function invalidRule(f: RuleFields): string | null {
  if (f.excludeRepositories.length > GLOB_LIMITS.exclusions || f.excludeTags.length > GLOB_LIMITS.exclusions) {
    return `at most ${GLOB_LIMITS.exclusions} exclusions of each kind`;
  }
  for (const g of [f.repositories, ...f.excludeRepositories]) {
    const why = invalidGlob(g, 'repositories');
    if (why) return why;
  }
  for (const g of [f.tags, ...f.excludeTags]) {
    const why = invalidGlob(g, 'tags');
    if (why) return why;
  }
  return null;
}

/** The repository's path below its namespace ("" for a repository named like its namespace, which only "**" matches). */
function pathBelow(repository: string): string {
  const i = repository.indexOf('/');
  return i < 0 ? '' : repository.slice(i + 1);
}

function repositoryMatches(glob: string, path: string): boolean {
  return path === '' ? glob === '**' : matcher(glob)(path);
}

/** Whether the rule's repository globs (less its exclusions) select `repository`, a repository of the rule's namespace. */
export function repositorySelected(rule: RuleFields, repository: string): boolean {
  const path = pathBelow(repository);
  return repositoryMatches(rule.repositories, path) && !rule.excludeRepositories.some((g) => repositoryMatches(g, path));
}

/** Whether the rule's tag glob (less its exclusions) selects `tag`. */
export function tagSelected(rule: RuleFields, tag: string): boolean {
  return matcher(rule.tags)(tag) && !rule.excludeTags.some((g) => matcher(g)(tag));
}

/**
 * Whether the rule selects `tag` of `repository` (a repository of the rule's namespace): for
 * immutable-tag rules, that it makes the tag immutable; retention rules select the same way.
 */
export function ruleMatches(rule: RuleFields, repository: string, tag: string): boolean {
  return repositorySelected(rule, repository) && tagSelected(rule, tag);
}

/** The first rule (by name) that makes the tag immutable. */
export function immutableBy(rules: ImmutableTagRule[], repository: string, tag: string): ImmutableTagRule | null {
  return rules.find((r) => ruleMatches(r, repository, tag)) ?? null;
}

function refusal(rule: ImmutableTagRule, repository: string, tag: string, what: string, detail: Record<string, unknown> = {}): RegistryError {
  // 409: the request is fine and the caller may push; the repository's state (an immutable tag) refuses it.
  return new RegistryError('DENIED', `tag "${tag}" of ${repository} is immutable (rule "${rule.name}" of namespace ${rule.namespace}): ${what}`, {
    status: 409,
    detail: { rule: rule.name, namespace: rule.namespace, tag, ...detail },
  });
}

/** The immutability checks of tag and manifest changes, run inside their transactions. */
export class TagGuard {
  constructor(
    private readonly rules: ImmutableTagRuleStore,
    private readonly tags: TagHistoryStore,
  ) {}

  /** The rules of the repository's namespace; none for most namespaces, so most checks end here. */
  private async rulesFor(tx: Tx, repository: string): Promise<ImmutableTagRule[]> {
    return this.rules.forNamespace(namespaceOf(repository), tx);
  }

  /** Refuses pointing an existing immutable tag at another manifest. */
  async checkMove(tx: Tx, repositoryId: number, repository: string, tags: string[], digest: string): Promise<void> {
    if (tags.length === 0) return;
    const rules = await this.rulesFor(tx, repository);
    if (rules.length === 0) return;
    const current = await this.tags.current(repositoryId, tags, tx);
    for (const tag of tags) {
      const was = current.get(tag);
      if (was === undefined || was === digest) continue;
      const rule = immutableBy(rules, repository, tag);
      if (rule) throw refusal(rule, repository, tag, 'it cannot be moved to another manifest; push under a new tag', { digest: was });
    }
  }

  /** Refuses deleting an existing immutable tag. */
  async checkTagDelete(tx: Tx, repositoryId: number, repository: string, tag: string): Promise<void> {
    const rules = await this.rulesFor(tx, repository);
    if (rules.length === 0 || !(await this.tags.current(repositoryId, [tag], tx)).has(tag)) return;
    const rule = immutableBy(rules, repository, tag);
    if (rule) throw refusal(rule, repository, tag, 'it cannot be deleted');
  }

  /** Refuses deleting a manifest (`digest`) or the whole repository (`digest` null) while an immutable tag points into it. */
  async checkManifestDelete(tx: Tx, repositoryId: number, repository: string, digest: string | null): Promise<void> {
    const rules = await this.rulesFor(tx, repository);
    if (rules.length === 0) return;
    for (const tag of await this.tags.tagsAt(tx, repositoryId, digest)) {
      const rule = immutableBy(rules, repository, tag);
      if (rule) {
        const what = digest ? `the manifest ${digest} it points at cannot be deleted` : 'the repository cannot be deleted while it holds the tag';
        throw refusal(rule, repository, tag, what, digest ? { digest } : {});
      }
    }
  }
}
