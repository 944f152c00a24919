// The one place where a thrown error becomes an HTTP response, for every surface:
//   registry  /v2, /v1/search, /token and the rest: the OCI error catalog (src/errors/catalog.ts)
//   api       /api/v1: the REST vocabulary (src/errors/rest.ts)
//   ui        /ui: the REST vocabulary, without WWW-Authenticate (no browser login dialog)
// Both bodies are {"errors":[{"code","message","detail"?}]}; every error reply is
// application/json and no-store. Domain code throws RegistryError or RestError; what
// Fastify throws (schema violations, bodies over the limit, bad URLs) and what nobody
// expected are classified here once, and the surface picks the code its clients know.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CODES, RegistryError, type ErrorCode } from '../errors/catalog.js';
import { OAuthError } from '../errors/oauth.js';
import { RestError, restCodeOf, type RestCode } from '../errors/rest.js';
import { StorageFullError } from '../errors/storage-full.js';
import { DependencyUnavailableError, RETRY_AFTER_S, databaseUnavailable } from '../errors/unavailable.js';

export type Surface = 'registry' | 'api' | 'ui';

export function surfaceOf(url: string): Surface {
  if (/^\/api(?:[/?]|$)/.test(url)) return 'api';
  if (/^\/ui(?:[/?]|$)/.test(url)) return 'ui';
  return 'registry';
}

/** What went wrong, in terms both vocabularies can express. */
export interface Problem {
  status: number;
  oci: ErrorCode;
  rest: RestCode;
  message: string;
  detail?: unknown;
  headers: Record<string, string>;
  /** The RFC 6749 error of a /token failure. */
  oauth?: string;
  /** Logged: 'error' for faults of the server, 'info' for clients that went away. */
  /** warn: a dependency outage, one line with its code (no stack: an outage answers every request so). */
  log?: 'error' | 'warn' | 'info';
}

/** The OCI code a REST code stands for on the registry surface (the status stays). */
const OCI_OF: Partial<Record<RestCode, ErrorCode>> = {
  UNAUTHORIZED: 'UNAUTHORIZED',
  DENIED: 'DENIED',
  NOT_FOUND: 'NAME_UNKNOWN',
  UNSUPPORTED: 'UNSUPPORTED',
  TOO_LARGE: 'SIZE_INVALID',
  TOO_MANY_REQUESTS: 'TOOMANYREQUESTS',
  INTERNAL: 'UNKNOWN',
  UNAVAILABLE: 'UNAVAILABLE',
  STORAGE_FULL: 'STORAGE_FULL',
};

const ociOf = (rest: RestCode, status: number): ErrorCode => OCI_OF[rest] ?? (status < 500 ? 'UNSUPPORTED' : 'UNKNOWN');

/** Classifies anything thrown while serving a request. */
export function problemOf(error: unknown): Problem {
  if (error instanceof RegistryError) {
    return {
      status: error.status,
      oci: error.code,
      rest: restCodeOf(error.status),
      message: error.message,
      detail: error.detail,
      headers: error.headers,
      ...(error instanceof OAuthError ? { oauth: error.oauth } : {}),
      ...(error.status >= 500 ? { log: 'error' as const } : {}),
    };
  }
  if (error instanceof RestError) {
    return {
      status: error.status,
      oci: ociOf(error.code, error.status),
      rest: error.code,
      message: error.message,
      detail: error.detail,
      headers: error.headers,
      ...(error.status >= 500 ? { log: 'error' as const } : {}),
    };
  }
  if (error instanceof StorageFullError) {
    // The body says only that space ran out; the log gets the original error (ENOSPC, SQLITE_FULL, …).
    return { status: 507, oci: 'STORAGE_FULL', rest: 'STORAGE_FULL', message: ERROR_CODES.STORAGE_FULL.message, headers: {}, log: 'error' };
  }
  // The database or the object store does not answer: 503 and when to try again, never a 500.
  // The body names the part; the log gets the original error (ECONNREFUSED, 57P01, …).
  const down = error instanceof DependencyUnavailableError ? error : databaseUnavailable(error);
  if (down) {
    const retry = String(RETRY_AFTER_S[down.part]);
    return {
      status: 503,
      oci: 'UNAVAILABLE',
      rest: 'UNAVAILABLE',
      message: `the ${down.part} is unavailable; try again later`,
      headers: { 'Retry-After': retry },
      log: 'warn',
    };
  }
  const e = error as Partial<FastifyError> & { message?: string };
  if (e.validation) return validationProblem(e as FastifyError);
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return { status: 413, oci: 'SIZE_INVALID', rest: 'TOO_LARGE', message: 'request body too large', headers: {} };
  if (e.code === 'ECONNRESET' || e.message === 'aborted') {
    // The client went away mid-body; nobody is listening for an answer.
    return { status: 400, oci: 'BLOB_UPLOAD_INVALID', rest: 'INVALID', message: 'request body ended early', headers: {}, log: 'info' };
  }
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    const rest = restCodeOf(e.statusCode);
    return { status: e.statusCode, oci: ociOf(rest, e.statusCode), rest, message: e.message ?? 'bad request', headers: {} };
  }
  return { status: 500, oci: 'UNKNOWN', rest: 'INTERNAL', message: 'internal server error', headers: {}, log: 'error' };
}

/** A schema violation: INVALID, naming the part of the request and the field. */
function validationProblem(e: FastifyError): Problem {
  const first = e.validation![0];
  const location = e.validationContext ?? 'request';
  const params = (first?.params ?? {}) as { missingProperty?: string; additionalProperty?: string };
  const path = (first?.instancePath ?? '').replace(/^\//, '');
  const field = [path, params.missingProperty ?? params.additionalProperty].filter(Boolean).join('/');
  const where = `${location}${field ? `/${field}` : ''}`;
  let message: string;
  if (first?.keyword === 'additionalProperties') message = `${location}${path ? `/${path}` : ''} must not have the field "${params.additionalProperty}"`;
  else if (first?.keyword === 'required') message = `${where} is required`;
  else if (first?.keyword === 'pattern') message = `${where} is not valid`;
  else message = `${location}${first?.instancePath ?? ''} ${first?.message ?? 'is invalid'}`;
  return { status: 400, oci: 'UNSUPPORTED', rest: 'INVALID', message, detail: { location, ...(field ? { field } : {}) }, headers: {} };
}

const NO_ROUTE: Problem = { status: 404, oci: 'NAME_UNKNOWN', rest: 'NOT_FOUND', message: 'no such endpoint', headers: {} };
const API_CHALLENGE = 'Basic realm="Berth API", charset="UTF-8"';

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  /** null for HEAD. */
  body: string | null;
}

/** The response a surface gives for a problem. */
export function errorResponse(p: Problem, surface: Surface, method: string): ErrorResponse {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };
  for (const [name, value] of Object.entries(p.headers)) {
    // The UI's pages sign in themselves; a Basic challenge would pop up the browser's dialog.
    if (surface === 'ui' && name.toLowerCase() === 'www-authenticate') continue;
    headers[name] = value;
  }
  if (surface === 'api' && p.status === 401 && !Object.keys(headers).some((h) => h.toLowerCase() === 'www-authenticate'))
    headers['WWW-Authenticate'] = API_CHALLENGE;
  if (method === 'HEAD') return { status: p.status, headers, body: null };
  const entry: { code: string; message: string; detail?: unknown } = { code: surface === 'registry' ? p.oci : p.rest, message: p.message };
  if (p.detail !== undefined) entry.detail = p.detail;
  // OAuth's fields for OAuth clients, the registry's error list for Docker's error printer.
  const body = p.oauth && surface === 'registry' ? { error: p.oauth, error_description: p.message, errors: [entry] } : { errors: [entry] };
  return { status: p.status, headers, body: JSON.stringify(body) };
}

function sendProblem(request: FastifyRequest, reply: FastifyReply, p: Problem): FastifyReply {
  const r = errorResponse(p, surfaceOf(request.url), request.method);
  reply.code(r.status).headers(r.headers);
  return r.body === null ? reply.send() : reply.send(r.body);
}

/** Installs the one error handler and not-found handler on the root instance; plugins set none of their own. */
export function registerErrorResponses(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const p = problemOf(error);
    if (p.log === 'error') request.log.error({ err: error }, 'request failed');
    else if (p.log === 'warn') request.log.warn({ unavailable: (error as Error).message }, 'dependency unavailable');
    else if (p.log === 'info') request.log.info({ err: (error as Error).message }, 'client disconnected');
    if (reply.sent || reply.raw.headersSent) return;
    return sendProblem(request, reply, p);
  });
  app.setNotFoundHandler((request, reply) => sendProblem(request, reply, NO_ROUTE));
}

/** Fastify's `frameworkErrors` option: URLs it cannot route (bad percent-encoding, overlong parameters) get the same bodies. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  sendProblem(request, reply, problemOf(error));
}
