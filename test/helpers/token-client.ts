// A registry client for token-auth tests that behaves like the real ones: on a
// 401 Bearer challenge it asks the realm for a token with the challenged scope
// (Basic credentials when it has them) and retries once.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openMetadata } from '../../src/app.js';
import { accountStores, type AccountStores } from '../../src/metadata/accounts/index.js';
import type { MetadataDb } from '../../src/metadata/database.js';
import { AccountService } from '../../src/auth/accounts.js';
import { asBody, digestOf, MT, randomBlob, type TestServer } from './api-server.js';

export interface Challenge {
  realm: string;
  service: string;
  scope?: string;
  error?: string;
}

export function parseChallenge(header: string | null): Challenge | null {
  if (!header || !/^bearer /i.test(header)) return null;
  const out: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/(\w+)="([^"]*)"/g)) out[m[1]] = m[2];
  return out.realm ? (out as unknown as Challenge) : null;
}

export class TokenClient {
  private readonly tokens = new Map<string, string>();
  /** Every token response body this client received (for assertions). */
  readonly issued: Record<string, unknown>[] = [];

  constructor(
    readonly base: string,
    readonly creds?: { user: string; password: string },
  ) {}

  /** GET /token for the scopes; returns the raw Response when `raw`. */
  async tokenFor(scopes: string[], extra: Record<string, string> = {}): Promise<string> {
    const res = await this.tokenResponse(scopes, extra);
    const body = (await res.json()) as { token: string };
    assert.equal(res.status, 200, `token for ${scopes.join(' ')}: ${JSON.stringify(body)}`);
    this.issued.push(body);
    return body.token;
  }

  tokenResponse(scopes: string[], extra: Record<string, string> = {}): Promise<Response> {
    const u = new URL('/token', this.base);
    u.searchParams.set('service', 'berth');
    for (const s of scopes) u.searchParams.append('scope', s);
    for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v);
    const headers: Record<string, string> = {};
    if (this.creds) headers.Authorization = `Basic ${Buffer.from(`${this.creds.user}:${this.creds.password}`).toString('base64')}`;
    return fetch(u, { headers });
  }

  /** fetch with the challenge dance; `body` must be re-sendable (a Buffer or string). */
  async fetch(path: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<Response> {
    const url = new URL(path, this.base).href;
    const send = (token?: string) =>
      fetch(url, {
        method: init.method ?? 'GET',
        headers: { ...init.headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) },
        body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : asBody(init.body),
        redirect: 'manual',
      });
    const scopeKey = this.lastScopeFor(path);
    let res = await send(scopeKey ? this.tokens.get(scopeKey) : undefined);
    if (res.status !== 401) return res;
    const ch = parseChallenge(res.headers.get('www-authenticate'));
    if (!ch) return res;
    await res.arrayBuffer();
    const token = await this.tokenFor(ch.scope ? [ch.scope] : []);
    if (ch.scope) this.tokens.set(ch.scope, token);
    res = await send(token);
    return res;
  }

  private lastScopeFor(path: string): string | undefined {
    const m = /^\/v2\/(.+?)\/(blobs|manifests|tags|referrers)\//.exec(path);
    if (!m) return undefined;
    for (const key of this.tokens.keys()) if (key.startsWith(`repository:${m[1]}:`)) return key;
    return undefined;
  }

  async pushBlob(repo: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
    const digest = digestOf(bytes);
    const start = await this.fetch(`/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202, `POST upload in ${repo}: ${await start.text()}`);
    const loc = new URL(start.headers.get('location')!, this.base);
    loc.searchParams.set('digest', digest);
    const put = await this.fetch(loc.pathname + loc.search, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: bytes });
    assert.equal(put.status, 201, `PUT blob in ${repo}: ${await put.text()}`);
    return { digest, size: bytes.length };
  }

  /** Pushes config + one layer + manifest under `tag` (by digest when null); returns the digests and the bytes stored. */
  async pushImage(
    repo: string,
    tag: string | null,
    extra: Record<string, unknown> = {},
  ): Promise<{ manifest: string; config: string; layer: string; bytes: Buffer; total: number }> {
    const config = await this.pushBlob(repo, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(6).toString('hex') })));
    const layer = await this.pushBlob(repo, randomBlob(100));
    const doc = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: config.digest, size: config.size },
      layers: [{ mediaType: MT.ociLayer, digest: layer.digest, size: layer.size }],
      ...extra,
    };
    const bytes = Buffer.from(JSON.stringify(doc));
    const manifest = digestOf(bytes);
    const res = await this.fetch(`/v2/${repo}/manifests/${tag ?? manifest}`, { method: 'PUT', headers: { 'Content-Type': MT.ociManifest }, body: bytes });
    assert.equal(res.status, 201, `PUT manifest ${repo}:${tag ?? manifest}: ${await res.text()}`);
    return { manifest, config: config.digest, layer: layer.digest, bytes, total: bytes.length + config.size + layer.size };
  }
}

/** Direct access to the accounts of a running test server (its SQLite file), for set-up. */
export async function accountsOf(server: TestServer): Promise<{ service: AccountService; stores: AccountStores; meta: MetadataDb; close(): Promise<void> }> {
  const meta = await openMetadata(server.config); // SQLite or PostgreSQL, as the server
  const stores = accountStores(meta);
  const service = new AccountService(stores, meta, { ...server.config.auth!.accounts, bcryptcost: 4 });
  return { service, stores, meta, close: () => meta.close() };
}

/** Token-auth server settings for tests: built-in issuer, an admin, cheap bcrypt, a low login limit. */
export const TOKEN_AUTH = {
  auth: { token: {}, accounts: { adminpassword: 'admin-password-1', bcryptcost: 4, loginlimit: 5, addresslimit: 1000 } },
} as const;
