// Repository names as label values: only the names an operator allow-lists
// (http.debug.prometheus.repositories) appear as themselves; every other name is "other", so the
// number of series stays bounded whatever clients push or probe.

/** The label value of every repository the allow-list does not name. */
export const OTHER_REPOSITORY = 'other';
/** Names remembered with their answer (a scan of the globs otherwise runs per request). */
const CACHE_LIMIT = 10_000;

/** Globs: `*` matches within one path segment, `**` across segments; anything else is literal. */
export function globRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else re += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export class RepositoryLabels {
  private readonly globs: RegExp[];
  private readonly cache = new Map<string, string>();

  constructor(globs: readonly string[]) {
    this.globs = globs.map(globRegExp);
  }

  label(name: string): string {
    if (this.globs.length === 0) return OTHER_REPOSITORY;
    let v = this.cache.get(name);
    if (v === undefined) {
      v = this.globs.some((g) => g.test(name)) ? name : OTHER_REPOSITORY;
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(name, v);
    }
    return v;
  }
}
