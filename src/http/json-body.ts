// The JSON body parser of the REST API and the UI's JSON routes (the app's root parser
// never reads bodies: blobs and manifests stream through their handlers).
import type { FastifyInstance } from 'fastify';
import { RestError } from '../errors/rest.js';

export function addJsonBodyParser(scope: FastifyInstance, bodyLimit: number): void {
  scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (_req, text, done) => {
    if (text === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text as string));
    } catch {
      done(new RestError('INVALID', 'the body is not valid JSON'), undefined);
    }
  });
}
