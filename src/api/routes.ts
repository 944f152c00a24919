// The JSON REST API (/api/v1): users, organisations, teams, robots, repositories,
// collaborators, access tokens, the audit log, the index (search, descriptions, stars,
// comments), webhooks, tags, quotas, retention and replication policies. One encapsulated plugin: the input rules of
// src/http/rest-input.ts, the caller resolved first, and the OpenAPI document that
// @fastify/swagger generates from every route's schema (a test fails on a route it
// does not document). Errors go to the app's one mapper (src/http/error-response.ts).
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { registerAccessTokenRoutes } from './access-token-routes.js';
import { registerAdminRoutes } from './admin-routes.js';
import type { IndexService } from '../index/service.js';
import type { QuotaService } from '../registry/quotas.js';
import type { Webhooks } from '../webhooks/index.js';
import { prepareApiScope } from './scope.js';
import type { ApiDeps } from './deps.js';
import { indexPathStrategy, registerIndexRoutes } from './index-routes.js';
import { registerNetworkRoutes, type NetworkParts } from './network-routes.js';
import { registerOrgRoutes } from './org-routes.js';
import { registerQuotaRoutes } from './quota-routes.js';
import { registerRepositoryRoutes, repositoryPathStrategy } from './repository-routes.js';
import { registerReplicationRoutes, type ReplicationParts } from './replication-routes.js';
import { registerRetentionRoutes, type RetentionParts } from './retention-routes.js';
import { registerScanRoutes, scanPathStrategy, type ScanParts } from './scan-routes.js';
import { registerTagRoutes, tagPathStrategy, type TagParts } from './tag-routes.js';
import { registerTeamRoutes } from './team-routes.js';
import { registerTrustRoutes, trustPathStrategy, type TrustParts } from './trust-routes.js';
import { registerUserRoutes } from './user-routes.js';
import { registerWebhookRoutes, webhookPathStrategy } from './webhook-routes.js';

export type { ApiDeps } from './deps.js';

export const API_PREFIX = '/api/v1';
const BODY_LIMIT = 64 * 1024;

export async function registerApiRoutes(
  app: FastifyInstance,
  deps: ApiDeps,
  parts: {
    index: IndexService;
    webhooks: Webhooks;
    tags: TagParts;
    quotas: QuotaService;
    retention: RetentionParts;
    replication: ReplicationParts;
    trust: TrustParts;
    network: NetworkParts;
    scanning?: ScanParts;
  },
): Promise<void> {
  // Repository names hold slashes: these tell the /repositories/* routes apart (see each file).
  app.addConstraintStrategy(repositoryPathStrategy);
  app.addConstraintStrategy(indexPathStrategy);
  app.addConstraintStrategy(webhookPathStrategy);
  app.addConstraintStrategy(tagPathStrategy);
  app.addConstraintStrategy(trustPathStrategy);
  app.addConstraintStrategy(scanPathStrategy);
  await app.register(
    async (api) => {
      prepareApiScope(api, deps, { bodyLimit: BODY_LIMIT });
      await api.register(swagger, {
        openapi: {
          openapi: '3.1.0',
          info: {
            title: 'Berth API',
            version: '1',
            description:
              'Accounts, organisations, teams, robots, repositories, collaborators, access tokens, the audit log, the index (search, descriptions, stars, comments), webhooks, tag history, immutable-tag rules, retention policies, replication policies, storage quotas, signature trust (policies, verdicts), vulnerability reports, SBOMs and vulnerability policies of a Berth registry.',
          },
          components: {
            securitySchemes: {
              basic: { type: 'http', scheme: 'basic', description: 'username with a password or an access token' },
              bearer: { type: 'http', scheme: 'bearer', description: 'an access token (berth_pat_…)' },
            },
          },
        },
      });

      registerUserRoutes(api, deps);
      registerOrgRoutes(api, deps);
      registerTeamRoutes(api, deps);
      registerRepositoryRoutes(api, deps);
      registerAccessTokenRoutes(api, deps);
      registerAdminRoutes(api, deps);
      registerIndexRoutes(api, deps, parts.index);
      registerWebhookRoutes(api, deps, parts.webhooks);
      registerQuotaRoutes(api, deps, parts.quotas);
      registerTagRoutes(api, deps, parts.tags);
      registerRetentionRoutes(api, deps, parts.retention);
      registerReplicationRoutes(api, deps, parts.replication);
      registerTrustRoutes(api, deps, parts.trust);
      registerNetworkRoutes(api, deps, parts.network);
      if (parts.scanning) registerScanRoutes(api, deps, parts.scanning);
      api.get('/openapi.json', { schema: { hide: true } }, async (_req, reply) =>
        reply.header('Content-Type', 'application/json').send(JSON.stringify(api.swagger())),
      );
    },
    { prefix: API_PREFIX },
  );
}
