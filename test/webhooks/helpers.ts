// Helpers of the webhook tests: a real HTTP receiver on a random port, a token-auth
// Berth with fast delivery settings, API calls, users, and image pushes.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { MT, digestOf, removeDir, startServer, type StartOptions, type TestServer } from '../helpers/api-server.js';
import { TOKEN_AUTH, TokenClient } from '../helpers/token-client.js';
import { webhooksOf } from '../../src/webhooks/index.js';
import type { DeliveryWorker } from '../../src/webhooks/worker.js';
import { readJsonReply } from '../helpers/json-reply.js';
import { TestClock } from '../helpers/clock.js';

export { TestClock };

export const ADMIN = { user: 'admin', password: 'admin-password-1' };

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  json: any;
  at: number;
}

/** The status to answer (with headers, e.g. a redirect's Location), or 'hang' for no answer. */
export type Behaviour = (req: Received, n: number) => number | { status: number; headers: Record<string, string> } | 'hang';

/** An HTTP server that records every request; `behaviour` picks the status (default 200). */
export class Receiver {
  readonly requests: Received[] = [];
  behaviour: Behaviour = () => 200;
  private server!: http.Server;
  url = '';

  static async start(behaviour?: Behaviour, port = 0): Promise<Receiver> {
    const r = new Receiver();
    if (behaviour) r.behaviour = behaviour;
    await r.listen(port);
    return r;
  }

  async listen(port = 0): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        const rec = { headers: req.headers, body, json, at: Date.now() };
        this.requests.push(rec);
        const answer = this.behaviour(rec, this.requests.length);
        if (answer === 'hang') return;
        const { status, headers } = typeof answer === 'number' ? { status: answer, headers: {} } : answer;
        res.writeHead(status, { 'Content-Type': 'text/plain', ...headers }).end(status < 300 ? 'ok' : `failure ${this.requests.length}`);
      });
    });
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  ofEvent(type: string): Received[] {
    return this.requests.filter((r) => r.headers['berth-event'] === type);
  }
}

/**
 * Retries wait minutes of the worker's clock, so they happen only when a test advances
 * it (settle), never while a test is not looking.
 */
export const FAST = { interval: 50, backoff: 60_000, maxbackoff: 240_000, attempts: 5, timeout: 2000 };

/** A test server whose webhook worker runs on `clock`. */
export interface HookServer extends TestServer {
  clock: TestClock;
}

export async function startHooks(opts: StartOptions, clock = new TestClock()): Promise<HookServer> {
  const s = await startServer({ ...opts, parts: { ...opts.parts, now: clock.now } });
  return Object.assign(s, { clock });
}

function workerOf(s: TestServer): DeliveryWorker {
  const w = webhooksOf(s.app)?.worker();
  if (!w) throw new Error('this server runs no webhook worker');
  return w;
}

/**
 * Runs the servers' workers until nothing is due and nothing is in flight (passes over
 * all of them until one does nothing); returns the attempts made. After it, "nothing
 * else arrived" is a fact about the outbox, not a guess after a sleep.
 */
export async function drain(...servers: TestServer[]): Promise<number> {
  for (let total = 0; ; ) {
    let n = 0;
    for (const s of servers) n += await workerOf(s).drain();
    total += n;
    if (n === 0) return total;
  }
}

/** Drains, then moves the clock to the next retry (or claim expiry) and drains again, until nothing is pending. */
export async function settle(clock: TestClock, ...servers: TestServer[]): Promise<number> {
  let total = 0;
  for (let round = 0; round < 100; round++) {
    total += await drain(...servers);
    const next = await workerOf(servers[0]).nextDueAt();
    if (next === null) return total;
    clock.advanceTo(next);
  }
  assert.fail('deliveries still pending after 100 rounds of retries');
}

/**
 * The receivers listen on loopback, which webhooks may not reach by default: the test
 * servers allow it (test/webhooks/outbound.test.ts shows the default refusing it).
 */
export const ALLOW_RECEIVERS = { allow: ['127.0.0.1'] };

export function serverOptions(dir?: string, webhooks: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): StartOptions {
  return {
    ...(dir ? { dir } : {}),
    config: { ...TOKEN_AUTH, notifications: { webhooks: { ...FAST, ...ALLOW_RECEIVERS, ...webhooks } }, ...extra } as StartOptions['config'],
  };
}

export async function start(dir?: string, webhooks: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, clock?: TestClock): Promise<HookServer> {
  return startHooks(serverOptions(dir, webhooks, extra), clock);
}

export type Creds = { user: string; password: string } | null;
export type User = { user: string; password: string };

/** A webhook-ready server, a receiver, and the users alice and bob: what most webhook suites start with. */
export async function startWithTwoUsers(): Promise<{ s: HookServer; rx: Receiver; alice: User; bob: User }> {
  const s = await start();
  const rx = await Receiver.start();
  return { s, rx, alice: await addUser(s, 'alice'), bob: await addUser(s, 'bob') };
}

export async function stopAll(s: TestServer, rx: Receiver): Promise<void> {
  await s.close();
  await rx.close();
  removeDir(s.dir);
}

/** The delivery of `hook` that matches `pred` in its log (read once: drain or settle first). */
export async function findDelivery(s: TestServer, creds: Creds, hook: number, pred: (d: any) => boolean, what: string): Promise<any> {
  const list = await ok(call(s, 'GET', `/webhooks/${hook}/deliveries?n=500`, creds));
  const d = list.deliveries.find(pred);
  if (!d) assert.fail(`no delivery is ${what}: ${JSON.stringify(list.deliveries)}`);
  return d;
}

export interface Reply {
  status: number;
  body: any;
  text: string;
}

export async function call(s: TestServer | string, method: string, path: string, creds: Creds, body?: unknown): Promise<Reply> {
  const base = typeof s === 'string' ? s : s.url;
  const headers: Record<string, string> = {};
  if (creds) headers.authorization = `Basic ${Buffer.from(`${creds.user}:${creds.password}`).toString('base64')}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}/api/v1${path}`, { method, headers, body: body !== undefined ? JSON.stringify(body) : undefined });
  return readJsonReply(res);
}

export async function ok(r: Promise<Reply> | Reply, status = 200, what = ''): Promise<any> {
  const x = await r;
  assert.equal(x.status, status, `${what}: ${x.text.slice(0, 300)}`);
  return x.body;
}

export async function addUser(s: TestServer, name: string): Promise<{ user: string; password: string }> {
  const password = `${name}-password-1`;
  await ok(call(s, 'POST', '/users', ADMIN, { username: name, password }), 201, `create ${name}`);
  return { user: name, password };
}

/** Pushes `layers` blobs, a config and one manifest under `tag` (or by digest) as the user. */
export async function pushImage(
  s: TestServer,
  creds: { user: string; password: string },
  repo: string,
  tag?: string,
  layers = 3,
): Promise<{ digest: string; size: number }> {
  const c = new TokenClient(s.url, creds);
  const config = await c.pushBlob(repo, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(6).toString('hex') })));
  const ls = [];
  for (let i = 0; i < layers; i++) ls.push(await c.pushBlob(repo, randomBytes(100 + i)));
  const doc = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: config.digest, size: config.size },
    layers: ls.map((l) => ({ mediaType: MT.ociLayer, digest: l.digest, size: l.size })),
  };
  const bytes = Buffer.from(JSON.stringify(doc));
  const digest = digestOf(bytes);
  const res = await c.fetch(`/v2/${repo}/manifests/${tag ?? digest}`, { method: 'PUT', headers: { 'Content-Type': MT.ociManifest }, body: bytes });
  assert.equal(res.status, 201, `PUT manifest ${repo}:${tag}: ${await res.text()}`);
  return { digest, size: bytes.length };
}

/** DELETE /v2/<repo>/manifests/<ref> as the user. */
export async function deleteRef(s: TestServer, creds: { user: string; password: string }, repo: string, ref: string): Promise<void> {
  const c = new TokenClient(s.url, creds);
  const res = await c.fetch(`/v2/${repo}/manifests/${ref}`, { method: 'DELETE' });
  assert.equal(res.status, 202, `DELETE ${repo}/${ref}: ${await res.text()}`);
}
