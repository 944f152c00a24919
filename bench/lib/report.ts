// The result table: one row per metric, a ratio oriented so that > 1 always means Berth did better.

export interface Row {
  metric: string;
  unit: string;
  /** 'higher' for throughput, 'lower' for latency, CPU, memory and elapsed time. */
  better: 'higher' | 'lower';
  /** No ratio column (differences, counts). */
  noRatio?: boolean;
  berth?: number;
  reference?: number;
  /** Set when a server failed this measurement; shown instead of the number. */
  berthError?: string;
  referenceError?: string;
  /** Every round's figure; the cell shows the median (berth/reference above) and the range. */
  berthSamples?: number[];
  referenceSamples?: number[];
}

export function ratio(r: Row): number | undefined {
  const { berth: b, reference: ref } = r;
  if (r.noRatio) return undefined;
  if (b === undefined || ref === undefined || !Number.isFinite(b) || !Number.isFinite(ref) || b <= 0 || ref <= 0) return undefined;
  return r.better === 'higher' ? b / ref : ref / b;
}

function fmt(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return 'n/a';
  const a = Math.abs(n);
  if (a >= 1000) return Math.round(n).toLocaleString('en-US');
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toPrecision(2);
}

function cell(value: number | undefined, error: string | undefined, samples: number[] | undefined): string {
  if (error) return 'FAIL';
  if (!samples || samples.length < 2) return fmt(value);
  return `${fmt(value)} (${fmt(Math.min(...samples))}–${fmt(Math.max(...samples))})`;
}

export function markdownTable(rows: Row[]): string {
  const lines = ['| metric | berth, median (min–max) | reference, median (min–max) | ratio of medians (>1 = berth better) | n |', '|---|---:|---:|---:|---:|'];
  for (const r of rows) {
    const q = ratio(r);
    const dir = r.better === 'lower' ? ' ↓' : '';
    const rs = q === undefined ? 'n/a' : `${q.toFixed(2)}×`;
    const n = r.berthSamples?.length ?? r.referenceSamples?.length ?? 0;
    const berth = r.berth === undefined && !r.berthError ? '–' : cell(r.berth, r.berthError, r.berthSamples);
    const reference = r.reference === undefined && !r.referenceError ? '–' : cell(r.reference, r.referenceError, r.referenceSamples);
    lines.push(`| ${r.metric} (${r.unit})${dir} | ${berth} | ${reference} | ${rs} | ${n} |`);
  }
  return lines.join('\n');
}
