// Garbage collection gives the disk back: images with distinct layers pushed through the API and
// deleted leave the filesystem store as full as before until the delay has passed (the app's
// clock is advanced, not waited for), and then a collection brings the bytes stored under the
// storage root back to where they started. Measured from the disk (regular files under the
// root, the SQLite database excluded), not from the database.
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { backgroundOf } from '../../src/app.js';
import { api, digestOf, expectError, MT, pushBlob, pushImage, randomBlob, serverPerFile } from '../helpers/api-server.js';
import { TestClock } from '../helpers/clock.js';

const HOUR = 3600_000;
const clock = new TestClock();
const s = serverPerFile({ config: { storage: { gc: { delay: HOUR } } }, parts: { now: clock.now } });

/** Bytes of the regular files under the storage root, without the metadata database. */
async function storedBytes(root: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || e.name.startsWith('berth.db')) continue;
    const parent = (e as unknown as { parentPath?: string; path: string }).parentPath ?? e.path;
    total += (await stat(path.join(parent, e.name))).size;
  }
  return total;
}

async function pullsCompletely(base: string, repo: string, digest: string): Promise<void> {
  const res = await api(base, `/v2/${repo}/manifests/${digest}`, { headers: { accept: MT.ociManifest } });
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200);
  assert.equal(digestOf(body), digest);
  const doc = JSON.parse(body.toString('utf8')) as { config: { digest: string }; layers: { digest: string }[] };
  for (const d of [doc.config.digest, ...doc.layers.map((l) => l.digest)]) {
    const r = await api(base, `/v2/${repo}/blobs/${d}`);
    assert.equal(r.status, 200, `blob ${d}`);
    assert.equal(digestOf(Buffer.from(await r.arrayBuffer())), d);
  }
}

describe('garbage collection reclaims the filesystem', () => {
  test('five deleted images: nothing goes before the delay, then their bytes all go and the kept image still pulls', async () => {
    const collector = backgroundOf(s.app).collector;
    const keep = await pushImage(s.url, 'reclaim/keep', { ref: 'v1', layers: 2 });
    const baseline = await storedBytes(s.dir);

    const images = [];
    for (let i = 0; i < 5; i++) images.push(await pushImage(s.url, 'reclaim/app', { ref: `v${i}`, layers: 3, layerSize: 256 * 1024 }));
    const pushed = images.reduce((n, im) => n + im.config.size + im.manifest.bytes.length + im.layers.reduce((m, l) => m + l.size, 0), 0);
    const grown = await storedBytes(s.dir);
    assert.equal(grown - baseline, pushed, 'the pushed bytes are on disk');

    for (const im of images) {
      const r = await api(s.url, `/v2/reclaim/app/manifests/${im.manifest.digest}`, { method: 'DELETE' });
      assert.equal(r.status, 202);
    }
    const early = await collector.collect();
    assert.deepEqual([early.manifests, early.blobs, early.bytes], [0, 0, 0], 'within the delay nothing goes');
    assert.equal(await storedBytes(s.dir), grown);

    clock.advance(HOUR + 1000);
    const r = await collector.collect();
    assert.equal(r.blobs, 5 * 5, 'each image: its manifest body, config and three layers');
    assert.equal(r.bytes, pushed);
    const after = await storedBytes(s.dir);
    assert.ok(Math.abs(after - baseline) <= 4096, `stored ${after} bytes, ${baseline} before the pushes`);

    for (const im of images) {
      await expectError(await api(s.url, `/v2/reclaim/app/blobs/${im.layers[0].digest}`), 404, 'BLOB_UNKNOWN');
      await expectError(await api(s.url, `/v2/reclaim/app/manifests/${im.manifest.digest}`), 404, 'MANIFEST_UNKNOWN');
    }
    await pullsCompletely(s.url, 'reclaim/keep', keep.manifest.digest);
    const again = await collector.collect();
    assert.deepEqual([again.blobs, again.bytes], [0, 0], 'a second collection finds nothing');
  });

  test('an uploaded blob no manifest uses goes after the delay; one a manifest uses stays', async () => {
    const collector = backgroundOf(s.app).collector;
    const keep = await pushImage(s.url, 'reclaim/loose', { ref: 'v1', layers: 1 });
    const before = await storedBytes(s.dir);
    const loose = (await pushBlob(s.url, 'reclaim/loose', randomBlob(100_000))).bytes;
    assert.equal((await api(s.url, `/v2/reclaim/loose/blobs/${digestOf(loose)}`, { method: 'HEAD' })).status, 200);
    clock.advance(HOUR + 1000);
    const r = await collector.collect();
    assert.equal(r.bytes, loose.length);
    assert.equal(await storedBytes(s.dir), before);
    await expectError(await api(s.url, `/v2/reclaim/loose/blobs/${digestOf(loose)}`), 404, 'BLOB_UNKNOWN');
    await pullsCompletely(s.url, 'reclaim/loose', keep.manifest.digest);
  });

  test('a HEAD of a candidate blob keeps it for at least half the delay; unused after that, it goes', async () => {
    const collector = backgroundOf(s.app).collector;
    const blob = await pushBlob(s.url, 'reclaim/headed', randomBlob(5000));
    clock.advance(0.6 * HOUR);
    assert.equal((await api(s.url, `/v2/reclaim/headed/blobs/${blob.digest}`, { method: 'HEAD' })).status, 200);
    clock.advance(0.6 * HOUR); // the upload is past the delay, the HEAD is not
    assert.equal((await collector.collect()).blobs, 0);
    assert.equal((await api(s.url, `/v2/reclaim/headed/blobs/${blob.digest}`)).status, 200, 'kept: a client that checked it can still use it');
    clock.advance(HOUR + 1000);
    assert.equal((await collector.collect()).blobs, 1);
    await expectError(await api(s.url, `/v2/reclaim/headed/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
  });
});
