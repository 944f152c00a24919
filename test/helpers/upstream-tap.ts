// A request-counting HTTP proxy in front of an upstream registry (or its token server), for the
// mirror tests: it forwards everything as it streams (no buffering), records each request by method
// and kind, and can be switched to misbehave — answer 429 (with Retry-After) or 503, hang, refuse
// connections (its port closed), or cut a body half-way — for all requests or only some kinds.
//
//   const tap = await startTap(upstream.url);          // point the mirror at tap.url
//   …; assert.equal(tap.count({ kind: 'blob', method: 'GET' }), 0);
//   tap.setMode('429', { retryAfter: 7 });  tap.setMode('refuse');  tap.setMode('pass');
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { sleep } from './shared.js';

export type TapMode = 'pass' | '429' | '503' | 'hang' | 'refuse' | 'cut';

export type TapKind = 'base' | 'manifest' | 'blob' | 'upload' | 'tags' | 'referrers' | 'catalog' | 'token' | 'other';

export interface TapRequest {
  method: string;
  /** path and query as received */
  url: string;
  kind: TapKind;
  /** repository name for /v2/<name>/… requests */
  repo?: string;
  /** tag or digest of manifest, blob and referrers requests */
  ref?: string;
  /** the status sent to the client (0 while in flight or when hung/cut before headers) */
  status: number;
  /** who answered: the upstream, or the tap itself (429, 503) */
  by: 'upstream' | 'tap' | 'none';
  /** response body bytes sent to the client */
  bytesOut: number;
  /** the mode the request met */
  mode: TapMode;
  /** request headers of interest */
  authorization: boolean;
  accept?: string;
  done: boolean;
  /** Date.now() when the request arrived, and ms until the response ended (or was destroyed) */
  at: number;
  ms?: number;
}

export interface TapFilter {
  method?: string;
  kind?: TapKind;
  repo?: string;
  ref?: string;
  /** substring or pattern of the url */
  url?: string | RegExp;
  /** only requests the upstream answered (default: all) */
  upstream?: boolean;
  status?: number;
}

export interface ModeOptions {
  /** Only requests of these kinds misbehave; others pass (default: all kinds). */
  kinds?: TapKind[];
  /** Retry-After seconds sent with 429 and 503 (default 1 for 429, none for 503). */
  retryAfter?: number;
  /** For 'cut': bytes of the body sent before the connection is destroyed (default half of Content-Length). */
  cutAfter?: number;
}

export interface Tap {
  readonly url: string;
  readonly hostPort: string;
  readonly port: number;
  readonly requests: TapRequest[];
  readonly mode: TapMode;
  setMode(mode: TapMode, opts?: ModeOptions): Promise<void>;
  /** Slow response bodies down to this many bytes per second (null: full speed). */
  throttle(bytesPerSecond: number | null): void;
  /** Requests matching the filter. */
  list(f?: TapFilter): TapRequest[];
  count(f?: TapFilter): number;
  /** Blob downloads (GET answered 200/206 by the upstream), optionally of one digest. */
  blobDownloads(digest?: string): number;
  /** Forget recorded requests. */
  reset(): void;
  /** Resolves once pred holds over the recorded requests (polls), or rejects after timeoutMs. */
  waitFor(pred: (requests: TapRequest[]) => boolean, timeoutMs?: number): Promise<void>;
  /** Counts by "METHOD kind" ("GET blob": 3, …), for failure messages. */
  summary(): Record<string, number>;
  close(): Promise<void>;
}

const V2 = /^\/v2\/(.+)\/(manifests|blobs|tags|referrers)\/(.*)$/;

export function classify(rawUrl: string): Pick<TapRequest, 'kind' | 'repo' | 'ref'> {
  const p = new URL(rawUrl, 'http://tap').pathname;
  if (p === '/v2/' || p === '/v2') return { kind: 'base' };
  if (p === '/v2/_catalog') return { kind: 'catalog' };
  if (/\/token$/.test(p)) return { kind: 'token' };
  const m = V2.exec(p);
  if (!m) return { kind: 'other' };
  const [, repo, what, rest] = m;
  if (what === 'blobs' && rest.startsWith('uploads')) return { kind: 'upload', repo };
  if (what === 'blobs') return { kind: 'blob', repo, ref: rest };
  if (what === 'manifests') return { kind: 'manifest', repo, ref: rest };
  if (what === 'referrers') return { kind: 'referrers', repo, ref: rest };
  return { kind: 'tags', repo };
}

export async function startTap(target: string): Promise<Tap> {
  const t = new URL(target);
  if (t.protocol !== 'http:') throw new Error('the tap fronts plain-HTTP upstreams only');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const requests: TapRequest[] = [];
  let mode: TapMode = 'pass';
  let modeOpts: ModeOptions = {};
  let bytesPerSecond: number | null = null;
  const sockets = new Set<Socket>();
  const hung = new Set<http.ServerResponse>();

  const server = http.createServer((req, res) => {
    const rec: TapRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      ...classify(req.url ?? ''),
      status: 0,
      by: 'none',
      bytesOut: 0,
      mode: 'pass',
      authorization: Boolean(req.headers.authorization),
      accept: req.headers.accept,
      done: false,
      at: Date.now(),
    };
    requests.push(rec);
    const applies = !modeOpts.kinds || modeOpts.kinds.includes(rec.kind);
    const m: TapMode = applies ? mode : 'pass';
    rec.mode = m;
    res.on('close', () => {
      rec.done = true;
      rec.ms = Date.now() - rec.at;
      hung.delete(res);
    });
    if (m === 'hang') {
      hung.add(res);
      req.resume();
      return;
    }
    if (m === '429' || m === '503') {
      req.resume();
      const retryAfter = modeOpts.retryAfter ?? (m === '429' ? 1 : undefined);
      const code = m === '429' ? 'TOOMANYREQUESTS' : 'UNAVAILABLE';
      const body = JSON.stringify({ errors: [{ code, message: `tap: ${m}`, detail: null }] });
      rec.status = Number(m);
      rec.by = 'tap';
      res.writeHead(Number(m), {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        ...(retryAfter !== undefined ? { 'Retry-After': String(retryAfter) } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
      rec.bytesOut = req.method === 'HEAD' ? 0 : Buffer.byteLength(body);
      return;
    }
    const up = http.request({ hostname: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers, agent }, (upRes) => {
      rec.status = upRes.statusCode ?? 0;
      rec.by = 'upstream';
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      let body: NodeJS.ReadableStream = upRes;
      if (m === 'cut') {
        const len = Number(upRes.headers['content-length'] ?? 0);
        body = upRes.pipe(cutAfter(modeOpts.cutAfter ?? Math.floor(len / 2), () => res.destroy()));
      }
      if (bytesPerSecond) body = body.pipe(slow(bytesPerSecond));
      body.on('data', (c: Buffer) => {
        rec.bytesOut += c.length;
      });
      body.pipe(res);
    });
    up.on('error', (e) => {
      if (res.headersSent) return void res.destroy();
      rec.status = 502;
      rec.by = 'tap';
      res.writeHead(502, { 'Content-Type': 'text/plain' }).end(`tap: upstream ${e.message}`);
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const dropAll = () => {
    for (const r of hung) r.destroy();
    hung.clear();
    for (const s of sockets) s.destroy();
  };
  const listening = () => server.listening;
  const closeServer = () =>
    new Promise<void>((resolve) => {
      if (!listening()) return resolve();
      server.close(() => resolve());
      dropAll();
    });
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      if (listening()) return resolve();
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });

  const matches = (r: TapRequest, f: TapFilter) =>
    (f.method === undefined || r.method === f.method) &&
    (f.kind === undefined || r.kind === f.kind) &&
    (f.repo === undefined || r.repo === f.repo) &&
    (f.ref === undefined || r.ref === f.ref) &&
    (f.status === undefined || r.status === f.status) &&
    (!f.upstream || r.by === 'upstream') &&
    (f.url === undefined || (typeof f.url === 'string' ? r.url.includes(f.url) : f.url.test(r.url)));

  const tap: Tap = {
    url: `http://127.0.0.1:${port}`,
    hostPort: `127.0.0.1:${port}`,
    port,
    requests,
    get mode() {
      return mode;
    },
    async setMode(next, opts = {}) {
      if (mode === 'hang' && next !== 'hang') {
        for (const r of hung) r.destroy();
        hung.clear();
      }
      mode = next;
      modeOpts = opts;
      if (next === 'refuse') await closeServer();
      else await listen();
    },
    throttle(bps) {
      bytesPerSecond = bps;
    },
    list: (f = {}) => requests.filter((r) => matches(r, f)),
    count: (f = {}) => requests.filter((r) => matches(r, f)).length,
    blobDownloads: (digest) =>
      requests.filter(
        (r) =>
          r.kind === 'blob' &&
          r.method === 'GET' &&
          r.by === 'upstream' &&
          (r.status === 200 || r.status === 206) &&
          (digest === undefined || r.ref === digest),
      ).length,
    reset() {
      requests.length = 0;
    },
    async waitFor(pred, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pred(requests)) {
        if (Date.now() > deadline) throw new Error(`tap: condition not met within ${timeoutMs} ms; requests: ${JSON.stringify(tap.summary())}`);
        await sleep(20);
      }
    },
    summary() {
      const out: Record<string, number> = {};
      for (const r of requests) out[`${r.method} ${r.kind}`] = (out[`${r.method} ${r.kind}`] ?? 0) + 1;
      return out;
    },
    async close() {
      await closeServer();
      agent.destroy();
    },
  };
  return tap;
}

/** Passes the first n bytes, then calls onCut (which destroys the response) and swallows the rest. */
function cutAfter(n: number, onCut: () => void): Transform {
  let sent = 0;
  let cut = false;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (cut) return cb();
      const room = n - sent;
      if (chunk.length < room) {
        sent += chunk.length;
        return cb(null, chunk);
      }
      cut = true;
      this.push(chunk.subarray(0, room));
      // let the partial chunk reach the socket before it is destroyed
      setTimeout(onCut, 50);
      cb();
    },
  });
}

/** Delays chunks so that the stream averages at most bps bytes per second. */
function slow(bps: number): Transform {
  const start = Date.now();
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      // split so that a big chunk trickles out instead of arriving in one burst after a long pause
      const step = Math.max(1024, Math.floor(bps / 20));
      const pieces: Buffer[] = [];
      for (let i = 0; i < chunk.length; i += step) pieces.push(chunk.subarray(i, i + step));
      const next = (): void => {
        const piece = pieces.shift();
        if (!piece) {
          cb();
          return;
        }
        total += piece.length;
        const due = start + (total / bps) * 1000 - Date.now();
        this.push(piece);
        if (due > 0) setTimeout(next, due);
        else next();
      };
      next();
    },
  });
}
