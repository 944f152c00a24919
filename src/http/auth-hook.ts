// Basic authentication in front of /v2 (htpasswd mode), through identify() (auth/identify.ts).
import type { FastifyInstance } from 'fastify';
import { InvalidCredentials, type Identifier } from '../auth/identify.js';
import { RegistryError } from '../errors/catalog.js';

export function registerHtpasswdAuth(app: FastifyInstance, realm: string, identifier: Identifier): void {
  const challenge = `Basic realm="${realm.replace(/["\\]/g, '')}"`;
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v2')) return;
    let kind: string;
    try {
      kind = (await identifier.identify(request, ['password'])).kind;
    } catch (err) {
      if (!(err instanceof InvalidCredentials)) throw err;
      kind = 'refused';
    }
    if (kind !== 'htpasswd') throw new RegistryError('UNAUTHORIZED', undefined, { headers: { 'WWW-Authenticate': challenge } });
  });
}

declare module 'fastify' {
  interface FastifyRequest {
    user?: string;
  }
}
