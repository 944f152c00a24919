// Storage quotas per namespace, on deduplicated bytes: usage counts each layer, config and
// manifest body once per namespace; a manifest PUT that would go over the limit is refused
// (403 DENIED saying used and allowed) before anything becomes visible, also when pushes
// race; crossing the warning level sends one quota.warning webhook event; only
// administrators set quotas, and a namespace's usage is visible to its own people only.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { QuotaStore } from '../../src/metadata/quota-store.js';
import { MT, digestOf, randomBlob } from '../helpers/api-server.js';
import { TokenClient, accountsOf } from '../helpers/token-client.js';
import { ADMIN, Receiver, addUser, call, drain, ok, start, stopAll, type HookServer, type User } from '../webhooks/helpers.js';

let s: HookServer;
let rx: Receiver;
let alice: User;
let bob: User;
let carol: User;
let accounts: Awaited<ReturnType<typeof accountsOf>>;
let usageStore: QuotaStore;

before(async () => {
  s = await start();
  rx = await Receiver.start();
  alice = await addUser(s, 'alice');
  bob = await addUser(s, 'bob');
  carol = await addUser(s, 'carol');
  await ok(call(s, 'POST', '/orgs', carol, { name: 'acme' }), 201, 'create acme');
  accounts = await accountsOf(s);
  usageStore = new QuotaStore(accounts.meta.db);
});

after(async () => {
  await accounts.close();
  await stopAll(s, rx);
});

const client = (u: User) => new TokenClient(s.url, u);

interface Pushed {
  res: Response;
  manifest: string;
  /** Bytes of the manifest body. */
  body: number;
  config: Ref;
  layers: Ref[];
  configBytes: Buffer;
}

/** Uploads a fresh config and the layers, then PUTs the manifest (not asserted). */
async function push(c: TokenClient, repo: string, tag: string, layers: Buffer[]): Promise<Pushed> {
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') }));
  const config = await c.pushBlob(repo, configBytes);
  const refs = [];
  for (const l of layers) refs.push(await c.pushBlob(repo, l));
  return { ...(await putManifest(c, repo, tag, config, refs)), configBytes };
}

type Ref = { digest: string; size: number };

async function putManifest(c: TokenClient, repo: string, tag: string, config: Ref, layers: Ref[], annotations?: Record<string, string>) {
  const doc = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, ...config },
    layers: layers.map((l) => ({ mediaType: MT.ociLayer, ...l })),
    ...(annotations ? { annotations } : {}),
  };
  const bytes = Buffer.from(JSON.stringify(doc));
  const res = await c.fetch(`/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': MT.ociManifest }, body: bytes });
  return { res, manifest: digestOf(bytes), body: bytes.length, config, layers };
}

async function pushed<T extends { res: Response }>(p: Promise<T>): Promise<T> {
  const r = await p;
  assert.equal(r.res.status, 201, `manifest PUT: ${await r.res.clone().text()}`);
  return r;
}

async function usage(
  ns: string,
  as: User = ADMIN,
): Promise<{ namespace: string; used: number; limit: number | null; warning: number | null; level: string; source: string }> {
  return ok(call(s, 'GET', `/namespaces/${ns}/quota`, as), 200, `usage of ${ns}`);
}

/** The maintained usage equals the usage computed from the manifests themselves. */
async function assertConsistent(ns: string): Promise<void> {
  const computed = await usageStore.computeUsage(ns);
  assert.equal(await usageStore.usage(ns), computed.bytes, `maintained usage of ${ns} matches the manifests`);
}

async function status(c: TokenClient, path: string, method = 'GET'): Promise<number> {
  const res = await c.fetch(path, { method });
  await res.arrayBuffer();
  return res.status;
}

describe('usage', () => {
  it('counts a layer shared by two repositories of a namespace once, and drops what deletes free', async () => {
    const a = client(alice);
    const shared = randomBlob(10_000);
    const one = await pushed(push(a, 'alice/one', 'v1', [shared]));
    const two = await pushed(push(a, 'alice/two', 'v1', [shared]));
    const expected = shared.length + one.config.size + one.body + two.config.size + two.body;
    assert.equal((await usage('alice')).used, expected);
    await assertConsistent('alice');

    // The same manifest in a third repository adds nothing: every digest is already counted.
    const three = await pushed(
      putManifest(a, 'alice/three', 'v1', await a.pushBlob('alice/three', one.configBytes), [await a.pushBlob('alice/three', shared)]),
    );
    assert.equal(three.manifest, one.manifest);
    assert.equal((await usage('alice')).used, expected);

    // Deleting alice/one's manifest frees nothing (alice/three has the same digests); deleting both frees its config and body.
    assert.equal(await status(a, `/v2/alice/one/manifests/${one.manifest}`, 'DELETE'), 202);
    assert.equal((await usage('alice')).used, expected);
    assert.equal(await status(a, `/v2/alice/three/manifests/${one.manifest}`, 'DELETE'), 202);
    assert.equal((await usage('alice')).used, expected - one.config.size - one.body);
    await assertConsistent('alice');

    // Deleting the last repository that uses the shared layer frees it.
    await ok(call(s, 'DELETE', '/repositories/alice/two', alice), 204, 'delete alice/two');
    assert.equal((await usage('alice')).used, 0);
    await assertConsistent('alice');
  });
});

async function setQuota(ns: string, limit: number | null, warning?: number | null): Promise<void> {
  await ok(call(s, 'PUT', `/namespaces/${ns}/quota`, ADMIN, { limit, ...(warning !== undefined ? { warning } : {}) }), 200, `set quota of ${ns}`);
}

describe('the hard limit', () => {
  it('refuses the manifest PUT that would exceed it with 403 DENIED saying used and allowed; nothing becomes visible', async () => {
    const a = client(alice);
    const first = await pushed(push(a, 'alice/limited', 'v1', [randomBlob(20_000)]));
    const used = (await usage('alice')).used;
    assert.ok(used >= 20_000 + first.body);
    const limit = used + 15_000;
    await setQuota('alice', limit);

    const over = await push(a, 'alice/limited', 'v2', [randomBlob(10_000), randomBlob(10_000)]);
    assert.equal(over.res.status, 403);
    const err = ((await over.res.json()) as { errors: { code: string; message: string; detail: Record<string, unknown> }[] }).errors[0];
    assert.equal(err.code, 'DENIED');
    assert.match(err.message, /^quota exceeded: namespace alice uses \d+(\.\d)? KiB of \d+(\.\d)? KiB; this push needs \d+(\.\d)? KiB more$/);
    assert.deepEqual(err.detail, { namespace: 'alice', used, limit, requested: over.config.size + 20_000 + over.body });

    // Not visible: neither the tag nor the manifest by digest; usage unchanged.
    assert.equal(await status(a, '/v2/alice/limited/manifests/v2'), 404);
    assert.equal(await status(a, `/v2/alice/limited/manifests/${over.manifest}`), 404);
    const tags = await a.fetch('/v2/alice/limited/tags/list');
    assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, ['v1']);
    assert.equal((await usage('alice')).used, used);

    // What adds no bytes is still accepted above the limit: another tag for a manifest it holds.
    await setQuota('alice', 1);
    const again = await putManifest(a, 'alice/limited', 'again', first.config, first.layers, { 'org.example.n': '2' });
    assert.equal(again.res.status, 403, 'a new manifest body needs room, even when its blobs are all counted');
    const retag = await a.fetch('/v2/alice/limited/manifests/also-v1', {
      method: 'PUT',
      headers: { 'Content-Type': MT.ociManifest },
      body: await manifestBytes(a, 'alice/limited', 'v1'),
    });
    assert.equal(retag.status, 201, await retag.text());
    assert.equal((await usage('alice')).level, 'exceeded');
    await ok(call(s, 'DELETE', '/namespaces/alice/quota', ADMIN), 204);
  });

  it('refuses an upload that alone would exceed the limit at its commit, and drops it', async () => {
    const a = client(alice);
    const used = (await usage('alice')).used;
    await setQuota('alice', used + 1000);
    const big = randomBlob(5000);
    const start = await a.fetch('/v2/alice/limited/blobs/uploads/', { method: 'POST' });
    assert.equal(start.status, 202);
    const loc = new URL(start.headers.get('location')!, s.url);
    loc.searchParams.set('digest', digestOf(big));
    const put = await a.fetch(loc.pathname + loc.search, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: big });
    assert.equal(put.status, 403);
    const err = ((await put.json()) as { errors: { code: string; message: string }[] }).errors[0];
    assert.equal(err.code, 'DENIED');
    assert.match(err.message, /^quota exceeded: namespace alice uses /);
    assert.equal(await status(a, `/v2/alice/limited/blobs/${digestOf(big)}`, 'HEAD'), 404);
    assert.equal(await status(a, loc.pathname), 404, 'the upload session is gone');
    await ok(call(s, 'DELETE', '/namespaces/alice/quota', ADMIN), 204);
  });

  it('lets exactly one of several concurrent pushes that each fit alone, but not together, through', async () => {
    const b = client(bob);
    await pushed(push(b, 'bob/base', 'v1', [randomBlob(100)]));
    const used = (await usage('bob')).used;
    await setQuota('bob', used + 30_000);
    // Every image's blobs are uploaded first (each fits alone); then the manifest PUTs race.
    const images = [];
    for (let i = 0; i < 6; i++) {
      const repo = `bob/race${i}`;
      const config = await b.pushBlob(repo, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n: i })));
      const layer = await b.pushBlob(repo, randomBlob(20_000));
      images.push({ repo, config, layer });
    }
    const results = await Promise.all(images.map((im) => putManifest(b, im.repo, 'v1', im.config, [im.layer])));
    const statuses = results.map((r) => r.res.status).sort();
    assert.deepEqual(statuses, [201, 403, 403, 403, 403, 403]);
    const u = await usage('bob');
    assert.ok(u.used <= used + 30_000, `usage ${u.used} within the limit`);
    await assertConsistent('bob');
    for (const [i, r] of results.entries()) {
      assert.equal(await status(b, `/v2/${images[i].repo}/manifests/v1`), r.res.status === 201 ? 200 : 404);
    }
  });
});

async function manifestBytes(c: TokenClient, repo: string, ref: string): Promise<Buffer> {
  const res = await c.fetch(`/v2/${repo}/manifests/${ref}`, { headers: { Accept: MT.ociManifest } });
  assert.equal(res.status, 200);
  return Buffer.from(await res.arrayBuffer());
}

describe('the warning level', () => {
  it('sends one quota.warning event to the namespace webhook when a push crosses it, not on every push above it', async () => {
    const c = client(carol);
    const hook = await ok(call(s, 'POST', '/namespaces/acme/webhooks', carol, { url: rx.url, events: ['quota.warning'], format: 'cloudevents' }), 201);
    await setQuota('acme', 1_000_000, 50_000);
    await pushed(push(c, 'acme/app', 'v1', [randomBlob(10_000)]));
    await drain(s);
    assert.equal(rx.ofEvent('quota.warning').length, 0, 'below the warning level');
    await pushed(push(c, 'acme/app', 'v2', [randomBlob(45_000)]));
    await pushed(push(c, 'acme/other', 'v1', [randomBlob(10_000)]));
    await drain(s);
    const events = rx.ofEvent('quota.warning');
    assert.equal(events.length, 1, 'one event for the crossing');
    assert.equal(events[0].json.type, 'io.berth.quota.warning');
    const q = events[0].json.data.quota;
    assert.deepEqual({ namespace: q.namespace, warning: q.warning, limit: q.limit }, { namespace: 'acme', warning: 50_000, limit: 1_000_000 });
    assert.ok(q.used >= 50_000);
    const u = await usage('acme', carol);
    assert.equal(u.level, 'warning');
    assert.equal(hook.events[0], 'quota.warning');
  });

  it('is sent to namespace webhooks only: a repository webhook cannot subscribe to it', async () => {
    const r = await call(s, 'POST', '/repositories/acme/app/webhooks', carol, { url: rx.url, events: ['push', 'quota.warning'] });
    assert.equal(r.status, 400, r.text);
    assert.match(r.body.errors[0].message, /namespace webhooks only/);
  });
});

describe('who may see and set quotas', () => {
  it('administrators set quotas; nobody else, not even the namespace itself', async () => {
    for (const who of [alice, bob, carol]) {
      const r = await call(s, 'PUT', '/namespaces/alice/quota', who, { limit: 10 });
      assert.equal(r.status, 403, `${who.user}: ${r.text}`);
      assert.equal(r.body.errors[0].code, 'DENIED');
      assert.equal((await call(s, 'DELETE', '/namespaces/alice/quota', who)).status, 403);
      assert.equal((await call(s, 'GET', '/quotas', who)).status, 403);
    }
    assert.equal((await call(s, 'PUT', '/namespaces/alice/quota', null, { limit: 10 })).status, 401);
    const r = await call(s, 'PUT', '/namespaces/alice/quota', ADMIN, { limit: 10, warning: 20 });
    assert.equal(r.status, 400, 'warning above limit');
  });

  it("a namespace's usage is visible to its user, its organisation's members and administrators; to others exactly like a missing namespace", async () => {
    await usage('alice', alice);
    await usage('acme', carol);
    await usage('alice', ADMIN);
    const leak = await call(s, 'GET', '/namespaces/alice/quota', bob);
    const missing = await call(s, 'GET', '/namespaces/nobody/quota', bob);
    assert.equal(leak.status, 404);
    assert.deepEqual(leak.body, missing.body);
    assert.equal((await call(s, 'GET', '/namespaces/acme/quota', alice)).status, 404);
    assert.equal((await call(s, 'GET', '/namespaces/alice/quota', null)).status, 401);
    await ok(call(s, 'PUT', '/orgs/acme/members/bob', carol, { role: 'member' }));
    assert.equal((await usage('acme', bob)).namespace, 'acme', 'a new member sees it');
  });

  it('administrators list every namespace that uses storage or has a quota', async () => {
    const list = await ok(call(s, 'GET', '/quotas?n=100', ADMIN));
    const names = list.namespaces.map((n: { namespace: string }) => n.namespace);
    assert.ok(names.includes('acme') && names.includes('bob'), JSON.stringify(names));
    const acme = list.namespaces.find((n: { namespace: string }) => n.namespace === 'acme');
    assert.equal(acme.limit, 1_000_000);
    assert.equal(acme.source, 'namespace');
    assert.equal(acme.used, (await usage('acme')).used);
  });
});
