// Pulls' database lookups (manifest by tag or digest, readable blob) are remembered until the
// database changes (src/registry/lookup-cache.ts): repeated pulls ask the database nothing, and
// every change made through this server is served at once (read-your-writes). Other processes'
// changes: test/registry/lookup-cache.test.ts (SQLite), test/cluster/pull-cache.test.ts (replicas).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RegistryStore } from '../../src/metadata/registry-store.js';
import { MT, api, expectError, pushBlob, pushImage, pushManifest, serverPerFile } from '../helpers/api-server.js';

const srv = serverPerFile();
const ACCEPT = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

/** Calls of the store's pull lookups, counted by wrapping them (the real methods still run). */
const calls = { manifestByTag: 0, manifestByDigest: 0, readableBlob: 0 };
const originals = new Map<string, unknown>();
before(() => {
  for (const name of Object.keys(calls) as (keyof typeof calls)[]) {
    const original = RegistryStore.prototype[name] as (...args: unknown[]) => unknown;
    originals.set(name, original);
    (RegistryStore.prototype as unknown as Record<string, unknown>)[name] = function (this: RegistryStore, ...args: unknown[]) {
      calls[name]++;
      return original.apply(this, args);
    };
  }
});
after(() => {
  for (const [name, original] of originals) (RegistryStore.prototype as unknown as Record<string, unknown>)[name] = original;
});

const total = () => calls.manifestByTag + calls.manifestByDigest + calls.readableBlob;

async function get(repo: string, ref: string, method = 'GET'): Promise<{ status: number; digest: string | null }> {
  const res = await api(srv.url, `/v2/${repo}/manifests/${ref}`, { method, headers: { Accept: ACCEPT } });
  await res.arrayBuffer();
  return { status: res.status, digest: res.headers.get('docker-content-digest') };
}

async function headBlob(repo: string, digest: string): Promise<number> {
  const res = await api(srv.url, `/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
  await res.arrayBuffer();
  return res.status;
}

describe('pull lookups', () => {
  it('repeated pulls by tag, by digest and blob HEADs ask the database once', async () => {
    const img = await pushImage(srv.url, 'cache/warm', { ref: 'v1' });
    const layer = img.layers[0].digest;
    const round = async () => {
      const start = total();
      assert.equal((await get('cache/warm', 'v1')).digest, img.manifest.digest);
      assert.equal((await get('cache/warm', 'v1', 'HEAD')).digest, img.manifest.digest);
      assert.equal((await get('cache/warm', img.manifest.digest)).digest, img.manifest.digest);
      assert.equal(await headBlob('cache/warm', layer), 200);
      return total() - start;
    };
    // The first round reaches the database (on PostgreSQL, nothing is kept until the listening
    // connection is up); a background write (pull counts) also empties the cache now and then:
    // some run of 5 rounds must ask the database nothing, where before every pull asked it.
    const runs: number[] = [];
    for (let attempt = 0; attempt < 50; attempt++) {
      let asked = 0;
      for (let i = 0; i < 5; i++) asked += await round();
      runs.push(asked);
      if (asked === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(runs.at(-1), 0, `store lookups in runs of 20 warm pulls: ${runs.join(', ')}`);
  });

  it('a tag moved by a push is served at once', async () => {
    const first = await pushImage(srv.url, 'cache/move', { ref: 'latest' });
    for (let i = 0; i < 3; i++) assert.equal((await get('cache/move', 'latest')).digest, first.manifest.digest);
    const second = await pushImage(srv.url, 'cache/move', { ref: 'latest' });
    assert.notEqual(second.manifest.digest, first.manifest.digest);
    assert.equal((await get('cache/move', 'latest')).digest, second.manifest.digest);
    assert.equal((await get('cache/move', 'latest', 'HEAD')).digest, second.manifest.digest);
    // The old manifest is still there by digest (only the tag moved).
    assert.equal((await get('cache/move', first.manifest.digest)).status, 200);
  });

  it('a deleted tag, manifest and blob are unknown at once', async () => {
    const img = await pushImage(srv.url, 'cache/gone', { ref: 'v1' });
    const extra = await pushBlob(srv.url, 'cache/gone', Buffer.from('an unreferenced blob'));
    for (let i = 0; i < 3; i++) {
      assert.equal((await get('cache/gone', 'v1')).status, 200);
      assert.equal((await get('cache/gone', img.manifest.digest)).status, 200);
      assert.equal(await headBlob('cache/gone', extra.digest), 200);
    }
    // The tag alone.
    assert.equal((await api(srv.url, '/v2/cache/gone/manifests/v1', { method: 'DELETE' })).status, 202);
    await expectError(await api(srv.url, '/v2/cache/gone/manifests/v1', { headers: { Accept: ACCEPT } }), 404, 'MANIFEST_UNKNOWN');
    assert.equal((await get('cache/gone', img.manifest.digest)).status, 200);
    // Tagged again, then the manifest by digest: its tags go with it.
    await pushManifest(srv.url, 'cache/gone', img.manifest.bytes, { ref: 'v2', mediaType: img.manifest.mediaType });
    assert.equal((await get('cache/gone', 'v2')).status, 200);
    assert.equal((await api(srv.url, `/v2/cache/gone/manifests/${img.manifest.digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await get('cache/gone', img.manifest.digest)).status, 404);
    assert.equal((await get('cache/gone', 'v2')).status, 404);
    // A blob no manifest uses.
    assert.equal((await api(srv.url, `/v2/cache/gone/blobs/${extra.digest}`, { method: 'DELETE' })).status, 202);
    assert.equal(await headBlob('cache/gone', extra.digest), 404);
  });
});
