// Raw OCI distribution uploads for tests that need control no real client gives:
// deterministic pseudo-random blobs, monolithic pushes, and slow streaming PATCHes that can
// be cut off at a chosen point (kill -9 tests).
import { createCipheriv, createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { request, resolveLocation } from './http.js';
import { sleep } from './shared.js';

/** Deterministic pseudo-random bytes: AES-128-CTR keystream of a seed. */
export class RandomBlob {
  readonly key: Buffer;
  private digestCache?: string;
  constructor(
    readonly seed: string,
    readonly size: number,
  ) {
    this.key = createHash('sha256').update(`berth-e2e-blob/${seed}`).digest().subarray(0, 16);
  }
  /** Bytes [start, end) */
  *chunks(chunkSize = 1 << 20, start = 0, end = this.size): Generator<Buffer> {
    // CTR mode: the keystream at byte offset o is block o/16 of the counter sequence
    const aligned = start - (start % 16);
    const iv = Buffer.alloc(16);
    iv.writeBigUInt64BE(BigInt(aligned / 16), 8);
    const c = createCipheriv('aes-128-ctr', this.key, iv);
    if (start > aligned) c.update(Buffer.alloc(start - aligned));
    for (let off = start; off < end; off += chunkSize) {
      const n = Math.min(chunkSize, end - off);
      yield c.update(Buffer.alloc(n));
    }
  }
  bytes(start = 0, end = this.size): Buffer {
    return Buffer.concat([...this.chunks(1 << 20, start, end)]);
  }
  digest(): string {
    if (!this.digestCache) {
      const h = createHash('sha256');
      for (const c of this.chunks()) h.update(c);
      this.digestCache = `sha256:${h.digest('hex')}`;
    }
    return this.digestCache;
  }
}

export interface AuthOpts {
  basicAuth?: string;
}

function authHeader(o: AuthOpts): Record<string, string> {
  return o.basicAuth ? { Authorization: `Basic ${Buffer.from(o.basicAuth).toString('base64')}` } : {};
}

/** POST /v2/<repo>/blobs/uploads/ → absolute upload URL */
export async function startUpload(baseUrl: string, repo: string, o: AuthOpts = {}): Promise<string> {
  const url = `${baseUrl}/v2/${repo}/blobs/uploads/`;
  const r = await request(url, { method: 'POST', headers: { ...authHeader(o), 'Content-Length': 0 }, timeoutMs: 30_000 });
  if (r.status !== 202) throw new Error(`POST ${url} → ${r.status}: ${r.body.toString()}`);
  return resolveLocation(url, r.headers.location);
}

export function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
}

/** Monolithic upload: POST, then PUT ?digest= with the whole blob. Returns the status of the PUT. */
export async function pushBlob(baseUrl: string, repo: string, data: Buffer, o: AuthOpts = {}): Promise<string> {
  const loc = await startUpload(baseUrl, repo, o);
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  const r = await request(withDigest(loc, digest), {
    method: 'PUT',
    headers: { ...authHeader(o), 'Content-Type': 'application/octet-stream' },
    body: data,
    timeoutMs: 60_000,
  });
  if (r.status !== 201) throw new Error(`PUT blob ${digest} to ${repo} → ${r.status}: ${r.body.toString()}`);
  return digest;
}

export async function putManifest(baseUrl: string, repo: string, ref: string, body: Buffer, mediaType: string, o: AuthOpts = {}): Promise<number> {
  const r = await request(`${baseUrl}/v2/${repo}/manifests/${ref}`, {
    method: 'PUT',
    headers: { ...authHeader(o), 'Content-Type': mediaType },
    body,
    timeoutMs: 30_000,
  });
  return r.status;
}

export interface StreamingRequest {
  /** bytes handed to the socket so far */
  readonly sent: number;
  /** true once the whole body was written */
  readonly finished: boolean;
  /** settles with the response, or with the error (a killed server gives ECONNRESET/EPIPE) */
  readonly result: Promise<{ status?: number; headers?: http.IncomingHttpHeaders; body?: string; error?: Error }>;
}

/**
 * Send `blob` (bytes [start, end)) as the body of one request, `chunkSize` at a time,
 * waiting `paceMs` between chunks; chunked transfer encoding unless contentLength is given.
 */
export function streamBody(
  method: 'PATCH' | 'PUT',
  url: string,
  blob: RandomBlob,
  opts: { chunkSize?: number; paceMs?: number; start?: number; end?: number; headers?: Record<string, string | number> } & AuthOpts = {},
): StreamingRequest {
  const u = new URL(url);
  const start = opts.start ?? 0;
  const end = opts.end ?? blob.size;
  const state = { sent: 0, finished: false };
  const result = new Promise<{ status?: number; headers?: http.IncomingHttpHeaders; body?: string; error?: Error }>((resolve) => {
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(
      {
        method,
        hostname: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        headers: { 'Content-Type': 'application/octet-stream', ...authHeader(opts), ...(opts.headers ?? {}) },
        agent: false,
        rejectUnauthorized: false,
      } as https.RequestOptions,
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', (error) => resolve({ error }));
      },
    );
    req.on('error', (error) => resolve({ error }));
    (async () => {
      try {
        for (const chunk of blob.chunks(opts.chunkSize ?? 1 << 20, start, end)) {
          if (req.destroyed) return;
          const ok = req.write(chunk);
          state.sent += chunk.length;
          if (!ok) {
            await new Promise<void>((r) => {
              const done = () => {
                req.off('drain', done);
                req.off('close', done);
                r();
              };
              req.on('drain', done);
              req.on('close', done);
            });
          }
          if (opts.paceMs) await sleep(opts.paceMs);
        }
        req.end(() => {
          state.finished = true;
        });
      } catch (error) {
        resolve({ error: error as Error });
      }
    })();
  });
  return {
    get sent() {
      return state.sent;
    },
    get finished() {
      return state.finished;
    },
    result,
  };
}
