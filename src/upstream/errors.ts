// What can go wrong talking to an upstream registry, in four kinds its callers act on:
// 'unavailable' (try later, or serve what is cached), 'denied', 'not-found', 'invalid'.
// Messages name the upstream and the request, never credentials or tokens.

export type UpstreamErrorKind =
  /** Connect error, timeout, stalled body, 5xx, 429. */
  | 'unavailable'
  /** 401/403 after authenticating; the token realm refused the credentials; the outbound policy refused the address. */
  | 'denied'
  | 'not-found'
  /** A bad answer: digest mismatch, oversized or malformed body, an unexpected 4xx. */
  | 'invalid';

export class UpstreamError extends Error {
  readonly kind: UpstreamErrorKind;
  /** The upstream's HTTP status, when it answered. */
  readonly status?: number;
  /** Seconds to wait before trying again (Retry-After of a 429 or 503). */
  readonly retryAfter?: number;
  /** Set when the outbound policy refused the address: nothing was sent. */
  readonly refused?: boolean;

  constructor(kind: UpstreamErrorKind, message: string, opts: { status?: number; retryAfter?: number; refused?: boolean } = {}) {
    super(message);
    this.name = 'UpstreamError';
    this.kind = kind;
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.retryAfter !== undefined) this.retryAfter = opts.retryAfter;
    if (opts.refused) this.refused = true;
  }
}

/** The kind of an error status (after authentication was tried, for 401). */
export function kindOfStatus(status: number): UpstreamErrorKind {
  if (status === 404) return 'not-found';
  if (status === 401 || status === 403) return 'denied';
  if (status === 429 || status >= 500) return 'unavailable';
  return 'invalid';
}

/** Retry-After in seconds (delta-seconds or an HTTP date relative to `nowMs`), or undefined. */
export function parseRetryAfter(header: string | string[] | undefined, nowMs: number): number | undefined {
  const v = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** The first OCI error of an upstream error body ("MANIFEST_UNKNOWN: manifest unknown"), short, or ''. */
export function describeErrorBody(body: Buffer): string {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[]; details?: unknown };
    const e = doc.errors?.[0];
    if (e && typeof e.code === 'string') return `${e.code}${typeof e.message === 'string' && e.message ? `: ${e.message}` : ''}`.slice(0, 200);
  } catch {
    /* not JSON */
  }
  return '';
}
