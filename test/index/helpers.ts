// Helpers for the index tests: a token-auth server, JSON calls as a user or
// anonymously, users, public/private repositories, and pushes of images (any
// platform, annotations), multi-platform indexes and artifacts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MT, digestOf, randomBlob, serverPerFile, type TestServer } from '../helpers/api-server.js';
import { TokenClient } from '../helpers/token-client.js';
import { indexServiceOf } from '../../src/index/service.js';
import { readJsonReply } from '../helpers/json-reply.js';

export const ADMIN = { user: 'admin', password: 'admin-password-1' };
export type User = { user: string; password: string };

/** A token-auth server (built-in issuer, cheap bcrypt, generous login limits) for one test file. */
export function indexServer(extra: Record<string, unknown> = {}): TestServer {
  return serverPerFile({
    config: { auth: { token: {}, accounts: { adminpassword: ADMIN.password, bcryptcost: 4, loginlimit: 1000, addresslimit: 100000 } }, ...extra } as never,
  });
}

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export function basic(u: User): string {
  return `Basic ${Buffer.from(`${u.user}:${u.password}`).toString('base64')}`;
}

/** One call below /api/v1 (or an absolute path starting with /v1 or /v2), JSON in and out. */
export async function call(s: TestServer, method: string, path: string, who: User | null, body?: unknown): Promise<Reply> {
  const url = /^\/v[12]\//.test(path) ? s.url + path : `${s.url}/api/v1${path}`;
  const res = await fetch(url, {
    method,
    headers: { ...(who ? { authorization: basic(who) } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return readJsonReply(res);
}

export function ok(r: Reply, status = 200, context = ''): any {
  assert.equal(r.status, status, `${context} expected ${status}, got ${r.status}: ${r.text.slice(0, 400)}`);
  return r.body;
}

export function fails(r: Reply, status: number, code?: string, context = ''): void {
  assert.equal(r.status, status, `${context} expected ${status}, got ${r.status}: ${r.text.slice(0, 400)}`);
  assert.ok(Array.isArray(r.body?.errors), `${context} error body: ${r.text}`);
  if (code) assert.equal(r.body.errors[0].code, code, `${context} error code`);
}

export async function addUser(s: TestServer, name: string, opts: { admin?: boolean } = {}): Promise<User> {
  const password = `${name}-password-1`;
  ok(await call(s, 'POST', '/users', ADMIN, { username: name, password, admin: opts.admin ?? false }), 201, `create ${name}`);
  return { user: name, password };
}

export async function setVisibility(s: TestServer, who: User, repo: string, visibility: 'public' | 'private'): Promise<void> {
  ok(await call(s, 'PATCH', `/repositories/${repo}`, who, { visibility }), 200, `visibility of ${repo}`);
}

async function putManifest(c: TokenClient, repo: string, ref: string, doc: object, mediaType: string): Promise<string> {
  const bytes = Buffer.from(JSON.stringify(doc));
  const res = await c.fetch(`/v2/${repo}/manifests/${ref}`, { method: 'PUT', headers: { 'Content-Type': mediaType }, body: bytes });
  assert.equal(res.status, 201, `PUT manifest ${repo}:${ref}: ${await res.text()}`);
  return digestOf(bytes);
}

/** Pushes an image of one platform; returns its manifest digest. */
export async function pushImage(
  s: TestServer,
  who: User,
  repo: string,
  tag: string | null,
  opts: { os?: string; arch?: string; variant?: string; annotations?: Record<string, string> } = {},
): Promise<string> {
  const c = new TokenClient(s.url, who);
  const config = await c.pushBlob(
    repo,
    Buffer.from(
      JSON.stringify({
        architecture: opts.arch ?? 'amd64',
        os: opts.os ?? 'linux',
        ...(opts.variant ? { variant: opts.variant } : {}),
        nonce: randomBytes(6).toString('hex'),
      }),
    ),
  );
  const layer = await c.pushBlob(repo, randomBlob(80));
  const doc = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: config.digest, size: config.size },
    layers: [{ mediaType: MT.ociLayer, digest: layer.digest, size: layer.size }],
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const bytes = JSON.stringify(doc);
  return putManifest(c, repo, tag ?? digestOf(bytes), doc, MT.ociManifest);
}

/** Pushes a multi-platform index (one image per platform, by digest) under `tag`. */
export async function pushIndex(
  s: TestServer,
  who: User,
  repo: string,
  tag: string,
  platforms: { os: string; arch: string; variant?: string }[],
  annotations?: Record<string, string>,
): Promise<string> {
  const c = new TokenClient(s.url, who);
  const manifests = [];
  for (const p of platforms) {
    const digest = await pushImage(s, who, repo, null, p);
    manifests.push({ mediaType: MT.ociManifest, digest, size: 0, platform: { os: p.os, architecture: p.arch, ...(p.variant ? { variant: p.variant } : {}) } });
  }
  // Sizes must be right: fetch each child's size.
  for (const m of manifests) {
    const res = await c.fetch(`/v2/${repo}/manifests/${m.digest}`, { method: 'HEAD' });
    m.size = Number(res.headers.get('content-length'));
  }
  return putManifest(c, repo, tag, { schemaVersion: 2, mediaType: MT.ociIndex, manifests, ...(annotations ? { annotations } : {}) }, MT.ociIndex);
}

/** Pushes an artifact (empty config, artifactType set) under `tag`. */
export async function pushArtifact(s: TestServer, who: User, repo: string, tag: string, artifactType: string): Promise<string> {
  const c = new TokenClient(s.url, who);
  const empty = await c.pushBlob(repo, Buffer.from('{}'));
  const layer = await c.pushBlob(repo, randomBlob(40));
  const doc = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    artifactType,
    config: { mediaType: MT.ociEmpty, digest: empty.digest, size: empty.size },
    layers: [{ mediaType: 'application/octet-stream', digest: layer.digest, size: layer.size }],
  };
  return putManifest(c, repo, tag, doc, MT.ociManifest);
}

/** GET a manifest `times` times (pulls) and HEAD it once (not a pull). */
export async function pull(s: TestServer, who: User | null, repo: string, tag: string, times = 1): Promise<void> {
  const c = new TokenClient(s.url, who ?? undefined);
  for (let i = 0; i < times; i++) {
    const res = await c.fetch(`/v2/${repo}/manifests/${tag}`, { headers: { Accept: `${MT.ociManifest}, ${MT.ociIndex}` } });
    const text = await res.text();
    assert.equal(res.status, 200, `pull ${repo}:${tag}: ${text.slice(0, 300)}`);
  }
}

/** Writes counted pulls and reads queued platforms now instead of waiting for the timer. */
export async function settle(s: TestServer): Promise<void> {
  const index = indexServiceOf(s.app);
  assert.ok(index, 'index service attached to the app');
  await index.flush();
  while ((await index.readPlatforms()) > 0) {
    /* until the queue is empty */
  }
}

/** Names of a search reply's results. */
export function names(body: any): string[] {
  return (body.results as { name: string }[]).map((r) => r.name);
}
