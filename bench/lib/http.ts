// A small node:http client for the big transfers (streamed bodies, byte counting, optional hashing).
// Small requests use fetch; see registry.ts.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { Readable } from 'node:stream';

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  bytes: number;
  sha256?: string;
  body?: Buffer;
}

export interface RequestOptions {
  headers?: Record<string, string | number>;
  body?: Buffer | (() => Readable);
  /** What to do with the response body (default: keep it). */
  read?: 'keep' | 'count' | 'hash';
}

export function request(method: string, url: string, opts: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: opts.headers }, (res) => {
      const hash = opts.read === 'hash' ? createHash('sha256') : undefined;
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (hash) hash.update(chunk);
        else if (opts.read !== 'count') chunks.push(chunk);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          bytes,
          sha256: hash ? `sha256:${hash.digest('hex')}` : undefined,
          body: opts.read === 'keep' || opts.read === undefined ? Buffer.concat(chunks) : undefined,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (opts.body === undefined) req.end();
    else if (Buffer.isBuffer(opts.body)) req.end(opts.body);
    else {
      const src = opts.body();
      src.on('error', (e) => req.destroy(e));
      src.pipe(req);
    }
  });
}

export function expectStatus(r: Reply, want: number, what: string): void {
  if (r.status !== want) {
    const body = r.body ? r.body.toString('utf8').slice(0, 300) : '';
    throw new Error(`${what}: expected HTTP ${want}, got ${r.status} ${body}`);
  }
}

/** Resolves a Location header against the server base and appends a query parameter. */
export function withParam(base: string, location: string | undefined, key: string, value: string): string {
  if (!location) throw new Error('response had no Location header');
  const abs = new URL(location, base).toString();
  return `${abs}${abs.includes('?') ? '&' : '?'}${key}=${encodeURIComponent(value)}`;
}

export function location(base: string, r: Reply): string {
  const loc = r.headers.location;
  if (!loc) throw new Error(`HTTP ${r.status} without Location header`);
  return new URL(loc, base).toString();
}

export async function startUpload(base: string, repo: string): Promise<string> {
  const r = await request('POST', `${base}/v2/${repo}/blobs/uploads/`, { headers: { 'Content-Length': 0 } });
  expectStatus(r, 202, 'POST upload');
  return location(base, r);
}

const octet = 'application/octet-stream';

// Pushes send from memory: a file source would be read from disk whenever the VM's proactive reclaim
// (DAMON) has evicted it, which once made whichever server went first in a round look slow.

/** POST, then one PUT ?digest= carrying the whole blob. */
export async function pushMonolithic(base: string, repo: string, blob: Buffer, digest: string) {
  const loc = await startUpload(base, repo);
  const r = await request('PUT', withParam(base, loc, 'digest', digest), {
    headers: { 'Content-Type': octet, 'Content-Length': blob.length },
    body: blob,
  });
  expectStatus(r, 201, 'PUT upload (monolithic)');
}

/** POST, PATCHes of `chunk` bytes with Content-Range, then PUT ?digest= with no body. */
export async function pushChunked(base: string, repo: string, blob: Buffer, digest: string, chunk: number) {
  let loc = await startUpload(base, repo);
  for (let start = 0; start < blob.length; start += chunk) {
    const end = Math.min(start + chunk, blob.length) - 1;
    const r = await request('PATCH', loc, {
      headers: { 'Content-Type': octet, 'Content-Length': end - start + 1, 'Content-Range': `${start}-${end}` },
      body: blob.subarray(start, end + 1),
    });
    expectStatus(r, 202, `PATCH ${start}-${end}`);
    loc = location(base, r);
  }
  const r = await request('PUT', withParam(base, loc, 'digest', digest), { headers: { 'Content-Length': 0 } });
  expectStatus(r, 201, 'PUT upload (chunked)');
}

/**
 * Timed pull with curl (following redirects), the body discarded. Node's own client tops out near
 * 2 GB/s on loopback here, below either server, so it would measure itself; curl does not.
 */
export function curlPull(base: string, repo: string, digest: string): Promise<{ bytes: number; seconds: number }> {
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      ['-sS', '-L', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', `${base}/v2/${repo}/blobs/${digest}`],
      (err, stdout) => {
        if (err) return reject(err);
        const [status, bytes, seconds] = stdout.trim().split(' ').map(Number);
        if (status !== 200) return reject(new Error(`curl GET blob: HTTP ${status}`));
        resolve({ bytes, seconds });
      },
    );
  });
}

/**
 * POST (Node), then `curl -T file` PUT ?digest= of the whole file, as a user with curl would push: curl
 * sends Content-Length and its default `Expect: 100-continue`. Resolves when curl exits with the 201.
 */
export async function curlPush(base: string, repo: string, file: string, digest: string): Promise<void> {
  const url = withParam(base, await startUpload(base, repo), 'digest', digest);
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      'curl',
      ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-T', file, '-H', 'Content-Type: application/octet-stream', url],
      { maxBuffer: 1 << 20 },
      (err, stdout) => (err ? reject(err) : resolve(stdout.trim())),
    ),
  );
  if (out !== '201') throw new Error(`curl PUT upload: HTTP ${out}`);
}

/** GET a blob, following redirects; the body is counted (and hashed if asked), never kept. */
export async function pullBlob(base: string, repo: string, digest: string, hash = false): Promise<Reply> {
  let url = `${base}/v2/${repo}/blobs/${digest}`;
  for (let hop = 0; hop < 4; hop++) {
    const r = await request('GET', url, { read: hash ? 'hash' : 'count' });
    if (r.status >= 300 && r.status < 400 && r.headers.location) {
      url = new URL(r.headers.location, url).toString();
      continue;
    }
    expectStatus(r, 200, 'GET blob');
    return r;
  }
  throw new Error('too many redirects');
}

/** HEAD a blob and check its size and digest headers. */
export async function checkBlob(base: string, repo: string, digest: string, size: number): Promise<void> {
  const r = await request('HEAD', `${base}/v2/${repo}/blobs/${digest}`);
  expectStatus(r, 200, 'HEAD blob');
  if (Number(r.headers['content-length']) !== size) throw new Error(`HEAD blob: Content-Length ${r.headers['content-length']} != ${size}`);
  const got = r.headers['docker-content-digest'];
  if (got !== undefined && got !== digest) throw new Error(`HEAD blob: Docker-Content-Digest ${got} != ${digest}`);
}
