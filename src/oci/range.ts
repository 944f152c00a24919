// HTTP byte ranges (RFC 9110 §14) for blob GETs and Content-Range for chunked uploads. Pure: no I/O.

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/** Result of parsing a Range header against a resource of `size` bytes:
 *  null = ignore the header (serve the whole body), 'unsatisfiable' = 416. */
export function parseRangeHeader(header: string, size: number): ByteRange[] | null | 'unsatisfiable' {
  const m = /^\s*bytes\s*=\s*(.+)$/i.exec(header);
  if (!m) return null; // unknown unit: RFC says ignore
  const ranges: ByteRange[] = [];
  for (const part of m[1].split(',')) {
    const spec = part.trim();
    if (spec === '') continue;
    const r = /^(\d*)-(\d*)$/.exec(spec);
    if (!r || (r[1] === '' && r[2] === '')) return null; // malformed: ignore the header
    if (r[1] === '') {
      // suffix range: the last N bytes
      const n = Number(r[2]);
      if (n === 0) continue;
      ranges.push({ start: Math.max(0, size - n), end: size - 1 });
      continue;
    }
    const start = Number(r[1]);
    const end = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
    if (r[2] !== '' && Number(r[2]) < start) return null;
    if (start >= size) continue; // unsatisfiable on its own
    ranges.push({ start, end });
  }
  if (ranges.length === 0) return 'unsatisfiable';
  // Bound the number of parts so a client cannot ask for millions of tiny ranges.
  if (ranges.length > 100) return null;
  return ranges;
}

/** Parses an upload chunk's Content-Range ("<start>-<end>", inclusive; "bytes " prefix tolerated). */
export function parseContentRange(header: string): ByteRange | null {
  const m = /^\s*(?:bytes[ =])?\s*(\d+)-(\d+)(?:\/(?:\d+|\*))?\s*$/i.exec(header);
  if (!m) return null;
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return null;
  return { start, end };
}
