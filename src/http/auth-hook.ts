// Basic authentication in front of /v2 (htpasswd mode).
import type { FastifyInstance } from 'fastify';
import { HtpasswdVerifier, parseBasic } from '../auth/htpasswd.js';
import { RegistryError } from '../errors/catalog.js';

export function registerHtpasswdAuth(app: FastifyInstance, realm: string, path: string): void {
  const verifier = new HtpasswdVerifier(path);
  const challenge = `Basic realm="${realm.replace(/["\\]/g, '')}"`;
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v2')) return;
    const creds = parseBasic(request.headers.authorization);
    if (creds && (await verifier.verify(creds.user, creds.password))) {
      request.user = creds.user;
      return;
    }
    if (creds) request.log.info({ user: creds.user.slice(0, 64) }, 'authentication failed');
    throw new RegistryError('UNAUTHORIZED', undefined, { headers: { 'WWW-Authenticate': challenge } });
  });
}

declare module 'fastify' {
  interface FastifyRequest {
    user?: string;
  }
}
