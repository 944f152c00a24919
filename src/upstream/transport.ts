// One HTTP request to an upstream registry or its token realm, with the client's
// timeouts: `timeoutMs` from the start to the response headers (for a streamed upload:
// from its last byte), `bodyIdleMs` without a byte moving while a body flows. Connections are
// pooled (keep-alive); under an OutboundGuard each new socket is made by guardedConnection,
// so every address is checked when it is connected to, and a pooled one was checked then.
import http from 'node:http';
import https from 'node:https';
import type { Duplex, Readable } from 'node:stream';
import { guardedConnection, OutboundRefused, type OutboundGuard } from '../net/outbound-connect.js';
import { failed, outboundSpan, SpanStatusCode } from '../observability/tracing.js';
import { UpstreamError } from './errors.js';

export interface TransportOptions {
  timeoutMs: number;
  bodyIdleMs: number;
  agents: Agents;
  userAgent: string;
}

export interface SendOptions {
  method: string;
  url: URL;
  headers?: Record<string, string | number>;
  /** A Buffer (replayable) or a stream sent once, never buffered. */
  body?: Buffer | Readable;
}

/** "GET http://host:5000/v2/x/manifests/y": a request named for messages (no query, no credentials). */
export function describe(method: string, url: URL): string {
  return `${method} ${url.origin}${url.pathname}`;
}

export interface Agents {
  http: http.Agent;
  https: https.Agent;
}

const POOL = { keepAlive: true, maxSockets: 64 };

/** Keep-alive agents; with a guard, their sockets come from guardedConnection. */
export function keepAliveAgents(guard: OutboundGuard | null): Agents {
  if (!guard) return { http: new http.Agent(POOL), https: new https.Agent(POOL) };
  const plain = guardedConnection(guard, false);
  const secure = guardedConnection(guard, true);
  class GuardedHttp extends http.Agent {
    override createConnection(opts: http.ClientRequestArgs, done?: (err: Error | null, stream: Duplex) => void) {
      return plain(opts as never, done as never);
    }
  }
  class GuardedHttps extends https.Agent {
    override createConnection(opts: https.RequestOptions, done?: (err: Error | null, stream: Duplex) => void) {
      return secure(opts as never, done as never);
    }
  }
  return { http: new GuardedHttp(POOL), https: new GuardedHttps(POOL) };
}

/** Sends one request; resolves with the response once its headers arrived. Failures are UpstreamErrors. */
export async function send(t: TransportOptions, o: SendOptions): Promise<http.IncomingMessage> {
  try {
    return await sendOnce(t, o);
  } catch (err) {
    // A pooled socket the server closed while idle: the request never reached it; sent again once.
    if ((err as { staleSocket?: boolean }).staleSocket && !(o.body && !Buffer.isBuffer(o.body))) return sendOnce(t, o);
    throw err;
  }
}

function sendOnce(t: TransportOptions, o: SendOptions): Promise<http.IncomingMessage> {
  const { method, url } = o;
  const what = describe(method, url);
  const secure = url.protocol === 'https:';
  if (!secure && url.protocol !== 'http:') return Promise.reject(new UpstreamError('invalid', `${what}: only http and https URLs are followed`));
  const streamed = o.body !== undefined && !Buffer.isBuffer(o.body) ? (o.body as Readable) : null;
  const headers: Record<string, string | number> = { 'User-Agent': t.userAgent, ...o.headers };
  if (Buffer.isBuffer(o.body)) headers['Content-Length'] = o.body.length;
  // A client span (until the response body ends) whose trace context goes upstream in `traceparent`.
  const span = outboundSpan(
    method,
    {
      'http.request.method': method,
      'server.address': url.hostname,
      'server.port': Number(url.port) || (secure ? 443 : 80),
      // No query (token realms take scopes and accounts there), no credentials.
      'url.full': `${url.origin}${url.pathname}`,
    },
    headers,
  );

  return new Promise((resolve, reject) => {
    let settled = false;
    let headersTimer: NodeJS.Timeout | undefined;
    const fail = (err: UpstreamError) => {
      if (settled) return;
      settled = true;
      clearTimeout(headersTimer);
      req.destroy();
      streamed?.destroy();
      if (span) {
        failed(span, err);
        span.end();
      }
      reject(err);
    };
    const armHeadersTimer = () => {
      if (settled) return;
      headersTimer = setTimeout(() => fail(new UpstreamError('unavailable', `${what}: no answer within ${t.timeoutMs} ms`)), t.timeoutMs);
    };
    const mod = secure ? https : http;
    const req = mod.request(url, {
      method,
      headers,
      agent: secure ? t.agents.https : t.agents.http,
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof UpstreamError) return fail(err);
      if (err instanceof OutboundRefused)
        return fail(new UpstreamError('denied', `${what}: refused by the outbound policy (${err.message})`, { refused: true }));
      const e = new UpstreamError('unavailable', `${what}: ${err.code && !err.message.includes(err.code) ? `${err.code}: ` : ''}${err.message}`);
      if (req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) Object.assign(e, { staleSocket: true });
      fail(e);
    });
    req.on('response', (res) => {
      if (settled) {
        res.destroy();
        return;
      }
      settled = true;
      clearTimeout(headersTimer);
      if (span) {
        const status = res.statusCode ?? 0;
        span.setAttribute('http.response.status_code', status);
        // A 401 (the token challenge) or a 404 (a tag the upstream lacks) is an answer the client handles.
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        res.once('close', () => span.end());
      }
      // From here on: a body that stops moving for bodyIdleMs fails with 'unavailable'.
      req.setTimeout(t.bodyIdleMs, () => res.destroy(new UpstreamError('unavailable', `${what}: the body stalled for ${t.bodyIdleMs} ms`)));
      res.on('error', () => {}); // surfaced to whoever reads the body
      resolve(res);
    });
    if (streamed) {
      // While the upload streams, only an idle socket is a timeout; the answer is waited for after the last byte.
      req.setTimeout(t.bodyIdleMs, () => fail(new UpstreamError('unavailable', `${what}: the upload stalled for ${t.bodyIdleMs} ms`)));
      req.on('finish', armHeadersTimer);
      streamed.on('error', (err) =>
        fail(err instanceof UpstreamError ? err : new UpstreamError('invalid', `${what}: reading the body to send failed: ${err.message}`)),
      );
      streamed.pipe(req);
    } else {
      armHeadersTimer();
      req.end(o.body);
    }
  });
}

/** Reads a whole (small) body, refusing more than `limit` bytes with 'invalid'. */
export function readBody(res: http.IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    res.destroy();
    return Promise.reject(new UpstreamError('invalid', `${what}: the body of ${declared} bytes is over the limit of ${limit}`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (err: UpstreamError) => {
      if (done) return;
      done = true;
      reject(err);
      res.destroy();
    };
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) return fail(new UpstreamError('invalid', `${what}: the body is over the limit of ${limit} bytes`));
      chunks.push(c);
    });
    res.on('end', () => {
      done = true;
      resolve(Buffer.concat(chunks));
    });
    res.on('error', (err) => fail(asUpstreamError(err, what)));
    res.on('aborted', () => fail(cutShort(res, what)));
  });
}

/** The error of a body that ended early: the one it was destroyed with (a stall), else a closed connection. */
export function cutShort(res: http.IncomingMessage, what: string): UpstreamError {
  return res.errored ? asUpstreamError(res.errored, what) : new UpstreamError('unavailable', `${what}: the connection closed before the body ended`);
}

/** Discards a body we do not need (so a keep-alive socket goes back to the pool). */
export function discard(res: http.IncomingMessage): void {
  res.on('error', () => {});
  res.resume();
}

export function asUpstreamError(err: Error, what: string): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  return new UpstreamError('unavailable', `${what}: ${code && !err.message.includes(code) ? `${code}: ` : ''}${err.message}`);
}
