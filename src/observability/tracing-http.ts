// One server span per HTTP request, with the caller's W3C trace context (`traceparent`, `tracestate`) as its
// parent. Fastify's own request listener is run inside the span's context (what a `serverFactory` would do,
// while keeping the server Fastify builds with its timeouts and TLS), so the AsyncLocalStorage context manager
// carries the span into hooks, handlers and every database, storage and upstream call they make.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Attributes, context, propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyInstance } from 'fastify';
import { HEALTH_PATHS } from '../http/health-routes.js';
import { v2Route } from '../http/v2-router.js';
import { tracer, tracingEnabled } from './tracing.js';

const spans = new WeakMap<IncomingMessage, Span>();
/** Probes (every few seconds from each kubelet and load balancer) would be most of the traces and tell nothing. */
const UNTRACED = new Set<string>(HEALTH_PATHS);

/** Wraps the app's request listener in server spans (nothing when tracing is off). Call before listen(). */
export function traceRequests(app: FastifyInstance): void {
  if (!tracingEnabled()) return;
  const server = app.server;
  const listeners = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  if (listeners.length !== 1) throw new Error(`tracing: expected Fastify's one request listener, found ${listeners.length}`);
  const handler = listeners[0];
  server.removeListener('request', handler);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (UNTRACED.has((req.url ?? '').split('?')[0])) return context.with(ROOT_CONTEXT, () => handler.call(server, req, res));
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const method = req.method ?? 'GET';
    const span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes: requestAttributes(req, method) }, parent);
    spans.set(req, span);
    res.once('close', () => {
      const status = res.statusCode;
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      if (!res.writableFinished) span.setAttribute('berth.response.aborted', true);
      span.end();
    });
    context.with(trace.setSpan(parent, span), () => handler.call(server, req, res));
  });
  // The route is known once Fastify routed the request: the span is renamed for its template.
  app.addHook('onRequest', async (request) => {
    const span = spans.get(request.raw);
    if (!span) return;
    const route = routeTemplate(request.raw.url ?? '', request.routeOptions.url);
    if (route) {
      span.setAttribute('http.route', route);
      span.updateName(`${request.method} ${route}`);
    }
    // The client's address as trustproxy resolves it (X-Forwarded-For from a trusted proxy only).
    span.setAttribute('client.address', request.ip);
  });
}

/** `/v2/{name}/manifests/{reference}` for the /v2 wildcard route, else Fastify's own route pattern. */
export function routeTemplate(url: string, fastifyRoute: string | undefined): string | undefined {
  if (fastifyRoute === '/v2/*') {
    const q = url.indexOf('?');
    const { template } = v2Route(url.slice('/v2/'.length, q < 0 ? undefined : q));
    return template === '/v2/*' ? undefined : template;
  }
  return fastifyRoute;
}

function requestAttributes(req: IncomingMessage, method: string): Attributes {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const attrs: Attributes = {
    'http.request.method': method,
    // The path only: query strings may carry tokens or upload state.
    'url.path': q < 0 ? url : url.slice(0, q),
    'url.scheme': (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    'network.protocol.version': req.httpVersion,
  };
  const ua = req.headers['user-agent'];
  if (ua) attrs['user_agent.original'] = ua.slice(0, 256);
  const port = req.socket.localPort;
  if (port) attrs['server.port'] = port;
  return attrs;
}
