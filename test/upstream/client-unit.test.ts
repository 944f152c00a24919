// The upstream client against small in-process servers, for what a real registry does not
// do on demand: 429/503 with Retry-After, redirects to another host, wrong bytes, a server
// that hangs, a token realm on an internal address, token expiry, oversized answers.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { systemResolver } from '../../src/net/outbound-connect.js';
import { OutboundPolicy } from '../../src/net/outbound.js';
import { UpstreamClient, UpstreamError, type UpstreamSettings } from '../../src/upstream/index.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const digestOf = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}
interface Fake {
  url: string;
  port: number;
  seen: Seen[];
  /** TCP connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

const servers: Fake[] = [];
const clients: UpstreamClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(servers.map((s) => s.close()));
});

async function fake(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<Fake> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    handler(req, res);
  });
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const f: Fake = {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    connections: () => connections,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  servers.push(f);
  return f;
}

function client(url: string, settings: Partial<UpstreamSettings> = {}, deps: { guard?: OutboundPolicy; now?: () => number } = {}): UpstreamClient {
  const c = new UpstreamClient(
    { url, ...settings },
    { guard: deps.guard ? { policy: deps.guard, resolve: systemResolver } : null, ...(deps.now ? { now: deps.now } : {}) },
  );
  clients.push(c);
  return c;
}

async function rejectsWith(p: Promise<unknown>, kind: UpstreamError['kind']): Promise<UpstreamError> {
  const err = await p.then(
    () => assert.fail(`expected an UpstreamError of kind ${kind}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof UpstreamError, `expected an UpstreamError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  return err;
}

/** Reads a stream to its end or error: the bytes received and the error, if any. */
async function drain(body: Readable): Promise<{ bytes: Buffer; error: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const c of body) chunks.push(c as Buffer);
    return { bytes: Buffer.concat(chunks), error: null };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: {}, layers: [] }));

describe('rate limits and outages', () => {
  it('429 is unavailable with the Retry-After seconds; an HTTP date counts from the client clock', async () => {
    const now = Date.parse('2026-12-05T12:00:00Z');
    let retryAfter = '7';
    const s = await fake((_req, res) => {
      res.writeHead(429, { 'Retry-After': retryAfter, 'Content-Type': 'application/json' });
      res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"pull rate limit"}]}');
    });
    const c = client(s.url, {}, { now: () => now });
    let err = await rejectsWith(c.getManifest('library/alpine', 'latest'), 'unavailable');
    assert.equal(err.status, 429);
    assert.equal(err.retryAfter, 7);
    assert.match(err.message, /TOOMANYREQUESTS/);
    retryAfter = new Date(now + 120_000).toUTCString();
    err = await rejectsWith(c.headManifest('library/alpine', 'latest'), 'unavailable');
    assert.equal(err.retryAfter, 120);
  });

  it('503 with Retry-After and a bare 500 are unavailable', async () => {
    let status = 503;
    const s = await fake((_req, res) => {
      res.writeHead(status, status === 503 ? { 'Retry-After': '30' } : {});
      res.end();
    });
    const c = client(s.url);
    let err = await rejectsWith(c.headBlob('library/alpine', digestOf('x')), 'unavailable');
    assert.deepEqual([err.status, err.retryAfter], [503, 30]);
    status = 500;
    err = await rejectsWith(c.tags('library/alpine'), 'unavailable');
    assert.deepEqual([err.status, err.retryAfter], [500, undefined]);
  });

  it('a refused connection is unavailable', async () => {
    const s = await fake(() => {});
    await s.close();
    await rejectsWith(client(s.url).headManifest('library/alpine', 'latest'), 'unavailable');
  });

  it('a server that never answers is unavailable after timeoutMs', async () => {
    const s = await fake(() => {}); // accepts, reads the request, never answers
    const started = Date.now();
    const err = await rejectsWith(client(s.url, { timeoutMs: 300 }).getManifest('library/alpine', 'latest'), 'unavailable');
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 5000, `gave up after ${took} ms`);
    assert.match(err.message, /no answer within 300 ms/);
  });

  it('a blob body that stops moving fails with unavailable after bodyIdleTimeoutMs', async () => {
    const blob = Buffer.alloc(2000, 7);
    const s = await fake((_req, res) => {
      res.writeHead(200, { 'Content-Length': blob.length });
      res.write(blob.subarray(0, 500)); // then nothing
    });
    const got = await client(s.url, { bodyIdleTimeoutMs: 300 }).getBlob('library/alpine', digestOf(blob));
    const { bytes, error } = await drain(got.body);
    assert.ok(error instanceof UpstreamError && error.kind === 'unavailable', String(error));
    assert.match((error as Error).message, /stalled/);
    assert.ok(bytes.length < blob.length);
  });
});

describe('answers that are wrong', () => {
  it('a manifest whose bytes do not match the digest asked for is invalid', async () => {
    const s = await fake((_req, res) => {
      res.writeHead(200, { 'Content-Type': OCI_MANIFEST, 'Content-Length': manifest.length });
      res.end(manifest);
    });
    const wrong = digestOf('something else');
    const err = await rejectsWith(client(s.url).getManifest('library/alpine', wrong), 'invalid');
    assert.match(err.message, /digest/);
    // By tag there is nothing to compare with but the header, which matches here.
    assert.equal((await client(s.url).getManifest('library/alpine', 'latest')).digest, digestOf(manifest));
  });

  it('a Docker-Content-Digest that disagrees with the body is invalid', async () => {
    const s = await fake((_req, res) => {
      res.writeHead(200, { 'Content-Type': OCI_MANIFEST, 'Docker-Content-Digest': digestOf('other') });
      res.end(manifest);
    });
    await rejectsWith(client(s.url).getManifest('library/alpine', 'latest'), 'invalid');
  });

  it('a blob whose bytes do not match its digest ends in an invalid error, never with all its bytes', async () => {
    const served = Buffer.alloc(100_000, 1);
    const s = await fake((_req, res) => {
      res.writeHead(200, { 'Content-Length': served.length });
      res.end(served);
    });
    const got = await client(s.url).getBlob('library/alpine', digestOf('the real bytes'));
    const { bytes, error } = await drain(got.body);
    assert.ok(error instanceof UpstreamError && error.kind === 'invalid', String(error));
    assert.ok(bytes.length < served.length, `the reader got ${bytes.length} of ${served.length} bytes`);
  });

  it('a blob cut short is unavailable', async () => {
    const blob = Buffer.alloc(4000, 3);
    const s = await fake((_req, res) => {
      res.writeHead(200, { 'Content-Length': blob.length });
      res.write(blob.subarray(0, 1000), () => res.socket?.destroy());
    });
    const { error } = await drain((await client(s.url).getBlob('library/alpine', digestOf(blob))).body);
    assert.ok(error instanceof UpstreamError && error.kind === 'unavailable', String(error));
  });

  it('a manifest over 4 MiB is refused', async () => {
    const big = Buffer.alloc((4 << 20) + 1, 32);
    const s = await fake((_req, res) => {
      res.writeHead(200, { 'Content-Type': OCI_MANIFEST });
      res.end(big);
    });
    const err = await rejectsWith(client(s.url).getManifest('library/alpine', 'latest'), 'invalid');
    assert.match(err.message, /over the limit/);
  });

  it('a HEAD without Docker-Content-Digest is answered by fetching the manifest; by digest, a different one is invalid', async () => {
    let digestHeader: string | undefined;
    const s = await fake((_req, res) => {
      res.writeHead(200, {
        'Content-Type': OCI_MANIFEST,
        'Content-Length': manifest.length,
        ...(digestHeader ? { 'Docker-Content-Digest': digestHeader } : {}),
      });
      res.end(_req.method === 'HEAD' ? undefined : manifest);
    });
    const c = client(s.url);
    assert.deepEqual(await c.headManifest('library/alpine', 'latest'), { digest: digestOf(manifest), mediaType: OCI_MANIFEST, size: manifest.length });
    assert.deepEqual(
      s.seen.map((r) => r.method),
      ['HEAD', 'GET'],
    );
    digestHeader = digestOf('another manifest');
    await rejectsWith(c.headManifest('library/alpine', digestOf(manifest)), 'invalid');
  });

  it('a Link to another host is not followed', async () => {
    const s = await fake((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', Link: '<http://169.254.169.254/v2/x/tags/list?last=a>; rel="next"' });
      res.end('{"name":"x","tags":["a"]}');
    });
    await rejectsWith(client(s.url).tags('library/alpine'), 'invalid');
    assert.equal(s.seen.length, 1);
  });
});

describe('uploads', () => {
  it('a PUT refused before the body is read stops sending it: the source is destroyed, the error is invalid with its code', async () => {
    const s = await fake((req, res) => {
      if (req.method === 'POST') {
        res.writeHead(202, { Location: '/v2/team/app/blobs/uploads/u1?state=x' });
        return res.end();
      }
      res.writeHead(400, { 'Content-Type': 'application/json', Connection: 'close' });
      res.end('{"errors":[{"code":"SIZE_INVALID","message":"too big"}]}');
    });
    let produced = 0;
    const chunk = Buffer.alloc(64 << 10, 5);
    const source = Readable.from(
      (async function* () {
        for (let i = 0; i < 10_000; i++) {
          produced += chunk.length;
          yield chunk;
        }
      })(),
    );
    const size = 10_000 * chunk.length;
    const err = await rejectsWith(client(s.url).pushBlob('team/app', digestOf('whatever'), size, source), 'invalid');
    assert.equal(err.status, 400);
    assert.match(err.message, /SIZE_INVALID/);
    assert.ok(source.destroyed, 'the source stream is destroyed');
    assert.ok(produced < size, `the whole body was read (${produced} bytes)`);
  });
});

describe('redirects', () => {
  it('a blob redirected to another host is fetched there without the Authorization header', async () => {
    const blob = Buffer.from('layer bytes from object storage');
    const storage = await fake((_req, res) => {
      res.writeHead(200, { 'Content-Length': blob.length });
      res.end(blob);
    });
    const registry = await fake((req, res) => {
      if (req.url!.startsWith('/token')) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ token: 'registry-token-abc', expires_in: 300 }));
      }
      if (req.headers.authorization !== 'Bearer registry-token-abc') {
        res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${registry.url}/token",service="fake",scope="repository:library/alpine:pull"` });
        return res.end();
      }
      res.writeHead(307, { Location: `${storage.url}/blobs/abc?signature=xyz` });
      res.end();
    });
    const got = await client(registry.url, { username: 'mirror', password: 'mirror-secret' }).getBlob('library/alpine', digestOf(blob));
    assert.equal(got.size, blob.length);
    assert.ok((await drain(got.body)).bytes.equals(blob));
    assert.equal(storage.seen.length, 1);
    assert.equal(storage.seen[0].url, '/blobs/abc?signature=xyz');
    assert.equal(storage.seen[0].headers.authorization, undefined, 'the token went to the other host');
    // The credentials went to the realm only; the registry got the token.
    const token = registry.seen.find((r) => r.url.startsWith('/token'))!;
    assert.equal(token.headers.authorization, `Basic ${Buffer.from('mirror:mirror-secret').toString('base64')}`);
    assert.ok(registry.seen.filter((r) => !r.url.startsWith('/token')).every((r) => !String(r.headers.authorization ?? '').startsWith('Basic')));
  });
});

describe('tokens', () => {
  /** A registry that wants a Bearer token for each repository's scope; tokens last `expiresIn` seconds. */
  async function tokenRegistry(expiresIn: number) {
    let issued = 0;
    const valid = new Map<string, string>(); // token -> scope
    const s = await fake((req, res) => {
      const u = new URL(req.url!, 'http://x');
      if (u.pathname === '/token') {
        const token = `t${++issued}`;
        valid.set(token, u.searchParams.getAll('scope').join(' '));
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ access_token: token, expires_in: expiresIn }));
      }
      const repo = /^\/v2\/(.+)\/manifests\//.exec(u.pathname)?.[1];
      const scope = `repository:${repo}:pull`;
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!token || !valid.get(token)?.split(' ').includes(scope)) {
        res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${s.url}/token",service="fake",scope="${scope}"` });
        return res.end();
      }
      res.writeHead(200, { 'Content-Type': OCI_MANIFEST, 'Docker-Content-Digest': digestOf(manifest) });
      res.end(manifest);
    });
    return { s, issued: () => issued, challenges: () => s.seen.filter((r) => r.url.startsWith('/v2/') && !r.headers.authorization).length };
  }

  it('a token is cached per scope until expires_in (on the client clock), then fetched again', async () => {
    const { s, issued } = await tokenRegistry(300);
    let now = 1_000_000;
    const c = client(s.url, {}, { now: () => now });
    for (let i = 0; i < 3; i++) assert.equal((await c.getManifest('library/alpine', 'latest')).digest, digestOf(manifest));
    assert.equal(issued(), 1);
    await c.getManifest('library/busybox', 'latest');
    assert.equal(issued(), 2, 'another repository is another scope');
    now += 250_000;
    await c.getManifest('library/alpine', 'latest');
    assert.equal(issued(), 2, 'still valid at 250 s of 300');
    now += 60_000;
    await c.getManifest('library/alpine', 'latest');
    assert.equal(issued(), 3, 'expired at 310 s');
  });

  it('after the first challenge, a new scope gets its token before its first request (no 401 round trip)', async () => {
    const { s, challenges } = await tokenRegistry(300);
    const c = client(s.url);
    await c.getManifest('library/alpine', 'latest');
    await c.getManifest('library/busybox', 'latest');
    await c.getManifest('library/debian', 'latest');
    assert.equal(challenges(), 1);
  });

  it('concurrent requests for one scope share one token request', async () => {
    const { s, issued } = await tokenRegistry(300);
    const c = client(s.url);
    await c.getManifest('library/alpine', 'latest'); // learns the realm
    await Promise.all(Array.from({ length: 10 }, () => c.getManifest('library/busybox', 'latest')));
    assert.equal(issued(), 2);
  });

  it('a Basic challenge is answered with the credentials; none configured is denied', async () => {
    const expected = `Basic ${Buffer.from('mirror:s3cret-pw').toString('base64')}`;
    const s = await fake((req, res) => {
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="registry"' });
        return res.end();
      }
      res.writeHead(200, { 'Content-Type': OCI_MANIFEST });
      res.end(manifest);
    });
    assert.equal((await client(s.url, { username: 'mirror', password: 's3cret-pw' }).getManifest('library/alpine', 'latest')).digest, digestOf(manifest));
    await rejectsWith(client(s.url).getManifest('library/alpine', 'latest'), 'denied');
    const err = await rejectsWith(client(s.url, { username: 'mirror', password: 'wrong-pw-123' }).getManifest('library/alpine', 'latest'), 'denied');
    assert.ok(!err.message.includes('wrong-pw-123') && !err.message.includes(Buffer.from('mirror:wrong-pw-123').toString('base64')), err.message);
  });

  it('a token realm on an internal address is refused by the guard: nothing reaches it', async () => {
    const realm = await fake((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"token":"t"}');
    });
    const registry = await fake((_req, res) => {
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${realm.url}/token",service="fake"` });
      res.end();
    });
    // The operator allows the registry's address and port, nothing else on loopback.
    const c = client(registry.url, { username: 'u', password: 'guarded-secret' }, { guard: new OutboundPolicy([`127.0.0.1:${registry.port}`]) });
    const err = await rejectsWith(c.getManifest('library/alpine', 'latest'), 'denied');
    assert.equal(err.refused, true);
    assert.match(err.message, /outbound policy/);
    assert.equal(registry.seen.length, 1);
    assert.equal(realm.seen.length, 0);
    assert.ok(!err.message.includes('guarded-secret'));
  });
});

describe('connections', () => {
  const answer = (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, { 'Content-Type': OCI_MANIFEST, 'Content-Length': manifest.length });
    res.end(manifest);
  };

  it('are kept alive and reused, with and without a guard', async () => {
    const s = await fake(answer);
    const open = client(s.url);
    for (let i = 0; i < 5; i++) await open.getManifest('library/alpine', 'latest');
    assert.equal(s.connections(), 1);
    const guarded = client(s.url, {}, { guard: new OutboundPolicy([`127.0.0.1:${s.port}`]) });
    for (let i = 0; i < 5; i++) await guarded.getManifest('library/alpine', 'latest');
    assert.equal(s.connections(), 2);
  });

  it('a pooled connection the server dropped is replaced: the request is sent again once, on a new one', async () => {
    const served = new WeakMap<object, number>();
    const s = await fake((req, res) => {
      const n = served.get(req.socket) ?? 0;
      served.set(req.socket, n + 1);
      if (n >= 1) return req.socket.destroy(); // closed as the request arrived, like an idle timeout race
      answer(req, res);
    });
    const c = client(s.url);
    await c.getManifest('library/alpine', 'latest');
    assert.equal((await c.getManifest('library/alpine', 'latest')).digest, digestOf(manifest));
    assert.equal(s.seen.length, 3);
    assert.equal(s.connections(), 2);
  });
});

describe('referrers', () => {
  it('the referrers API is used when the upstream has it, with its Link pages', async () => {
    const subject = digestOf('subject');
    const a = { mediaType: OCI_MANIFEST, digest: digestOf('a'), size: 10, artifactType: 'application/x-sig' };
    const b = { mediaType: OCI_MANIFEST, digest: digestOf('b'), size: 11, artifactType: 'application/spdx+json' };
    const s = await fake((req, res) => {
      const last = req.url!.includes('last=1');
      res.writeHead(200, {
        'Content-Type': 'application/vnd.oci.image.index.v1+json',
        ...(last ? {} : { Link: `</v2/library/alpine/referrers/${subject}?last=1>; rel="next"` }),
      });
      res.end(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [last ? b : a] }));
    });
    assert.deepEqual(await client(s.url).referrers('library/alpine', subject), [a, b]);
    assert.ok(s.seen.every((r) => r.url.startsWith('/v2/library/alpine/referrers/')));
  });
});
