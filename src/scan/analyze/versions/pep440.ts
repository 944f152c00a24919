// PEP 440 version ordering (PyPI): epoch, release (trailing zeros ignored), pre-release (a < b < rc),
// post-release, dev-release, local version; the sort key of the `packaging` reference implementation.

const PATTERN =
  /^v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d+)?)?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?(?:[-_.]?(dev)[-_.]?(\d+)?)?(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$/i;

export class InvalidPep440Error extends Error {}

interface Key {
  epoch: number;
  release: number[];
  /** [phase, n]: phase -Infinity for a bare dev release, Infinity for no pre-release. */
  pre: [number, number];
  post: number;
  dev: number;
  local: (number | string)[] | null;
}

const PRE_PHASE: Record<string, number> = { a: 0, alpha: 0, b: 1, beta: 1, c: 2, rc: 2, pre: 2, preview: 2 };

export function pep440Key(v: string): Key {
  const m = PATTERN.exec(v.trim());
  if (!m) throw new InvalidPep440Error(`not a PEP 440 version: ${v}`);
  const [, epoch, release, preL, preN, postN1, postL, postN2, devL, devN, local] = m;
  const rel = release.split('.').map(Number);
  while (rel.length > 1 && rel[rel.length - 1] === 0) rel.pop();
  const hasPost = postN1 !== undefined || postL !== undefined;
  let pre: [number, number];
  if (preL !== undefined) pre = [PRE_PHASE[preL.toLowerCase()], Number(preN ?? 0)];
  else if (!hasPost && devL !== undefined) pre = [Number.NEGATIVE_INFINITY, 0];
  else pre = [Number.POSITIVE_INFINITY, 0];
  return {
    epoch: Number(epoch ?? 0),
    release: rel,
    pre,
    post: hasPost ? Number(postN1 ?? postN2 ?? 0) : Number.NEGATIVE_INFINITY,
    dev: devL !== undefined ? Number(devN ?? 0) : Number.POSITIVE_INFINITY,
    local: local
      ? local
          .toLowerCase()
          .split(/[-_.]/)
          .map((p) => (/^\d+$/.test(p) ? Number(p) : p))
      : null,
  };
}

const cmp = (a: number, b: number) => (a < b ? -1 : a > b ? 1 : 0);

function compareLocal(a: Key['local'], b: Key['local']): number {
  if (!a || !b) return a ? 1 : b ? -1 : 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    // numeric segments sort after alphanumeric ones
    if (typeof x !== typeof y) return typeof x === 'number' ? 1 : -1;
    if (x !== y) return x < y ? -1 : 1;
  }
  return cmp(a.length, b.length);
}

export function comparePep440(a: string, b: string): number {
  const x = pep440Key(a);
  const y = pep440Key(b);
  let c = cmp(x.epoch, y.epoch);
  if (c) return c;
  for (let i = 0; i < Math.max(x.release.length, y.release.length); i++) {
    c = cmp(x.release[i] ?? 0, y.release[i] ?? 0);
    if (c) return c;
  }
  return cmp(x.pre[0], y.pre[0]) || cmp(x.pre[1], y.pre[1]) || cmp(x.post, y.post) || cmp(x.dev, y.dev) || compareLocal(x.local, y.local);
}

/** PEP 503 name normalisation: what PyPI and OSV key packages by. */
export function normalizePypiName(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[-_.]+/g, '-');
}
