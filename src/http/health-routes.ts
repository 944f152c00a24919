// Health endpoints for load balancers and Kubernetes (docs/operations.md), on the main listener,
// unauthenticated and never refused by network rules (src/net/access-hook.ts):
//   GET /livez   200 while the process runs; no I/O, so a database outage restarts nothing
//   GET /readyz  200 when the database and storage each answer within 2 s, else 503 with each check
//   GET /healthz the same as /readyz, for load balancers configured before the split
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CheckResult } from '../health/checks.js';

export interface ReadinessChecks {
  database: () => Promise<CheckResult>;
  storage: () => Promise<CheckResult>;
}

export const HEALTH_PATHS = ['/livez', '/readyz', '/healthz'] as const;

export function registerHealthRoutes(app: FastifyInstance, checks: ReadinessChecks): void {
  const json = (reply: FastifyReply, status: number, body: unknown) =>
    reply.code(status).header('Content-Type', 'application/json').header('Cache-Control', 'no-store').send(JSON.stringify(body));

  app.route({ method: ['GET', 'HEAD'], url: '/livez', handler: async (_req, reply) => json(reply, 200, { status: 'ok' }) });

  const ready = async (req: FastifyRequest, reply: FastifyReply) => {
    const [database, storage] = await Promise.all([checks.database(), checks.storage()]);
    const up = database.status === 'ok' && storage.status === 'ok';
    for (const [name, c] of [
      ['database', database],
      ['storage', storage],
    ] as const) {
      if (c.status !== 'ok') req.log.warn({ check: name, reason: c.reason, err: c.error }, 'readiness check failed');
    }
    return json(reply, up ? 200 : 503, { status: up ? 'ok' : 'unavailable', checks: { database: checkView(database), storage: checkView(storage) } });
  };
  app.route({ method: ['GET', 'HEAD'], url: '/readyz', handler: ready });
  app.route({ method: ['GET', 'HEAD'], url: '/healthz', handler: ready });
}

function checkView(c: CheckResult): { status: string; ms: number; reason?: string } {
  return { status: c.status, ms: c.ms, ...(c.reason ? { reason: c.reason } : {}) };
}
