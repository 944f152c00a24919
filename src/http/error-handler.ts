// The one place where errors become HTTP responses with OCI error bodies.
import type { FastifyError, FastifyInstance } from 'fastify';
import { RegistryError, errorBody } from '../errors/catalog.js';

export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    let err: RegistryError;
    if (error instanceof RegistryError) {
      err = error;
    } else if ((error as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      err = new RegistryError('SIZE_INVALID', 'request body too large', { status: 413 });
    } else if ((error as NodeJS.ErrnoException).code === 'ECONNRESET' || error.message === 'aborted') {
      // The client went away mid-body; nobody is listening for an answer.
      request.log.info({ err: error.message }, 'client disconnected');
      err = new RegistryError('BLOB_UPLOAD_INVALID', 'request body ended early');
    } else if ((error as FastifyError).statusCode && (error as FastifyError).statusCode! < 500) {
      err = new RegistryError('UNSUPPORTED', error.message, { status: (error as FastifyError).statusCode });
    } else {
      request.log.error({ err: error }, 'request failed');
      err = new RegistryError('UNKNOWN', 'internal server error');
    }
    if (reply.sent || reply.raw.headersSent) return;
    reply.code(err.status).header('Content-Type', 'application/json');
    for (const [name, value] of Object.entries(err.headers)) reply.header(name, value);
    if (request.method === 'HEAD') return reply.send();
    return reply.send(JSON.stringify(errorBody(err)));
  });
  app.setNotFoundHandler((request, reply) => {
    const err = new RegistryError('NAME_UNKNOWN', 'no such endpoint', { status: 404 });
    reply.code(404).header('Content-Type', 'application/json').send(JSON.stringify(errorBody(err)));
  });
}
