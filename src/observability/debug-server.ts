// The debug listener (registry:2's http.debug.addr): Prometheus metrics on their own address, so
// they never share the registry's port, its network rules or its authentication. With several
// workers the cluster primary runs it and serves the sum of the workers' registries.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BerthConfig } from '../config/index.js';
import { ConfigError } from '../config/errors.js';
import { parseListenAddress } from '../config/values.js';

export type RenderMetrics = () => Promise<{ contentType: string; body: string }>;

export interface DebugServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Listens on http.debug.addr; null when it is not set. Rejects with a ConfigError naming the key when it cannot listen. */
export async function startDebugServer(config: BerthConfig, render: RenderMetrics | null): Promise<DebugServer | null> {
  const { addr, prometheus } = config.http.debug;
  if (!addr) return null;
  const listen = parseListenAddress(addr);
  if (typeof listen === 'string') throw new ConfigError(`http.debug.addr: ${listen}`);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (!render || path !== prometheus.path || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      return;
    }
    render().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
      },
      (err: Error) => {
        // A worker that did not answer (cluster): say so rather than serve a partial sum.
        res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '5' }).end(`metrics unavailable: ${err.message}\n`);
      },
    );
  });
  server.keepAliveTimeout = 75_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ConfigError(`http.debug.addr: cannot listen on ${addr}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`)),
    );
    server.listen({ host: listen.host, port: listen.port }, () => resolve());
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
