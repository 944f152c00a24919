// In-process Berth servers for the API tests (test/api/*.test.ts), plus small
// helpers to push blobs and manifests and to check OCI error bodies.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { createApp, openMetadata, type AppParts } from '../../src/app.js';
import { defaultConfig, type BerthConfig, type DeepPartial } from '../../src/config/index.js';
import type { MetadataDb } from '../../src/metadata/database.js';
import { freshSchema, type PgSchema } from './postgres.js';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export function digestOf(data: Uint8Array | string, algorithm: 'sha256' | 'sha512' = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** Deterministic-length random bytes (each call differs, so digests never collide across tests). */
export function randomBlob(size: number): Buffer {
  return randomBytes(size);
}

// ---------------------------------------------------------------------------------------
// Servers

export interface TestServer {
  app: FastifyInstance;
  /** e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  /** Storage root (and database location). */
  dir: string;
  config: BerthConfig;
  /** Every route as registered (method, url, schema, config): the OpenAPI check compares them with the document. */
  routes: RouteOptions[];
  /**
   * /api/v1 replies whose JSON differs from what the handler returned: a response schema dropped
   * or changed a field. close() fails when there is any.
   */
  serializationMismatches: string[];
  /** The metadata database, when started with `exposeMeta` (a test may close it to make every query fail). */
  meta?: MetadataDb;
  /** How many route handlers have returned or thrown so far. */
  handled(): number;
  /**
   * Resolves once `count` route handlers have returned or thrown and none is running. A handler
   * runs its cleanup before it settles, also when its client went away and no answer is sent
   * (Fastify's onResponse never fires then): after this, "nothing was stored" is a fact.
   */
  settled(count: number): Promise<void>;
  /** Stops the server; keeps the directory. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Storage root; a fresh temp dir when omitted. */
  dir?: string;
  /** Merged over the test defaults (silent log, deletes enabled). */
  config?: DeepPartial<BerthConfig>;
  /** Protocol of `url` (set "https" with http.tls). */
  protocol?: 'http' | 'https';
  /** Parts handed to the composition root (e.g. a resolver for outbound requests). */
  parts?: Partial<AppParts>;
  /** Open the metadata database here and hand it to the app, as TestServer.meta. */
  exposeMeta?: boolean;
}

/** A fresh temp directory (removed by the caller, e.g. with `removeDir` in `after`). */
export function tempDir(prefix = 'berth-api-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  const schema = pgSchemas.get(dir);
  if (schema) {
    pgSchemas.delete(dir);
    // In the background (this is synchronous); the open connection keeps the process alive until it is done.
    void schema.then((s) => s.drop()).catch(() => {});
  }
}

/**
 * BERTH_TEST_METADATA=postgres (scripts/test.sh's second pass): servers keep their metadata
 * in PostgreSQL instead of SQLite, one fresh schema per storage directory, so a server
 * restarted on the same directory finds its data and test files never share rows.
 */
const testMetadata = process.env.BERTH_TEST_METADATA ?? 'sqlite';
if (testMetadata !== 'sqlite' && testMetadata !== 'postgres')
  throw new Error(`BERTH_TEST_METADATA must be sqlite or postgres, not ${JSON.stringify(testMetadata)}`);
const pgSchemas = new Map<string, Promise<PgSchema>>();

/** The PostgreSQL URL a test server on `dir` uses, or undefined (SQLite, or the test chose its own database). */
async function testPostgresUrl(dir: string, config: DeepPartial<BerthConfig> | undefined): Promise<string | undefined> {
  if (testMetadata !== 'postgres' || config?.metadata?.postgres) return undefined;
  let schema = pgSchemas.get(dir);
  if (!schema) {
    schema = freshSchema('api');
    pgSchemas.set(dir, schema);
  }
  return (await schema).url;
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b)
        ? merge(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** Starts Berth in this process on 127.0.0.1 and a free port. */
export async function startServer(opts: StartOptions = {}): Promise<TestServer> {
  const dir = opts.dir ?? tempDir();
  const pgUrl = await testPostgresUrl(dir, opts.config);
  const overrides = merge(
    {
      // No background garbage collection or retention: a test that wants one runs it (backgroundOf(app)).
      storage: { filesystem: { rootdirectory: dir }, delete: { enabled: true }, gc: { enabled: false } },
      retention: { enabled: false },
      log: { level: 'silent', accesslog: { disabled: true } },
      ...(pgUrl ? { metadata: { postgres: { url: pgUrl, poolsize: 4 } } } : {}),
    },
    (opts.config ?? {}) as Record<string, unknown>,
  );
  const config = defaultConfig(overrides as DeepPartial<BerthConfig>);
  const meta = opts.exposeMeta ? await openMetadata(config) : undefined;
  const routes: RouteOptions[] = [];
  const serializationMismatches: string[] = [];
  const handlers = new HandlerTally();
  const onRoute = (route: RouteOptions) => {
    watchRoute(routes, serializationMismatches)(route);
    handlers.wrap(route);
  };
  const app = await createApp(config, { ...opts.parts, ...(meta ? { meta } : {}), onRoute });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const url = `${opts.protocol ?? 'http'}://127.0.0.1:${port}`;
  const close = async () => {
    await closeApp(app);
    await meta?.close().catch(() => {}); // the test may have closed it already
    assert.deepEqual(serializationMismatches, [], 'a response schema dropped or changed fields the handler returned');
  };
  return {
    app,
    url,
    dir,
    config,
    routes,
    serializationMismatches,
    ...(meta ? { meta } : {}),
    handled: () => handlers.settledCount,
    settled: (count) => handlers.settled(count),
    close,
  };
}

/** Counts route handlers as they start and settle (TestServer.handled and settled). */
class HandlerTally {
  running = 0;
  settledCount = 0;
  private waiters: (() => void)[] = [];

  wrap(route: RouteOptions): void {
    const handler = route.handler;
    const tally = this;
    const done = () => {
      this.running--;
      this.settledCount++;
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    };
    route.handler = function (this: FastifyInstance, req: FastifyRequest, reply: FastifyReply) {
      tally.running++;
      let out: unknown;
      try {
        out = handler.call(this, req, reply);
      } catch (err) {
        done();
        throw err;
      }
      if (out instanceof Promise) return out.finally(done);
      done();
      return out;
    } as RouteOptions['handler'];
  }

  async settled(count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.settledCount < count || this.running > 0) {
      const left = deadline - Date.now();
      assert.ok(left > 0, `the server settled ${this.settledCount} of ${count} handlers (${this.running} still running) within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

const asArray = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

/**
 * Records each route; for /api/v1 routes, compares what the handler returned with the JSON sent
 * (fast-json-stringify drops fields a response schema does not list and coerces types).
 */
function watchRoute(routes: RouteOptions[], mismatches: string[]) {
  return (route: RouteOptions) => {
    routes.push(route);
    if (!route.url.startsWith('/api/v1/')) return;
    const handed = new WeakMap<FastifyRequest, unknown>();
    const capture = async (req: FastifyRequest, _reply: FastifyReply, payload: unknown) => {
      handed.set(req, payload);
      return payload;
    };
    const compare = async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
      if (handed.has(req) && typeof payload === 'string') {
        const returned = JSON.parse(JSON.stringify(handed.get(req)));
        if (!isDeepStrictEqual(returned, JSON.parse(payload))) {
          mismatches.push(
            `${req.method} ${route.url} (${reply.statusCode}): the handler returned ${JSON.stringify(returned).slice(0, 400)} but ${payload.slice(0, 400)} was sent`,
          );
        }
      }
      return payload;
    };
    route.preSerialization = [...asArray(route.preSerialization), capture] as RouteOptions['preSerialization'];
    route.onSend = [...asArray(route.onSend), compare] as RouteOptions['onSend'];
  };
}

/**
 * app.close(), working around a race: a connection whose last response is still being
 * finished when close() starts is not "idle" yet, so Node keeps it open until the 75 s
 * keep-alive timeout. Closing idle connections again until close() resolves avoids that.
 */
export async function closeApp(app: FastifyInstance): Promise<void> {
  const timer = setInterval(() => app.server.closeIdleConnections(), 20);
  try {
    await app.close();
  } finally {
    clearInterval(timer);
  }
}

// ---------------------------------------------------------------------------------------
// Requests

/**
 * A Buffer typed as a fetch body. (TS 5.9's lib types want Uint8Array<ArrayBuffer>; a
 * Buffer is one at runtime, but its declared type says ArrayBufferLike.)
 */
export function asBody(bytes: Uint8Array): BodyInit {
  return bytes as unknown as BodyInit;
}

/** fetch relative to a base URL. */
export function api(base: string, p: string, init: RequestInit = {}): Promise<Response> {
  return fetch(base + p, init);
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A request through node:http, which sends the path verbatim (fetch would normalise
 * "..", and cannot send some of the malformed requests the tests need).
 */
export function rawRequest(
  base: string,
  method: string,
  p: string,
  headers: Record<string, string | number> = {},
  body?: Buffer | string,
): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: Number(u.port), method, path: p, headers, agent: false }, (res) => readRaw(res).then(resolve, reject));
    req.on('error', reject);
    req.end(body);
  });
}

export interface OciErrorBody {
  errors: { code: string; message: string; detail?: unknown }[];
}

/** Asserts the spec's error body: {"errors":[{"code","message"}...]}, every code a string. */
export function assertErrorBody(text: string, code?: string, context = ''): OciErrorBody {
  let body: OciErrorBody;
  try {
    body = JSON.parse(text) as OciErrorBody;
  } catch {
    assert.fail(`${context}: error body is not JSON: ${JSON.stringify(text.slice(0, 200))}`);
  }
  assert.ok(body && Array.isArray(body.errors) && body.errors.length > 0, `${context}: no "errors" array in ${text.slice(0, 200)}`);
  for (const e of body.errors) {
    assert.equal(typeof e.code, 'string', `${context}: error code must be a string`);
    assert.equal(typeof e.message, 'string', `${context}: error message must be a string`);
  }
  if (code !== undefined) {
    assert.ok(
      body.errors.some((e) => e.code === code),
      `${context}: expected error code ${code}, got ${body.errors.map((e) => e.code).join(', ')}`,
    );
  }
  return body;
}

/** Asserts status and OCI error code of a fetch Response (consumes the body). */
export async function expectError(res: Response, status: number, code?: string, context = ''): Promise<OciErrorBody> {
  const text = await res.text();
  const where = `${context} ${res.url}`.trim();
  assert.equal(res.status, status, `${where}: expected ${status}, got ${res.status}: ${text.slice(0, 300)}`);
  assert.match(res.headers.get('content-type') ?? '', /json/, `${where}: error Content-Type`);
  return assertErrorBody(text, code, where);
}

/** Reads a whole http(s) response. */
export function readRaw(res: http.IncomingMessage): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    res.on('error', reject);
  });
}

/** Same as expectError for a RawResponse. */
export function expectRawError(res: RawResponse, status: number, code?: string, context = ''): OciErrorBody {
  const text = res.body.toString('utf8');
  assert.equal(res.status, status, `${context}: expected ${status}, got ${res.status}: ${text.slice(0, 300)}`);
  assert.match(String(res.headers['content-type'] ?? ''), /json/, `${context}: error Content-Type`);
  return assertErrorBody(text, code, context);
}

/** The offset in a Range response header ("0-<end>", "bytes=0-<end>" tolerated) → bytes received. */
export function rangeEnd(header: string | null | undefined): number {
  assert.ok(header, 'missing Range header');
  const m = /^(?:bytes=)?0-(\d+)$/.exec(header);
  assert.ok(m, `malformed Range header ${JSON.stringify(header)}`);
  return Number(m[1]);
}

// ---------------------------------------------------------------------------------------
// Push helpers

export interface PushedBlob {
  digest: string;
  size: number;
  bytes: Buffer;
}

/** Uploads a blob with POST + PUT ?digest= (asserting 202 then 201); returns its digest. */
export async function pushBlob(base: string, repo: string, data: Buffer | string, algorithm: 'sha256' | 'sha512' = 'sha256'): Promise<PushedBlob> {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const digest = digestOf(bytes, algorithm);
  const start = await api(base, `/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202, `POST upload in ${repo}: ${await start.text()}`);
  const location = start.headers.get('location');
  assert.ok(location, 'POST upload: no Location');
  const put = await fetch(withQuery(new URL(location, base).href, { digest }), {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: asBody(bytes),
  });
  assert.equal(put.status, 201, `PUT upload ${digest} in ${repo}: ${await put.text()}`);
  assert.equal(put.headers.get('docker-content-digest'), digest);
  return { digest, size: bytes.length, bytes };
}

/** Appends query parameters to a URL that may already have some. */
export function withQuery(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.append(k, v);
  return u.href;
}

export interface PushedManifest {
  status: number;
  digest: string;
  bytes: Buffer;
  mediaType: string;
  res: Response;
  /** Response body text (empty on success). */
  text: string;
}

/**
 * PUTs a manifest (object → JSON bytes; Buffer/string sent as is) under `ref`
 * (tag or digest; defaults to the digest of the bytes). Does not assert the status.
 */
export async function putManifest(
  base: string,
  repo: string,
  doc: object | Buffer | string,
  opts: { ref?: string; mediaType?: string; query?: string } = {},
): Promise<PushedManifest> {
  const bytes = Buffer.isBuffer(doc) ? doc : Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc));
  const parsedType = (() => {
    try {
      return (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType;
    } catch {
      return undefined;
    }
  })();
  const mediaType = opts.mediaType ?? parsedType ?? MT.ociManifest;
  const digest = digestOf(bytes);
  const ref = opts.ref ?? digest;
  const res = await api(base, `/v2/${repo}/manifests/${ref}${opts.query ?? ''}`, {
    method: 'PUT',
    headers: { 'Content-Type': mediaType },
    body: asBody(bytes),
  });
  const text = await res.text();
  return { status: res.status, digest, bytes, mediaType, res, text };
}

/** putManifest that asserts 201 and the returned Docker-Content-Digest. */
export async function pushManifest(
  base: string,
  repo: string,
  doc: object | Buffer | string,
  opts: { ref?: string; mediaType?: string; query?: string } = {},
): Promise<PushedManifest> {
  const r = await putManifest(base, repo, doc, opts);
  assert.equal(r.status, 201, `PUT manifest ${repo}:${opts.ref ?? r.digest}: ${r.text}`);
  assert.equal(r.res.headers.get('docker-content-digest'), r.digest, 'Docker-Content-Digest of the pushed manifest');
  return r;
}

export interface PushedImage {
  config: PushedBlob;
  layers: PushedBlob[];
  manifest: PushedManifest;
  doc: Record<string, unknown>;
}

/**
 * Pushes a small image (config + layers + manifest) and tags it `ref` (or pushes by
 * digest when ref is omitted). `kind` selects OCI or Docker schema 2 media types.
 */
export async function pushImage(
  base: string,
  repo: string,
  opts: { ref?: string; kind?: 'oci' | 'docker'; layers?: number; layerSize?: number; extra?: Record<string, unknown>; query?: string } = {},
): Promise<PushedImage> {
  const docker = opts.kind === 'docker';
  const config = await pushBlob(base, repo, JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') }));
  const layers: PushedBlob[] = [];
  for (let i = 0; i < (opts.layers ?? 1); i++) layers.push(await pushBlob(base, repo, randomBlob(opts.layerSize ?? 64 + i)));
  const doc: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: docker ? MT.dockerManifest : MT.ociManifest,
    config: { mediaType: docker ? MT.dockerConfig : MT.ociConfig, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: docker ? MT.dockerLayer : MT.ociLayer, digest: l.digest, size: l.size })),
    ...opts.extra,
  };
  const manifest = await pushManifest(base, repo, doc, { ref: opts.ref, query: opts.query });
  return { config, layers, manifest, doc };
}

/** Starts one server before the file's tests and removes it after them; use it like a TestServer. */
export function serverPerFile(opts: StartOptions = {}): TestServer {
  let current: TestServer | undefined;
  before(async () => {
    current = await startServer(opts);
  });
  after(async () => {
    if (!current) return;
    await current.close();
    removeDir(current.dir);
  });
  return new Proxy({} as TestServer, {
    get(_target, key) {
      if (!current) throw new Error('the test server has not started yet');
      return current[key as keyof TestServer];
    },
  });
}
