// The one catalog of registry error codes (OCI distribution spec plus the few
// that distribution added). Domain code throws RegistryError with a code;
// src/http/error-response.ts turns it into a status and an OCI error body.

export const ERROR_CODES = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI' },
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  /** Not in the OCI spec: storage or the database has no room for a write (StorageFullError); reads still work. */
  STORAGE_FULL: { status: 507, message: 'the registry is out of storage space; reads still work, writes will again once space is freed' },
  /** Not in the OCI spec: a mirror's upstream refused Berth's credentials or gave an unusable answer (src/mirror/). */
  UPSTREAM_FAILED: { status: 502, message: 'the upstream registry refused the request or gave an unusable answer' },
  UNKNOWN: { status: 500, message: 'unknown error' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly detail: unknown;
  /** Overrides the code's usual status where the spec asks for another (416, 413, 415). */
  readonly status: number;
  /** Response headers that belong to the error (WWW-Authenticate, Retry-After). */
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message?: string, options: { detail?: unknown; status?: number; headers?: Record<string, string> } = {}) {
    super(message ?? ERROR_CODES[code].message);
    this.name = 'RegistryError';
    this.code = code;
    this.detail = options.detail;
    this.status = options.status ?? ERROR_CODES[code].status;
    this.headers = options.headers ?? {};
  }
}

/** How an upstream registry failed (src/upstream/ UpstreamError's kinds). */
export type UpstreamFailure = 'unavailable' | 'denied' | 'not-found' | 'invalid';

/**
 * What a mirror answers when its upstream failed and the cache cannot stand in (never a 500):
 * 503 UNAVAILABLE (with the upstream's Retry-After) while it is down, refuses (429) or times out;
 * `unknown` (MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN) when it has no such thing; 502
 * UPSTREAM_FAILED when it refused Berth's credentials or answered nonsense. `upstream` names it
 * for the operator: the message never carries credentials.
 */
export function upstreamError(
  kind: UpstreamFailure,
  upstream: string,
  opts: { unknown: ErrorCode; detail?: Record<string, unknown>; retryAfter?: number; stale?: boolean },
): RegistryError {
  const detail = { upstream, ...opts.detail };
  if (kind === 'not-found') return new RegistryError(opts.unknown, undefined, { detail });
  if (kind === 'unavailable') {
    const cached = opts.stale ? '; the cached copy is older than its maxstale' : '';
    return new RegistryError('UNAVAILABLE', `the upstream registry "${upstream}" is unavailable${cached}`, {
      detail,
      ...(opts.retryAfter !== undefined ? { headers: { 'Retry-After': String(opts.retryAfter) } } : {}),
    });
  }
  const why = kind === 'denied' ? "refused the mirror's credentials" : 'gave an unusable answer';
  return new RegistryError('UPSTREAM_FAILED', `the upstream registry "${upstream}" ${why}`, { detail });
}
