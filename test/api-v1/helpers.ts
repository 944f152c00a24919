// Helpers for the /api/v1 tests: a token-auth server, JSON calls with Basic or
// Bearer credentials, users, and pushing an image with a token from /token.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MT, digestOf, serverPerFile, type StartOptions, type TestServer } from '../helpers/api-server.js';

export const ADMIN = { user: 'admin', password: 'admin-password-1' };

/** A server with the built-in token service and accounts (cheap bcrypt, generous login limits). */
export function accountsServer(accounts: Record<string, unknown> = {}, extra: StartOptions = {}): TestServer {
  return serverPerFile({
    ...extra,
    config: {
      ...extra.config,
      auth: { token: {}, accounts: { adminpassword: ADMIN.password, bcryptcost: 4, loginlimit: 1000, addresslimit: 1000, ...accounts } },
    } as StartOptions['config'],
  });
}

export type Creds = { user: string; password: string } | { bearer: string } | null;

export function authHeader(c: Creds): Record<string, string> {
  if (!c) return {};
  if ('bearer' in c) return { authorization: `Bearer ${c.bearer}` };
  return { authorization: `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}` };
}

export interface Reply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

/** One API call: `path` below /api/v1, a JSON body when given. */
export async function call(s: TestServer, method: string, path: string, creds: Creds, body?: unknown): Promise<Reply> {
  const res = await fetch(`${s.url}/api/v1${path}`, {
    method,
    headers: { ...authHeader(creds), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** Asserts the status and, for errors, the {"errors":[{code,message}]} body. */
export function expect(r: Reply, status: number, code?: string, context = ''): Reply {
  assert.equal(r.status, status, `${context} expected ${status}, got ${r.status}: ${r.text.slice(0, 300)}`);
  if (status >= 400) {
    assert.ok(
      Array.isArray(r.body?.errors) && typeof r.body.errors[0].code === 'string' && typeof r.body.errors[0].message === 'string',
      `${context} error body: ${r.text}`,
    );
    if (code) assert.equal(r.body.errors[0].code, code, `${context} error code`);
  }
  return r;
}

export async function addUser(s: TestServer, name: string, opts: { admin?: boolean } = {}): Promise<{ user: string; password: string }> {
  const password = `${name}-password-1`;
  expect(await call(s, 'POST', '/users', ADMIN, { username: name, password, admin: opts.admin ?? false }), 201, undefined, `create ${name}`);
  return { user: name, password };
}

/** A registry token from GET /token with Basic credentials (or anonymously). */
export async function registryToken(s: TestServer, creds: { user: string; password: string } | null, scopes: string[]): Promise<string> {
  const q = new URLSearchParams({ service: 'berth' });
  for (const sc of scopes) q.append('scope', sc);
  const res = await fetch(`${s.url}/token?${q}`, { headers: authHeader(creds) });
  assert.equal(res.status, 200, `GET /token: ${await res.clone().text()}`);
  return ((await res.json()) as { token: string }).token;
}

/** Pushes a one-layer image as `creds` (creating the repository, private by default). */
export async function pushAs(s: TestServer, creds: { user: string; password: string }, repo: string, tag = 'v1'): Promise<string> {
  return (await pushLayerAs(s, creds, repo, tag, randomBytes(64))).digest;
}

/** Pushes an image of one given layer as `creds`; `config` adds to its config (a layer's diff_ids, say). */
export async function pushLayerAs(
  s: TestServer,
  creds: { user: string; password: string },
  repo: string,
  tag: string,
  layerBytes: Buffer,
  config: Record<string, unknown> = {},
): Promise<{ digest: string; size: number; mediaType: string; layer: string }> {
  const token = await registryToken(s, creds, [`repository:${repo}:pull,push`]);
  const auth = { authorization: `Bearer ${token}` };
  const blob = async (bytes: Buffer) => {
    const digest = digestOf(bytes);
    const start = await fetch(`${s.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: auth });
    assert.equal(start.status, 202, `upload start in ${repo}: ${await start.text()}`);
    const loc = new URL(start.headers.get('location')!, s.url);
    loc.searchParams.set('digest', digest);
    const put = await fetch(loc, { method: 'PUT', headers: { ...auth, 'content-type': 'application/octet-stream' }, body: bytes as unknown as BodyInit });
    assert.equal(put.status, 201, `upload ${digest}: ${await put.text()}`);
    return { digest, size: bytes.length };
  };
  const cfg = await blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', ...config, nonce: randomBytes(8).toString('hex') })));
  const layer = await blob(layerBytes);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, ...cfg },
      layers: [{ mediaType: MT.ociLayer, ...layer }],
    }),
  );
  const res = await fetch(`${s.url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...auth, 'content-type': MT.ociManifest },
    body: manifest as unknown as BodyInit,
  });
  assert.equal(res.status, 201, `push manifest ${repo}:${tag}: ${await res.text()}`);
  return { digest: digestOf(manifest), size: manifest.length, mediaType: MT.ociManifest, layer: layer.digest };
}
