// What every /api/v1 plugin shares (the accounts API, the index and webhooks register
// separately): JSON bodies with a limit and the input rules of src/http/rest-input.ts, no caching, and the caller resolved
// before any handler runs. Errors go to the app's one error handler
// (src/http/error-response.ts), which answers /api/v1 in the REST vocabulary.
import type { FastifyInstance } from 'fastify';
import { prepareRestInput } from '../http/rest-input.js';
import { identify } from './caller.js';
import type { ApiDeps } from './deps.js';

export function prepareApiScope(api: FastifyInstance, deps: ApiDeps, opts: { bodyLimit: number }): void {
  prepareRestInput(api, opts.bodyLimit);
  // Replies may hold secrets (new tokens) and always depend on who asks.
  api.addHook('onRequest', async (request, reply) => {
    reply.header('Cache-Control', 'no-store');
    await identify(deps, request);
  });
}
