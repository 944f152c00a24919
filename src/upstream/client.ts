// The one OCI registry client for every outbound registry call: the mirror reads through
// it, replication reads and writes through it. Answers become values (null for a 404 where
// that is an answer) or UpstreamErrors of four kinds; see errors.ts.
import type http from 'node:http';
import type { Readable } from 'node:stream';
import type { OutboundGuard } from '../net/outbound-connect.js';
import { type DigestAlgorithm, newHasher, parseDigest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';
import { DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST } from '../oci/media-types.js';
import { Authorizer } from './auth.js';
import { UpstreamError, describeErrorBody, kindOfStatus, parseRetryAfter } from './errors.js';
import { type TransportOptions, describe, discard, keepAliveAgents, readBody, send } from './transport.js';
import { baseType, checkedDigest, isDescriptor, isDigestRef, manifestType, name, nextLink, pull, push, reference, verifying } from './wire.js';

export interface UpstreamSettings {
  /** 'https://registry-1.docker.io', 'http://127.0.0.1:5001' (no path, no credentials). */
  url: string;
  /** Sent only to the upstream's token realm (or as Basic when the upstream asks for Basic). */
  username?: string;
  password?: string;
  /** Connect + response headers (default 30 s). */
  timeoutMs?: number;
  /** A body (either way) that moves no byte for this long fails (default 60 s). */
  bodyIdleTimeoutMs?: number;
  /** `n` asked for on the first page of tag lists and the catalog (default: the upstream's own page size). */
  pageSize?: number;
}

export interface UpstreamDeps {
  /** null = an operator-configured upstream (no SSRF check); a guard for user-supplied destinations. */
  guard: OutboundGuard | null;
  now?: () => number;
}

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

export interface FetchedManifest {
  body: Buffer;
  digest: string;
  mediaType: string;
}

export { UpstreamError, type UpstreamErrorKind } from './errors.js';

/** Every manifest type Berth stores, in the order a registry should prefer them. */
export const MANIFEST_ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST].join(', ');
export const MAX_MANIFEST_BYTES = 4 << 20;
const LIST_BODY_LIMIT = 16 << 20;
const MAX_PAGES = 10_000;
const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

type Body = Buffer | Readable;

interface CallOptions {
  scopes: readonly string[];
  headers?: Record<string, string | number>;
  body?: Body;
  /** Follow redirects (blobs: to storage on another host, which never gets the Authorization header). */
  redirects?: boolean;
}

export class UpstreamClient {
  readonly base: URL;
  private readonly transport: TransportOptions;
  private readonly auth: Authorizer;
  private readonly now: () => number;
  private readonly pageSize: number | undefined;

  constructor(settings: UpstreamSettings, deps: UpstreamDeps) {
    let base: URL;
    try {
      base = new URL(settings.url);
    } catch {
      throw new TypeError('the upstream URL is not a URL');
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError('the upstream URL must be http or https');
    if (base.username || base.password) throw new TypeError('the upstream URL must not carry credentials (use username and password)');
    if ((base.pathname !== '/' && base.pathname !== '') || base.search || base.hash) throw new TypeError('the upstream URL must have no path or query');
    this.base = new URL(base.origin);
    this.now = deps.now ?? Date.now;
    this.pageSize = settings.pageSize;
    this.transport = {
      timeoutMs: settings.timeoutMs ?? 30_000,
      bodyIdleMs: settings.bodyIdleTimeoutMs ?? 60_000,
      agents: keepAliveAgents(deps.guard),
      userAgent: 'berth',
    };
    const credentials = settings.username !== undefined && settings.username !== '' ? { username: settings.username, password: settings.password ?? '' } : null;
    this.auth = new Authorizer(this.transport, credentials, this.now);
  }

  /** Closes pooled connections (the client still works afterwards, with new ones). */
  close(): void {
    this.transport.agents.http.destroy();
    this.transport.agents.https.destroy();
  }

  // ---------------------------------------------------------------------------------------
  // Reads

  /** {digest, mediaType, size} of a manifest, or null when the upstream has none (404). */
  async headManifest(repo: string, ref: string): Promise<ManifestHead | null> {
    const url = this.url(`/v2/${name(repo)}/manifests/${reference(ref)}`);
    const res = await this.call('HEAD', url, { scopes: [pull(repo)], headers: { Accept: MANIFEST_ACCEPT } });
    discard(res);
    if (res.statusCode === 404) return null;
    await this.expect(res, [200], 'HEAD', url);
    const header = res.headers['docker-content-digest'];
    const size = Number(res.headers['content-length']);
    const mediaType = baseType(res.headers['content-type']);
    // Without the digest header (allowed for tags), the manifest is fetched to compute it.
    if (typeof header !== 'string' || !Number.isFinite(size)) {
      const m = await this.getManifest(repo, ref);
      return { digest: m.digest, mediaType: m.mediaType, size: m.body.length };
    }
    const digest = checkedDigest(header, `HEAD ${url.pathname}`);
    if (isDigestRef(ref) && digest !== ref) throw new UpstreamError('invalid', `${describe('HEAD', url)}: answered for ${digest}`);
    return { digest, mediaType, size };
  }

  /** A manifest's bytes, digest (verified when `ref` is one) and media type; at most 4 MiB. 404 → 'not-found'. */
  async getManifest(repo: string, ref: string): Promise<FetchedManifest> {
    const url = this.url(`/v2/${name(repo)}/manifests/${reference(ref)}`);
    const what = describe('GET', url);
    const res = await this.call('GET', url, { scopes: [pull(repo)], headers: { Accept: MANIFEST_ACCEPT } });
    await this.expect(res, [200], 'GET', url);
    const body = await readBody(res, MAX_MANIFEST_BYTES, what);
    const algorithm: DigestAlgorithm = isDigestRef(ref) ? parseDigest(ref).algorithm : 'sha256';
    const digest = `${algorithm}:${newHasher(algorithm).update(body).digest('hex')}`;
    if (isDigestRef(ref) && digest !== ref) throw new UpstreamError('invalid', `${what}: the body's digest is ${digest}`);
    const header = res.headers['docker-content-digest'];
    if (typeof header === 'string' && header.startsWith(`${algorithm}:`) && header !== digest)
      throw new UpstreamError('invalid', `${what}: Docker-Content-Digest ${header.slice(0, 80)} but the body's digest is ${digest}`);
    return { body, digest, mediaType: manifestType(res.headers['content-type'], body) };
  }

  /**
   * Streams a blob. The body is verified as it flows: it ends only after the bytes matched
   * `digest` (and Content-Length); otherwise it fails with an 'invalid' (or, for a broken
   * transfer, 'unavailable') UpstreamError. Redirects are followed; 404 → 'not-found'.
   */
  async getBlob(repo: string, digest: string, opts: { verify?: boolean } = {}): Promise<{ size: number | null; body: Readable }> {
    const d = parseDigest(digest);
    const url = this.url(`/v2/${name(repo)}/blobs/${d.value}`);
    const res = await this.call('GET', url, { scopes: [pull(repo)], redirects: true });
    await this.expect(res, [200], 'GET', url);
    const declared = Number(res.headers['content-length']);
    const size = res.headers['content-length'] !== undefined && Number.isSafeInteger(declared) ? declared : null;
    return { size, body: verifying(res, opts.verify === false ? null : d, size, describe('GET', url)) };
  }

  /** A blob's size, or null when the upstream has none. */
  async headBlob(repo: string, digest: string): Promise<number | null> {
    const d = parseDigest(digest);
    const url = this.url(`/v2/${name(repo)}/blobs/${d.value}`);
    const res = await this.call('HEAD', url, { scopes: [pull(repo)], redirects: true });
    discard(res);
    if (res.statusCode === 404) return null;
    await this.expect(res, [200], 'HEAD', url);
    const size = Number(res.headers['content-length']);
    if (res.headers['content-length'] === undefined || !Number.isSafeInteger(size))
      throw new UpstreamError('invalid', `${describe('HEAD', url)}: no Content-Length`);
    return size;
  }

  /** Every tag (Link pagination followed); [] when the upstream does not know the repository. */
  async tags(repo: string): Promise<string[]> {
    const first = this.url(`/v2/${name(repo)}/tags/list`);
    if (this.pageSize) first.searchParams.set('n', String(this.pageSize));
    const out: string[] = [];
    const found = await this.pages(first, [pull(repo)], (doc) => {
      const tags = (doc as { tags?: unknown }).tags;
      if (tags === null || tags === undefined) return; // distribution answers {"tags":null} for a repository without tags
      if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) return 'tags is not a list of strings';
      out.push(...tags);
    });
    return found ? out : [];
  }

  /** Every repository of the upstream's catalog (Link pagination followed). */
  async catalog(): Promise<string[]> {
    const first = this.url('/v2/_catalog');
    if (this.pageSize) first.searchParams.set('n', String(this.pageSize));
    const out: string[] = [];
    const found = await this.pages(first, ['registry:catalog:*'], (doc) => {
      const repos = (doc as { repositories?: unknown }).repositories;
      if (repos === null || repos === undefined) return;
      if (!Array.isArray(repos) || !repos.every((r) => typeof r === 'string')) return 'repositories is not a list of strings';
      out.push(...repos);
    });
    if (!found) throw new UpstreamError('not-found', `${describe('GET', first)}: the upstream has no catalog`, { status: 404 });
    return out;
  }

  /**
   * Manifests whose subject is `digest`: the referrers API, or — when the upstream answers
   * 404 for it (no referrers API) — the index under the `sha256-<hex>` tag (the spec's fallback).
   */
  async referrers(repo: string, digest: string): Promise<Descriptor[]> {
    const d = parseDigest(digest);
    const api = this.url(`/v2/${name(repo)}/referrers/${d.value}`);
    const out: Descriptor[] = [];
    const collect = (doc: unknown): string | undefined => {
      const list = (doc as { manifests?: unknown }).manifests;
      if (list === null || list === undefined) return;
      if (!Array.isArray(list)) return 'manifests is not a list';
      for (const m of list) {
        if (!isDescriptor(m)) return 'a descriptor lacks mediaType, digest or size';
        out.push(m);
      }
    };
    if (await this.pages(api, [pull(repo)], collect, { Accept: OCI_INDEX })) return out;
    // The tag schema: an index listing the referrers, under "<alg>-<hex>".
    const tag = `${d.algorithm}-${d.hex}`.slice(0, 128);
    let index: FetchedManifest;
    try {
      index = await this.getManifest(repo, tag);
    } catch (err) {
      if (err instanceof UpstreamError && err.kind === 'not-found') return [];
      throw err;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(index.body.toString('utf8'));
    } catch {
      throw new UpstreamError('invalid', `the referrers tag ${tag} of ${repo} is not JSON`);
    }
    const why = collect(doc);
    if (why) throw new UpstreamError('invalid', `the referrers tag ${tag} of ${repo}: ${why}`);
    return out;
  }

  // ---------------------------------------------------------------------------------------
  // Writes

  /** Mounts a blob from another repository of the upstream; false when the upstream did not (it answered with an upload). */
  async mountBlob(repo: string, from: string, digest: string): Promise<boolean> {
    const d = parseDigest(digest);
    const url = this.url(`/v2/${name(repo)}/blobs/uploads/`);
    url.searchParams.set('mount', d.value);
    url.searchParams.set('from', name(from));
    const res = await this.call('POST', url, { scopes: [push(repo), pull(from)], headers: { 'Content-Length': 0 } });
    await this.expect(res, [201, 202], 'POST', url);
    discard(res);
    if (res.statusCode === 201) return true;
    // The upstream opened an upload instead: cancelled (best effort), so it does not linger until purged.
    const location = res.headers.location;
    if (location) {
      try {
        const cancel = await this.call('DELETE', this.sameOrigin(new URL(location, url), 'POST', url), { scopes: [push(repo)] });
        discard(cancel);
      } catch {
        /* the upstream purges abandoned uploads */
      }
    }
    return false;
  }

  /** Uploads a blob of `size` bytes: POST, then one PUT streaming `body` (never buffered). */
  async pushBlob(repo: string, digest: string, size: number, body: Readable): Promise<void> {
    const d = parseDigest(digest);
    const start = this.url(`/v2/${name(repo)}/blobs/uploads/`);
    let res: http.IncomingMessage;
    try {
      res = await this.call('POST', start, { scopes: [push(repo)], headers: { 'Content-Length': 0 } });
    } catch (err) {
      body.destroy();
      throw err;
    }
    if (res.statusCode !== 202) {
      body.destroy();
      await this.expect(res, [202], 'POST', start);
    }
    discard(res);
    const location = res.headers.location;
    if (!location) {
      body.destroy();
      throw new UpstreamError('invalid', `${describe('POST', start)}: 202 without a Location`);
    }
    const put = this.sameOrigin(new URL(location, start), 'POST', start);
    put.searchParams.set('digest', d.value);
    let done: http.IncomingMessage;
    try {
      done = await this.call('PUT', put, { scopes: [push(repo)], headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': size }, body });
    } catch (err) {
      body.destroy();
      throw err;
    }
    if (done.statusCode !== 201) {
      // Answered before (or without) taking the whole body: the rest is not sent, and the connection not reused.
      body.destroy();
      try {
        await this.expect(done, [201], 'PUT', put);
      } finally {
        done.destroy();
      }
    }
    discard(done);
    const stored = done.headers['docker-content-digest'];
    if (typeof stored === 'string' && stored !== d.value) throw new UpstreamError('invalid', `${describe('PUT', put)}: stored as ${stored.slice(0, 80)}`);
  }

  /** PUTs a manifest under `ref` (a tag or its digest); returns the digest the upstream stored it as. */
  async putManifest(repo: string, ref: string, mediaType: string, body: Buffer): Promise<string> {
    const url = this.url(`/v2/${name(repo)}/manifests/${reference(ref)}`);
    const res = await this.call('PUT', url, { scopes: [push(repo)], headers: { 'Content-Type': mediaType }, body });
    await this.expect(res, [200, 201, 202], 'PUT', url);
    discard(res);
    const computed = `sha256:${newHasher('sha256').update(body).digest('hex')}`;
    const header = res.headers['docker-content-digest'];
    return typeof header === 'string' && header ? checkedDigest(header, describe('PUT', url)) : computed;
  }

  /** Deletes a manifest (or a tag, where the upstream allows it); false when it was not there. */
  async deleteManifest(repo: string, ref: string): Promise<boolean> {
    const url = this.url(`/v2/${name(repo)}/manifests/${reference(ref)}`);
    const res = await this.call('DELETE', url, { scopes: [`repository:${name(repo)}:delete`] });
    if (res.statusCode === 404) {
      discard(res);
      return false;
    }
    await this.expect(res, [200, 202, 204], 'DELETE', url);
    discard(res);
    return true;
  }

  // ---------------------------------------------------------------------------------------
  // Plumbing

  private url(path: string): URL {
    return new URL(path, this.base);
  }

  /** A URL the upstream handed us (Location, Link) for the next request to the upstream itself. */
  private sameOrigin(next: URL, method: string, from: URL): URL {
    if (next.origin !== this.base.origin) throw new UpstreamError('invalid', `${describe(method, from)}: pointed to another host (${next.origin})`);
    return next;
  }

  /**
   * Sends a request with authentication: a known token or Basic header first; a 401 is
   * answered once (its challenge) and the request sent again. A streamed body cannot be sent
   * twice, so it is sent only with a header that was known beforehand (a POST got it first).
   */
  private async call(method: string, url: URL, o: CallOptions): Promise<http.IncomingMessage> {
    const what = describe(method, url);
    let authorization = await this.auth.headerFor(o.scopes);
    let res = await this.follow(method, url, o, authorization);
    if (res.statusCode !== 401) return res;
    discard(res);
    if (o.body && !Buffer.isBuffer(o.body)) throw new UpstreamError('denied', `${what} answered 401`, { status: 401 });
    authorization = await this.auth.answer(res, o.scopes, what);
    res = await this.follow(method, url, o, authorization);
    if (res.statusCode === 401) {
      discard(res);
      throw new UpstreamError('denied', `${what} answered 401 after authenticating`, { status: 401 });
    }
    return res;
  }

  /** One request, and the redirects after it when allowed: Authorization only to the upstream's own origin. */
  private async follow(method: string, url: URL, o: CallOptions, authorization: string | undefined): Promise<http.IncomingMessage> {
    let target = url;
    for (let hop = 0; ; hop++) {
      const own = target.origin === this.base.origin;
      const res = await send(this.transport, {
        method,
        url: target,
        headers: { ...o.headers, ...(own && authorization ? { Authorization: authorization } : {}) },
        ...(o.body !== undefined ? { body: o.body } : {}),
      });
      const status = res.statusCode ?? 0;
      if (!o.redirects || !REDIRECTS.has(status)) return res;
      discard(res);
      const location = res.headers.location;
      if (!location) throw new UpstreamError('invalid', `${describe(method, target)}: ${status} without a Location`, { status });
      if (hop >= MAX_REDIRECTS) throw new UpstreamError('invalid', `${describe(method, url)}: more than ${MAX_REDIRECTS} redirects`, { status });
      target = new URL(location, target);
    }
  }

  /** Throws the UpstreamError for a status not in `ok` (reading a little of the body for its message). */
  private async expect(res: http.IncomingMessage, ok: number[], method: string, url: URL): Promise<void> {
    const status = res.statusCode ?? 0;
    if (ok.includes(status)) return;
    const what = describe(method, url);
    let detail = '';
    if (method !== 'HEAD') {
      try {
        detail = describeErrorBody(await readBody(res, 64 << 10, what));
      } catch {
        /* the status says enough */
      }
    } else discard(res);
    const retryAfter = parseRetryAfter(res.headers['retry-after'], this.now());
    const kind = kindOfStatus(status);
    throw new UpstreamError(kind, `${what} answered ${status}${detail ? ` (${detail})` : ''}`, {
      status,
      ...(retryAfter !== undefined && kind === 'unavailable' ? { retryAfter } : {}),
    });
  }

  /**
   * Reads a JSON list and its further pages (Link: <…>; rel="next", on the upstream's origin).
   * `take` returns why a page is malformed, or nothing. Returns false when the first page is a 404.
   */
  private async pages(
    first: URL,
    scopes: readonly string[],
    take: (doc: unknown) => string | undefined,
    headers: Record<string, string> = {},
  ): Promise<boolean> {
    const seen = new Set<string>();
    let next: URL | null = first;
    for (let page = 0; next; page++) {
      if (page >= MAX_PAGES || seen.has(next.href)) throw new UpstreamError('invalid', `${describe('GET', first)}: the pages do not end`);
      seen.add(next.href);
      const url: URL = next;
      const what = describe('GET', url);
      const res = await this.call('GET', url, { scopes, headers: { Accept: 'application/json', ...headers } });
      if (res.statusCode === 404 && page === 0) {
        discard(res);
        return false;
      }
      await this.expect(res, [200], 'GET', url);
      const body = await readBody(res, LIST_BODY_LIMIT, what);
      let doc: unknown;
      try {
        doc = JSON.parse(body.toString('utf8'));
      } catch {
        throw new UpstreamError('invalid', `${what}: the answer is not JSON`);
      }
      if (!doc || typeof doc !== 'object') throw new UpstreamError('invalid', `${what}: the answer is not a JSON object`);
      const why = take(doc);
      if (why) throw new UpstreamError('invalid', `${what}: ${why}`);
      const link = nextLink(res.headers.link);
      next = link ? this.sameOrigin(new URL(link, url), 'GET', url) : null;
    }
    return true;
  }
}
