// Webhooks may not reach internal addresses (SSRF): literal addresses are refused when
// a webhook is made, host names when delivering, on the address actually connected to
// (DNS rebinding), redirects are not followed, the operator's allow-list opens
// exceptions, and the operator's notifications.endpoints stay trusted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { removeDir, tempDir } from '../helpers/api-server.js';
import { systemResolver, type Resolver } from '../../src/net/outbound-connect.js';
import {
  ADMIN,
  type Behaviour,
  type HookServer,
  Receiver,
  type User,
  addUser,
  call,
  findDelivery,
  ok,
  pushImage,
  serverOptions,
  settle,
  startHooks,
} from './helpers.js';

const NO_ALLOW_LIST = { allow: [] };

describe('webhook destinations', () => {
  let s: HookServer;
  /** An "internal service" on loopback that no user webhook may reach. */
  let internal: Receiver;
  /** The operator's configured endpoint, also on loopback. */
  let operator: Receiver;
  let alice: User;
  let rebindCalls = 0;

  // Names that resolve to internal addresses, and one that rebinds: public first, loopback after.
  const names: Record<string, { address: string; family: 4 | 6 }> = {
    'v4.example': { address: '10.20.30.40', family: 4 },
    'v6.example': { address: 'fd12:3456::7', family: 6 },
    'mapped.example': { address: '::ffff:192.168.1.7', family: 6 },
    'nat64.example': { address: '64:ff9b::a9fe:a9fe', family: 6 },
    'metadata.example': { address: '169.254.169.254', family: 4 },
  };
  const resolve: Resolver = async (host) => {
    if (host === 'rebind.example') return [++rebindCalls === 1 ? { address: '203.0.113.10', family: 4 } : { address: '127.0.0.1', family: 4 }];
    return names[host] ? [names[host]] : systemResolver(host);
  };

  before(async () => {
    internal = await Receiver.start(() => 200);
    operator = await Receiver.start(() => 200);
    const opts = serverOptions(undefined, { ...NO_ALLOW_LIST, timeout: 1500 }, {});
    const config = opts.config as any;
    config.notifications.endpoints = [{ name: 'ops', url: operator.url }];
    s = await startHooks({ ...opts, parts: { resolve } });
    alice = await addUser(s, 'alice');
    await pushImage(s, alice, 'alice/app', 'seed', 1);
  });
  after(async () => {
    await s.close();
    await internal.close();
    await operator.close();
    removeDir(s.dir);
  });

  const create = (url: string) => call(s, 'POST', '/repositories/alice/app/webhooks', alice, { url });

  it('refuses literal internal addresses when a webhook is created or changed (IPv4, IPv6, IPv4-mapped)', async () => {
    const port = internal.port;
    const cases: [string, RegExp][] = [
      [`http://127.0.0.1:${port}/hook`, /127\.0\.0\.1 is a loopback address/],
      [`http://127.1:${port}/hook`, /127\.0\.0\.1 is a loopback address/],
      [`http://2130706433:${port}/hook`, /127\.0\.0\.1 is a loopback address/],
      ['http://10.0.0.1/', /private/],
      ['http://172.16.5.4/', /private/],
      ['http://192.168.0.1/', /private/],
      ['http://100.64.0.1/', /carrier-grade NAT/],
      ['http://169.254.169.254/latest/meta-data/', /cloud metadata/],
      ['http://0.0.0.0/', /unspecified/],
      ['http://224.0.0.1/', /multicast/],
      ['http://255.255.255.255/', /broadcast/],
      [`http://[::1]:${port}/hook`, /::1 is a loopback address/],
      ['http://[::]/', /unspecified/],
      ['http://[fd00:ec2::254]/', /cloud metadata/],
      ['http://[fc00::1]/', /unique local/],
      ['http://[fe80::1]/', /link-local/],
      ['http://[ff02::1]/', /multicast/],
      [`http://[::ffff:127.0.0.1]:${port}/hook`, /loopback/],
      ['http://[::ffff:a9fe:a9fe]/', /cloud metadata/],
      ['http://[64:ff9b::10.0.0.1]/', /private/],
    ];
    for (const [url, why] of cases) {
      const r = await create(url);
      assert.equal(r.status, 400, `${url}: ${r.text}`);
      assert.match(r.body.errors[0].message, why, url);
      assert.match(r.body.errors[0].message, /notifications\.webhooks\.allow/);
    }
    const hooks = await ok(call(s, 'GET', '/repositories/alice/app/webhooks', alice));
    assert.deepEqual(hooks.webhooks, [], 'nothing was created');
    // Changing a webhook's URL is judged the same way.
    const h = await ok(create('https://hooks.example.com/berth'), 201);
    const patch = await call(s, 'PATCH', `/webhooks/${h.id}`, alice, { url: `http://[::1]:${port}/` });
    assert.equal(patch.status, 400);
    assert.equal((await ok(call(s, 'GET', `/webhooks/${h.id}`, alice))).url, 'https://hooks.example.com/berth');
    await ok(call(s, 'DELETE', `/webhooks/${h.id}`, alice), 204);
    // Public addresses are fine.
    const pub = await ok(create('http://93.184.216.34/hook'), 201);
    await ok(call(s, 'DELETE', `/webhooks/${pub.id}`, alice), 204);
  });

  it('refuses a host name that resolves to an internal address when delivering, and records why without a response', async () => {
    internal.requests.length = 0;
    const hooks: Record<string, number> = {};
    for (const host of ['localhost', ...Object.keys(names)]) {
      const h = await ok(
        call(s, 'POST', '/repositories/alice/app/webhooks', alice, { url: `http://${host}:${internal.port}/hook`, events: ['push'], tagPattern: 'internal' }),
        201,
      );
      hooks[host] = h.id;
    }
    await pushImage(s, alice, 'alice/app', 'internal', 1);
    await settle(s.clock, s);
    const expected: Record<string, RegExp> = {
      localhost: /^refused: localhost resolves to a loopback address/,
      'v4.example': /^refused: v4\.example resolves to a private address/,
      'v6.example': /^refused: v6\.example resolves to a unique local \(private\) address/,
      'mapped.example': /^refused: mapped\.example resolves to a private address/,
      'nat64.example': /^refused: nat64\.example resolves to a cloud metadata address/,
      'metadata.example': /^refused: metadata\.example resolves to a cloud metadata address/,
    };
    for (const [host, id] of Object.entries(hooks)) {
      // Refused for good: dead after one attempt, not retried.
      const d = await findDelivery(s, alice, id, (x) => x.status === 'dead', `${host} refused`);
      assert.equal(d.attempts, 1, host);
      assert.equal(d.lastStatusCode, null);
      assert.match(d.lastError, expected[host], host);
      assert.match(d.lastError, /notifications\.webhooks\.allow/);
      assert.doesNotMatch(d.lastError, /10\.20\.30\.40|fd12|192\.168|a9fe|169\.254/, 'the resolved address is not shown to the user');
      const detail = await ok(call(s, 'GET', `/webhooks/${id}/deliveries/${d.id}`, alice));
      assert.equal(detail.attempts.length, 1);
      assert.equal(detail.attempts[0].responseBody, null, 'no response body from an internal service');
      assert.equal(detail.attempts[0].statusCode, null);
    }
    assert.equal(internal.requests.length, 0, 'the internal service received nothing');
  });

  it('refuses at connect time when a name rebinds from a public address to loopback', async () => {
    internal.requests.length = 0;
    const h = await ok(
      call(s, 'POST', '/repositories/alice/app/webhooks', alice, { url: `http://rebind.example:${internal.port}/hook`, tagPattern: 'rebind' }),
      201,
    );
    await pushImage(s, alice, 'alice/app', 'rebind', 1);
    await settle(s.clock, s);
    const d = await findDelivery(s, alice, h.id, (x) => x.status === 'dead', 'refused after rebinding');
    const detail = await ok(call(s, 'GET', `/webhooks/${h.id}/deliveries/${d.id}`, alice));
    // The first attempt went to the public (documentation, unreachable) address and failed; the second resolved to loopback and was refused.
    assert.equal(detail.attempts.length, 2, JSON.stringify(detail.attempts));
    assert.doesNotMatch(String(detail.attempts[0].error), /refused:/);
    assert.equal(detail.attempts[0].ok, false);
    assert.match(detail.attempts[1].error, /^refused: rebind\.example resolves to a loopback address/);
    assert.equal(detail.attempts[1].responseBody, null);
    // One lookup per attempt: the address checked is the address connected to.
    assert.equal(rebindCalls, 2);
    assert.equal(internal.requests.length, 0, 'the internal service received nothing');
  });

  it("still delivers to the operator's notifications.endpoints on loopback", async () => {
    const n = operator.requests.length;
    await pushImage(s, alice, 'alice/app', 'operator', 1);
    await settle(s.clock, s);
    assert.equal(operator.requests.length, n + 1);
    assert.equal(operator.requests[n].json.events[0].target.tag, 'operator');
    const hooks = await ok(call(s, 'GET', '/webhooks?kind=config', ADMIN));
    assert.equal(hooks.webhooks[0].url, operator.url);
  });
});

describe('webhook allow-list and redirects', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const f of cleanup.reverse()) await f();
  });
  const receiver = async (b?: Behaviour) => {
    const r = await Receiver.start(b);
    cleanup.push(() => r.close());
    return r;
  };
  const server = async (dir: string | undefined, allow: string[], webhooks: Record<string, unknown> = {}) => {
    const s = await startHooks(serverOptions(dir, { allow, ...webhooks }));
    cleanup.push(() => s.close().catch(() => {}));
    return s;
  };

  it('does not follow a redirect from an allowed receiver to a loopback port that is not allowed', async () => {
    const target = await receiver(() => 200);
    const front = await receiver(() => ({ status: 302, headers: { Location: target.url } }));
    const s = await server(undefined, [`127.0.0.1:${front.port}`]);
    cleanup.push(() => removeDir(s.dir));
    const alice = await addUser(s, 'alice');
    await pushImage(s, alice, 'alice/app', 'seed', 1);
    // Only the allowed port: the other one is refused like any loopback address.
    await ok(call(s, 'POST', '/repositories/alice/app/webhooks', alice, { url: target.url }), 400);
    const h = await ok(call(s, 'POST', '/repositories/alice/app/webhooks', alice, { url: front.url }), 201);
    await pushImage(s, alice, 'alice/app', 'v1', 1);
    await settle(s.clock, s);
    const d = await findDelivery(s, alice, h.id, (x) => x.status === 'dead', 'dead after redirects');
    assert.equal(front.requests.length, 5, 'each attempt reached the allowed receiver');
    assert.equal(target.requests.length, 0, 'the redirect target received nothing');
    assert.equal(d.lastStatusCode, 302);
    assert.equal(d.lastError, 'HTTP 302 (redirects are not followed)');
  });

  it('opens an exception for an allowed host name, and refuses again once the exception is removed', async () => {
    const dir = tempDir();
    cleanup.push(() => removeDir(dir));
    const rx = await receiver(() => 200);
    let s = await server(dir, ['localhost'], { worker: false });
    const alice = await addUser(s, 'alice');
    await pushImage(s, alice, 'alice/app', 'seed', 1);
    // The host name is allowed, not the address it resolves to.
    await ok(call(s, 'POST', '/repositories/alice/app/webhooks', alice, { url: rx.url }), 400);
    const h = await ok(call(s, 'POST', '/repositories/alice/app/webhooks', alice, { url: `http://localhost:${rx.port}/hook` }), 201);
    await pushImage(s, alice, 'alice/app', 'v1', 1);
    await s.close();

    s = await server(dir, ['localhost']);
    await settle(s.clock, s);
    await findDelivery(s, alice, h.id, (x) => x.status === 'delivered', 'delivered to the allowed host');
    assert.equal(rx.requests.length, 1);
    assert.equal(rx.requests[0].json.push_data.tag, 'v1');
    await s.close();

    // Without the exception, the same webhook (and one made earlier to a literal address) is refused when delivering.
    s = await server(dir, ['127.0.0.1'], { worker: false });
    const literal = await ok(call(s, 'POST', '/repositories/alice/app/webhooks', alice, { url: rx.url }), 201);
    await pushImage(s, alice, 'alice/app', 'v2', 1);
    await s.close();
    s = await server(dir, []);
    await settle(s.clock, s);
    const byName = await findDelivery(s, alice, h.id, (x) => x.tag === 'v2' && x.status === 'dead', 'refused without the exception');
    assert.match(byName.lastError, /^refused: localhost resolves to a loopback address/);
    const byAddress = await findDelivery(s, alice, literal.id, (x) => x.tag === 'v2' && x.status === 'dead', 'literal refused without the exception');
    assert.match(byAddress.lastError, /^refused: 127\.0\.0\.1 is a loopback address/);
    assert.equal(rx.requests.length, 1, 'nothing more arrived');
  });
});
