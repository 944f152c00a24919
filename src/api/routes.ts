// The JSON REST API (/api/v1): users, organisations, teams, repositories,
// collaborators, access tokens, robots and the audit log.
import type { FastifyInstance } from 'fastify';
import type { AccountServices } from '../auth/token-auth.js';
import type { MetadataDb } from '../metadata/database.js';

export interface ApiDeps extends AccountServices {
  meta: MetadataDb;
}

export async function registerApiRoutes(_app: FastifyInstance, _deps: ApiDeps): Promise<void> {}
