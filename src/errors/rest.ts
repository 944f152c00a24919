// The REST API's error vocabulary (/api/v1 and the UI's JSON routes), apart from
// the OCI catalog: each code declared once with its one status. Route and service
// code throws RestError with a code; src/http/error-response.ts writes the body
// {"errors":[{"code","message","detail"?}]} (the envelope the OCI spec uses, so one
// client parses both). docs/api.md lists the codes.

export const REST_ERRORS = {
  /** The request is malformed: a schema violation, bad JSON or UTF-8, a control character, a bad name. */
  INVALID: { status: 400, message: 'the request is invalid' },
  /** No credentials, or wrong ones. */
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  /** Signed in, but not allowed. */
  DENIED: { status: 403, message: 'not allowed' },
  /** Missing, or invisible to the caller (a private repository answers exactly like a missing one). */
  NOT_FOUND: { status: 404, message: 'not found' },
  /** This registry does not offer the operation (deletes disabled, read-only mode). */
  UNSUPPORTED: { status: 405, message: 'the operation is not supported by this registry' },
  /** The change conflicts with the current state (a name taken, the last owner). */
  CONFLICT: { status: 409, message: 'conflicts with the current state' },
  /** The request body is over the route's limit. */
  TOO_LARGE: { status: 413, message: 'request body too large' },
  /** The request body is not JSON (`Content-Type` must be application/json). */
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'the body must be application/json' },
  /** Too many failed logins or new comments; see Retry-After. */
  TOO_MANY_REQUESTS: { status: 429, message: 'too many requests' },
  /** A fault of the server; the log has the cause. */
  INTERNAL: { status: 500, message: 'internal server error' },
  /** A dependency (database, storage) does not answer. */
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
  /** Storage or the database is full; reads still work. */
  STORAGE_FULL: { status: 507, message: 'storage is full' },
} as const;

export type RestCode = keyof typeof REST_ERRORS;

export class RestError extends Error {
  readonly code: RestCode;
  readonly status: number;
  readonly detail: unknown;
  /** Response headers that belong to the error (Retry-After, WWW-Authenticate). */
  readonly headers: Record<string, string>;

  constructor(code: RestCode, message?: string, options: { detail?: unknown; headers?: Record<string, string> } = {}) {
    super(message ?? REST_ERRORS[code].message);
    this.name = 'RestError';
    this.code = code;
    this.status = REST_ERRORS[code].status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }
}

const BY_STATUS = new Map<number, RestCode>(Object.entries(REST_ERRORS).map(([code, e]) => [e.status, code as RestCode]));

/** The code with this status; other 4xx are INVALID, other 5xx INTERNAL. */
export function restCodeOf(status: number): RestCode {
  return BY_STATUS.get(status) ?? (status < 500 ? 'INVALID' : 'INTERNAL');
}
