// The upstream client against a real Berth in token-auth mode: the Bearer challenge answered
// with a token from the realm (anonymously and with credentials), 'denied' for wrong or
// insufficient credentials without the credentials in the message, writes with push scopes,
// tag pages, and the outbound guard applied to the registry and its realm.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { systemResolver } from '../../src/net/outbound-connect.js';
import { OutboundPolicy } from '../../src/net/outbound.js';
import { UpstreamClient, UpstreamError } from '../../src/upstream/index.js';
import { MT, digestOf, removeDir, startServer, type TestServer } from '../helpers/api-server.js';
import { TOKEN_AUTH, TokenClient, accountsOf } from '../helpers/token-client.js';

let server: TestServer;
const alice = { user: 'alice', password: 'alice-password-1' };
const bob = { user: 'bob', password: 'bob-password-1' };
let priv: Awaited<ReturnType<TokenClient['pushImage']>>;
let pub: Awaited<ReturnType<TokenClient['pushImage']>>;
const clients: UpstreamClient[] = [];

function client(creds: { user: string; password: string } | null, extra: { pageSize?: number; guard?: OutboundPolicy } = {}): UpstreamClient {
  const c = new UpstreamClient(
    { url: server.url, ...(creds ? { username: creds.user, password: creds.password } : {}), ...(extra.pageSize ? { pageSize: extra.pageSize } : {}) },
    { guard: extra.guard ? { policy: extra.guard, resolve: systemResolver } : null },
  );
  clients.push(c);
  return c;
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
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

function assertNoSecret(err: Error, secret: string): void {
  for (const s of [secret, Buffer.from(`alice:${secret}`).toString('base64'), Buffer.from(`bob:${secret}`).toString('base64')])
    assert.ok(!err.message.includes(s) && !String(err.stack).includes(s), `the error carries a credential: ${err.message}`);
}

before(async () => {
  server = await startServer({ config: TOKEN_AUTH });
  const accounts = await accountsOf(server);
  for (const u of [alice, bob])
    await accounts.service.createUser({ username: u.user, password: u.password }, { actor: 'test', action: 'user.create', target: u.user });
  await accounts.close();
  const a = new TokenClient(server.url, alice);
  priv = await a.pushImage('alice/private', 'v1');
  pub = await a.pushImage('alice/public', 'v1');
  const res = await fetch(`${server.url}/api/v1/repositories/alice/public`, {
    method: 'PATCH',
    headers: { authorization: `Basic ${Buffer.from(`${alice.user}:${alice.password}`).toString('base64')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ visibility: 'public' }),
  });
  assert.equal(res.status, 200, await res.text());
});
after(async () => {
  for (const c of clients) c.close();
  await server?.close();
  if (server) removeDir(server.dir);
});

describe('Bearer tokens from the realm', () => {
  it('with credentials: manifests, blobs and tags of a private repository', async () => {
    const c = client(alice);
    assert.deepEqual(await c.headManifest('alice/private', 'v1'), { digest: priv.manifest, mediaType: MT.ociManifest, size: priv.bytes.length });
    const m = await c.getManifest('alice/private', 'v1');
    assert.ok(m.body.equals(priv.bytes));
    const blob = await c.getBlob('alice/private', priv.layer);
    assert.equal(digestOf(await readAll(blob.body)), priv.layer);
    assert.deepEqual(await c.tags('alice/private'), ['v1']);
  });

  it('anonymously: a public repository is read; a private one is denied', async () => {
    const c = client(null);
    assert.equal((await c.getManifest('alice/public', 'v1')).digest, pub.manifest);
    assert.equal(await c.headBlob('alice/public', pub.layer), 100);
    const err = await rejectsWith(c.getManifest('alice/private', 'v1'), 'denied');
    assert.equal(err.status, 401);
  });

  it('wrong credentials are denied, and the password is in no message', async () => {
    const secret = `wrong-${randomBytes(6).toString('hex')}`;
    const c = client({ user: 'alice', password: secret });
    const err = await rejectsWith(c.getManifest('alice/private', 'v1'), 'denied');
    assertNoSecret(err, secret);
    assert.match(err.message, /credentials were refused/);
  });

  it("another user's credentials are denied on a private repository", async () => {
    const err = await rejectsWith(client(bob).headManifest('alice/private', 'v1'), 'denied');
    assertNoSecret(err, bob.password);
  });

  it('tags follow the Link pages Berth sends', async () => {
    const a = new TokenClient(server.url, alice);
    const tags = ['t1', 't2', 't3', 't4', 't5'];
    for (const t of tags) await a.pushImage('alice/paged', t);
    assert.deepEqual((await client(alice, { pageSize: 2 }).tags('alice/paged')).sort(), tags);
  });
});

describe('writes with push scopes', () => {
  it('pushBlob, mountBlob, putManifest and deleteManifest into a repository of the account', async () => {
    const c = client(alice);
    const bytes = randomBytes(50_000);
    const digest = digestOf(bytes);
    await c.pushBlob('alice/copy', digest, bytes.length, Readable.from([bytes.subarray(0, 20_000), bytes.subarray(20_000)]));
    assert.equal(await c.headBlob('alice/copy', digest), bytes.length);
    assert.equal(await c.mountBlob('alice/copy', 'alice/private', priv.config), true);
    assert.equal(await c.mountBlob('alice/copy', 'alice/private', priv.layer), true);
    assert.equal(await c.putManifest('alice/copy', 'v1', MT.ociManifest, priv.bytes), priv.manifest);
    assert.ok((await c.getManifest('alice/copy', priv.manifest)).body.equals(priv.bytes));
    assert.equal(await c.deleteManifest('alice/copy', priv.manifest), true);
    assert.equal(await c.headManifest('alice/copy', priv.manifest), null);
  });

  it('a push into a namespace the account does not own is denied', async () => {
    const bytes = randomBytes(1000);
    await rejectsWith(client(bob).pushBlob('alice/copy', digestOf(bytes), bytes.length, Readable.from([bytes])), 'denied');
  });
});

describe('the outbound guard', () => {
  it('reaches the registry and its realm when the policy allows the address', async () => {
    const c = client(alice, { guard: new OutboundPolicy(['127.0.0.1']) });
    assert.equal((await c.getManifest('alice/private', 'v1')).digest, priv.manifest);
  });

  it('refuses a loopback registry under the default policy: nothing is sent', async () => {
    const err = await rejectsWith(client(alice, { guard: new OutboundPolicy([]) }).headManifest('alice/private', 'v1'), 'denied');
    assert.equal(err.refused, true);
    assert.match(err.message, /outbound policy/);
  });
});
