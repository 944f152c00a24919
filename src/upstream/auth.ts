// Authentication to an upstream registry, as docker and containerd do it: a 401 with
// `WWW-Authenticate: Bearer realm=…,service=…,scope=…` is answered with a token from the
// realm (anonymously, or with the configured credentials as Basic), cached per scope until
// its expires_in; a `Basic` challenge is answered with the credentials themselves.
// Credentials go only to the realm (or, for Basic, to the registry); never into a message.
import type http from 'node:http';
import { UpstreamError, kindOfStatus, parseRetryAfter } from './errors.js';
import { type TransportOptions, describe, discard, readBody, send } from './transport.js';

export interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

/** The first Bearer or Basic challenge of a WWW-Authenticate header (RFC 7235 auth-params), or null. */
export function parseChallenge(header: string | string[] | undefined): Challenge | null {
  const values = Array.isArray(header) ? header : header ? [header] : [];
  for (const value of values) {
    const m = /^\s*(bearer|basic)\b\s*(.*)$/i.exec(value);
    if (!m) continue;
    const params: Record<string, string> = {};
    for (const p of m[2].matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g))
      params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
    return { scheme: m[1].toLowerCase() as Challenge['scheme'], params };
  }
  return null;
}

const TOKEN_BODY_LIMIT = 1 << 20;
const DEFAULT_EXPIRES_IN = 60; // seconds, as the token spec says when expires_in is absent
const MAX_CACHED = 1000;

interface Cached {
  header: string;
  expiresAt: number;
}

export interface Credentials {
  username: string;
  password: string;
}

/** Bearer tokens and Basic authorization for one upstream. */
export class Authorizer {
  /** Where tokens come from, once a Bearer challenge said so: new scopes get a token before their first request. */
  private bearer: { realm: string; service?: string } | null = null;
  private basic = false;
  private readonly tokens = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(
    private readonly transport: TransportOptions,
    private readonly credentials: Credentials | null,
    private readonly now: () => number,
  ) {}

  /** The Authorization header to send for these scopes, if one is known without asking the realm. */
  async headerFor(scopes: readonly string[]): Promise<string | undefined> {
    if (this.basic) return this.basicHeader();
    if (!this.bearer) return undefined;
    const key = scopeKey(scopes);
    const hit = this.tokens.get(key);
    if (hit && hit.expiresAt > this.now()) return hit.header;
    return this.fetchToken(key, scopes, this.bearer);
  }

  /** Answers a 401's challenge: the header to retry with. Throws 'denied' when there is no way to authenticate. */
  async answer(res: http.IncomingMessage, scopes: readonly string[], what: string): Promise<string> {
    const ch = parseChallenge(res.headers['www-authenticate']);
    const key = scopeKey(scopes);
    this.tokens.delete(key);
    if (ch?.scheme === 'basic') {
      if (!this.credentials) throw new UpstreamError('denied', `${what}: the upstream asks for credentials (Basic) and none are configured`, { status: 401 });
      this.basic = true;
      return this.basicHeader();
    }
    if (ch?.scheme === 'bearer' && ch.params.realm) {
      this.bearer = { realm: ch.params.realm, ...(ch.params.service !== undefined ? { service: ch.params.service } : {}) };
      // What the registry asks for and what this request needs (a mount also reads the source repository).
      const asked = (ch.params.scope ?? '').split(' ').filter(Boolean);
      return this.fetchToken(key, [...new Set([...asked, ...scopes])], this.bearer);
    }
    throw new UpstreamError('denied', `${what}: 401 without a Bearer or Basic challenge`, { status: 401 });
  }

  private basicHeader(): string {
    const c = this.credentials!;
    return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
  }

  /** One token request per scope at a time; concurrent callers share it. */
  private fetchToken(key: string, scopes: readonly string[], from: { realm: string; service?: string }): Promise<string> {
    let p = this.inflight.get(key);
    if (!p) {
      p = this.requestToken(key, scopes, from).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async requestToken(key: string, scopes: readonly string[], from: { realm: string; service?: string }): Promise<string> {
    let url: URL;
    try {
      url = new URL(from.realm);
    } catch {
      throw new UpstreamError('invalid', 'the upstream named a token realm that is not a URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UpstreamError('invalid', 'the upstream named a token realm that is not http(s)');
    if (from.service !== undefined) url.searchParams.set('service', from.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const what = `token request ${describe('GET', url).slice(4)}`;
    const started = this.now();
    const res = await send(this.transport, {
      method: 'GET',
      url,
      headers: { Accept: 'application/json', ...(this.credentials ? { Authorization: this.basicHeader() } : {}) },
    });
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      discard(res);
      const kind = kindOfStatus(status);
      const retryAfter = parseRetryAfter(res.headers['retry-after'], this.now());
      throw new UpstreamError(
        kind === 'not-found' ? 'invalid' : kind,
        `${what} answered ${status}${kind === 'denied' ? (this.credentials ? ' (the configured credentials were refused)' : ' (anonymous access refused)') : ''}`,
        { status, ...(retryAfter !== undefined ? { retryAfter } : {}) },
      );
    }
    const body = await readBody(res, TOKEN_BODY_LIMIT, what);
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      throw new UpstreamError('invalid', `${what}: the answer is not JSON`);
    }
    const token = typeof doc.token === 'string' && doc.token ? doc.token : typeof doc.access_token === 'string' ? doc.access_token : '';
    if (!token) throw new UpstreamError('invalid', `${what}: the answer has no token`);
    const lifetime = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : DEFAULT_EXPIRES_IN;
    // Renewed a little early (a tenth of its life, at most 30 s), so a request never carries a token about to expire.
    const expiresAt = started + lifetime * 1000 - Math.min(30_000, lifetime * 100);
    const header = `Bearer ${token}`;
    if (this.tokens.size >= MAX_CACHED) this.tokens.delete(this.tokens.keys().next().value!);
    this.tokens.set(key, { header, expiresAt });
    return header;
  }
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}
