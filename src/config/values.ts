// Parsers for the string-typed config values that need more than a regex.

const DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  // Not Go's, but what retention periods are written in ("30d").
  d: 86_400_000,
};

/**
 * Parses a Go-style duration ("24h", "1h30m", "90s", "500ms"; also days, "30d") into whole
 * milliseconds, as registry:2 users write them. A bare non-negative number is
 * taken as milliseconds so an already-parsed config round-trips through the
 * schema. Returns undefined when the value is not a valid duration.
 */
export function parseDurationMs(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const s = value.trim();
  if (s === '0') return 0;
  const part = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h|d)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    part.lastIndex = pos;
    const m = part.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS_MS[m[2]];
    pos = part.lastIndex;
  }
  return pos > 0 ? Math.round(total) : undefined;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1000,
  kb: 1000,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  t: 1000 ** 4,
  tb: 1000 ** 4,
  ki: 1024,
  kib: 1024,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
  ti: 1024 ** 4,
  tib: 1024 ** 4,
};

/**
 * Parses a byte size: a whole number of bytes, or a number with a unit ("500MB", "10GiB",
 * "1.5TiB"; KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB of 1024, case-insensitive).
 * Returns undefined when the value is not a size.
 */
export function parseBytes(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) return undefined;
  const n = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(n) ? n : undefined;
}

export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * Parses registry:2's `http.addr`: "host:port", ":port" (all IPv4
 * interfaces) or "[v6addr]:port". Port 0 is allowed (the OS picks a free
 * port), which tests rely on. Returns an error message on failure.
 */
export function parseListenAddress(addr: string): ListenAddress | string {
  const m = /^(?:\[([^\]\s]+)\]|([^:[\]\s]*)):(\d+)$/.exec(addr.trim());
  if (!m) return `expected host:port or :port, got "${addr}"`;
  const port = Number(m[3]);
  if (port > 65535) return `port ${m[3]} out of range (0-65535)`;
  const host = m[1] ?? (m[2] || '0.0.0.0');
  return { host, port };
}

/**
 * Normalises `http.host` (the externally visible base URL) to
 * "scheme://host[:port][/prefix]" without a trailing slash, or returns an
 * error message. Empty means "derive from the request".
 */
export function normaliseBaseUrl(value: string): string | { error: string } {
  if (value === '') return '';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { error: `expected an absolute http(s) URL such as https://reg.example.com, got "${value}"` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { error: `expected an http or https URL, got "${value}"` };
  }
  if (url.search || url.hash || url.username || url.password) {
    return { error: `must not contain credentials, a query or a fragment, got "${value}"` };
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/** 1536 → "1.5 KiB"; exact below 1 KiB. */
export function formatBytes(n: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  if (n < 1024) return `${n} B`;
  let v = n;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}
