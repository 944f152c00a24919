// The object store goes away under a Berth that redirects blob GETs to it (S3 with presigned
// URLs, storage.redirect on): a TCP proxy between Berth and the shared Ceph RGW is cut, never RGW
// itself. Readiness turns 503 naming storage, and blob GETs answer 503 with Retry-After instead
// of a 307 to a store that does not answer; when the proxy is back, redirects resume and work.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { digestOf, pushBlob, removeDir, startServer, type TestServer } from '../helpers/api-server.js';
import { rgw, s3StorageOverrides } from '../helpers/s3.js';
import { sleep } from '../helpers/shared.js';

if (!process.env.BERTH_CEPH_KEEP) process.env.BERTH_CEPH_KEEP = '1';

/** A TCP proxy in front of `target` that can be cut (connections refused, open ones reset) and restored on the same port. */
class CuttableProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}

  async open(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const sock of this.sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

describe('object store down with redirects on', () => {
  let s: TestServer;
  let proxy: CuttableProxy;
  before(async () => {
    const env = await rgw();
    const u = new URL(env.endpoint);
    proxy = new CuttableProxy({ host: u.hostname, port: Number(u.port || 80) });
    await proxy.open();
    s = await startServer({
      config: {
        storage: await s3StorageOverrides({ regionendpoint: `http://127.0.0.1:${proxy.port}` }, true),
        health: { storagedriver: { interval: 1000, threshold: 1 } },
      },
    });
  });
  after(async () => {
    await s?.close();
    await proxy?.cut();
    if (s) removeDir(s.dir);
  });

  it('readiness says storage is down, and blob GETs answer 503 + Retry-After instead of a dead redirect; both recover', async () => {
    const blob = Buffer.from(`storage outage ${Date.now()}`);
    const pushed = await pushBlob(s.url, 'team/app', blob);
    const get = () => fetch(`${s.url}/v2/team/app/blobs/${pushed.digest}`, { redirect: 'manual' });

    const before = await get();
    assert.equal(before.status, 307);
    const location = before.headers.get('location') ?? '';
    assert.ok(location.startsWith(`http://127.0.0.1:${proxy.port}/`), location);
    assert.equal(digestOf(Buffer.from(await (await fetch(location)).arrayBuffer())), digestOf(blob));
    assert.equal((await fetch(`${s.url}/readyz`)).status, 200);

    await proxy.cut();
    // The periodic check (every 1 s here) notices without any request touching storage.
    const cutAt = Date.now();
    let res = await get();
    while (res.status === 307) {
      await res.arrayBuffer();
      assert.ok(Date.now() - cutAt < 8000, 'still redirecting to a store that does not answer 8 s after it went away');
      await sleep(100);
      res = await get();
    }
    assert.equal(res.status, 503, await res.clone().text());
    assert.equal(res.headers.get('retry-after'), '5');
    assert.equal((await res.json()).errors[0].code, 'UNAVAILABLE');
    // From then on: no redirect at all while it is down.
    for (let i = 0; i < 5; i++) {
      const again = await get();
      assert.equal(again.status, 503);
      await again.arrayBuffer();
    }
    const ready = await fetch(`${s.url}/readyz`);
    assert.equal(ready.status, 503);
    const body = await ready.json();
    assert.equal(body.checks.storage.status, 'unavailable');
    assert.equal(body.checks.database.status, 'ok');
    assert.equal((await fetch(`${s.url}/livez`)).status, 200);

    await proxy.open();
    const backAt = Date.now();
    res = await get();
    while (res.status !== 307) {
      await res.arrayBuffer();
      assert.ok(Date.now() - backAt < 8000, 'redirects resume within 8 s of the store coming back');
      await sleep(100);
      res = await get();
    }
    assert.equal(digestOf(Buffer.from(await (await fetch(res.headers.get('location') ?? '')).arrayBuffer())), digestOf(blob));
    assert.equal((await fetch(`${s.url}/readyz`)).status, 200);
  });
});
