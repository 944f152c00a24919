// One webhook request: POST with an overall timeout, no redirects followed, at most
// the first KiB of the response kept. Under a guard (every webhook but the operator's
// configured endpoints), only addresses the outbound policy allows are connected to,
// checked on the addresses actually used (src/net/outbound-connect.ts).
import http from 'node:http';
import https from 'node:https';
import { guardedConnection, OutboundRefused, type OutboundGuard } from '../net/outbound-connect.js';
import { outboundSpan, SpanStatusCode } from '../observability/tracing.js';

export const RESPONSE_KEEP_BYTES = 1024;

export interface PostResult {
  statusCode: number | null;
  error: string | null;
  responseBody: string | null;
  durationMs: number;
  /** Set when the outbound policy refused the destination: nothing was sent. */
  refused?: { reason: string; address: string };
}

/** POSTs `body`; `guard` null means any destination (operator-configured endpoints only). */
export function post(
  url: string,
  headers: Record<string, string | string[]>,
  body: string,
  timeoutMs: number,
  guard: OutboundGuard | null,
): Promise<PostResult> {
  const started = performance.now();
  const done = (r: Omit<PostResult, 'durationMs'>): PostResult => ({ ...r, durationMs: Math.round(performance.now() - started) });
  return new Promise((resolve) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return resolve(done({ statusCode: null, error: 'invalid URL', responseBody: null }));
    }
    const mod = u.protocol === 'https:' ? https : http;
    // A delivery is background work: a trace of its own (the push that queued it may be long over, on
    // another replica), whose context the receiver gets in `traceparent`.
    const sent: Record<string, string | string[] | number> = { ...headers, 'Content-Length': Buffer.byteLength(body) };
    const span = outboundSpan(
      'POST',
      {
        'http.request.method': 'POST',
        'server.address': u.hostname,
        'server.port': Number(u.port) || (u.protocol === 'https:' ? 443 : 80),
        // No query, no credentials: a webhook URL's query may hold a token.
        'url.full': `${u.origin}${u.pathname}`,
      },
      sent,
      true,
    );
    let settled = false;
    const finish = (r: Omit<PostResult, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (span) {
        if (r.statusCode !== null) span.setAttribute('http.response.status_code', r.statusCode);
        if (r.error !== null || (r.statusCode ?? 0) >= 400) span.setStatus({ code: SpanStatusCode.ERROR, ...(r.error ? { message: r.error } : {}) });
        span.end();
      }
      resolve(done(r));
    };
    const req = mod.request(
      u,
      {
        method: 'POST',
        headers: sent,
        ...(guard ? { createConnection: guardedConnection(guard, u.protocol === 'https:') as never } : { agent: false }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        const end = () => finish({ statusCode: res.statusCode ?? null, error: null, responseBody: Buffer.concat(chunks).toString('utf8') });
        res.on('data', (c: Buffer) => {
          if (kept < RESPONSE_KEEP_BYTES) {
            chunks.push(c.subarray(0, RESPONSE_KEEP_BYTES - kept));
            kept += Math.min(c.length, RESPONSE_KEEP_BYTES - kept);
            if (kept >= RESPONSE_KEEP_BYTES) {
              end();
              res.destroy();
            }
          }
        });
        res.on('end', end);
        res.on('error', end);
        res.on('close', end);
      },
    );
    const timer = setTimeout(() => {
      finish({ statusCode: null, error: `timed out after ${timeoutMs} ms`, responseBody: null });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof OutboundRefused)
        return finish({ statusCode: null, error: `refused: ${err.message}`, responseBody: null, refused: { reason: err.message, address: err.address } });
      finish({ statusCode: null, error: err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message, responseBody: null });
    });
    req.end(body);
  });
}
