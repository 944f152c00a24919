// What every /api/v1 plugin shares (the accounts API, the index and webhooks register
// separately): a JSON body parser with a limit, the one error handler that writes the
// registry's error body, no caching, and the caller resolved before any handler runs.
import type { FastifyError, FastifyInstance } from 'fastify';
import { RegistryError, errorBody } from '../errors/catalog.js';
import { badRequest, identify } from './caller.js';
import type { ApiDeps } from './deps.js';

const NAME_FIELDS = new Set(['name', 'username', 'user', 'org', 'team']);

export function prepareApiScope(api: FastifyInstance, deps: ApiDeps, opts: { bodyLimit: number; label: string }): void {
  api.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: opts.bodyLimit }, (_req, text, done) => {
    if (text === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text as string));
    } catch {
      done(badRequest('the body is not valid JSON'), undefined);
    }
  });
  api.setErrorHandler((error: FastifyError | Error, request, reply) => {
    const err = toRegistryError(error);
    if (err.status >= 500) request.log.error({ err: error }, `${opts.label} request failed`);
    reply.code(err.status).header('Content-Type', 'application/json').header('Cache-Control', 'no-store');
    for (const [name, value] of Object.entries(err.headers)) reply.header(name, value);
    if (err.status === 401 && !err.headers['WWW-Authenticate']) reply.header('WWW-Authenticate', 'Basic realm="Berth API", charset="UTF-8"');
    return reply.send(JSON.stringify(errorBody(err)));
  });
  // Replies may hold secrets (new tokens) and always depend on who asks.
  api.addHook('onRequest', async (request, reply) => {
    reply.header('Cache-Control', 'no-store');
    await identify(deps, request);
  });
}

function toRegistryError(error: FastifyError | Error): RegistryError {
  if (error instanceof RegistryError) return error;
  const e = error as FastifyError;
  if (e.validation) {
    // Names get the registry's NAME_INVALID; anything else is a plain bad request.
    const first = e.validation[0];
    const field = first?.instancePath.split('/').pop() || String((first?.params as { missingProperty?: string })?.missingProperty ?? '');
    if (NAME_FIELDS.has(field) && ['pattern', 'minLength', 'maxLength'].includes(first?.keyword ?? '')) {
      return new RegistryError('NAME_INVALID', `invalid ${field}`, { status: 400 });
    }
    return badRequest(`${e.validationContext ?? 'request'}${first?.instancePath ?? ''} ${first?.message ?? 'is invalid'}`.trim());
  }
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new RegistryError('SIZE_INVALID', 'request body too large', { status: 413 });
  if (e.statusCode && e.statusCode < 500) return new RegistryError('DENIED', e.message, { status: e.statusCode });
  return new RegistryError('UNKNOWN', 'internal server error');
}
