// Minimal HTTP(S) client for the e2e tests, on node:http/node:https so that we control
// TLS verification per request (self-signed test certificates) and can stream bodies.
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string | number>;
  /** Buffer/string body, or a Readable streamed as-is (chunked unless Content-Length is set). */
  body?: Buffer | string | Readable;
  /** Basic credentials "user:pass". */
  basicAuth?: string;
  /** Accept self-signed certificates (default true: tests use throwaway certs). */
  insecure?: boolean;
  timeoutMs?: number;
}

// no keep-alive: idle pooled sockets would keep test processes alive after their last test
const plainAgent = new http.Agent({ keepAlive: false });
const insecureAgent = new https.Agent({ keepAlive: false, rejectUnauthorized: false });
const verifyingAgent = new https.Agent({ keepAlive: false });

export function request(url: string | URL, opts: HttpOptions = {}): Promise<HttpResponse> {
  const u = typeof url === 'string' ? new URL(url) : url;
  const isHttps = u.protocol === 'https:';
  const headers: Record<string, string | number> = { ...(opts.headers ?? {}) };
  if (opts.basicAuth) headers.Authorization = `Basic ${Buffer.from(opts.basicAuth).toString('base64')}`;
  const body = opts.body;
  if (body !== undefined && !(body instanceof Readable) && headers['Content-Length'] === undefined) {
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  return new Promise<HttpResponse>((resolve, reject) => {
    const reqOpts: https.RequestOptions = {
      method: opts.method ?? 'GET',
      headers,
      hostname: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
    };
    reqOpts.agent = !isHttps ? plainAgent : opts.insecure === false ? verifyingAgent : insecureAgent;
    const req = (isHttps ? https : http).request(reqOpts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.timeoutMs) {
      req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`timeout after ${opts.timeoutMs} ms: ${reqOpts.method} ${u}`)));
    }
    if (body instanceof Readable) {
      body.on('error', (e) => req.destroy(e));
      body.pipe(req);
    } else {
      req.end(body);
    }
  });
}

/** Resolve a Location header against the URL it came from. */
export function resolveLocation(base: string, location: string | string[] | undefined): string {
  if (!location || Array.isArray(location)) throw new Error(`missing/odd Location header: ${String(location)}`);
  return new URL(location, base).toString();
}

export function headerValue(h: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
}
