/** Splits a list into runs of at most `n` (SQL `in (...)` lists and batched statements stay bounded). */
export function chunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}
