// A blob whose deletion has begun (the collector's first transaction marked it 'deleting', its
// bytes are not gone yet): readers see no blob (HEAD 404, a mount starts an upload instead, a
// manifest PUT that uses it answers MANIFEST_BLOB_UNKNOWN), and a client that uploads the same
// digest meanwhile waits for the deletion to finish and then writes the bytes again, so its
// upload and the manifest that uses it pull completely. The collector's steps are run one by one
// here (GcStore, as the collector runs them) to hold the deletion open.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rm as remove } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { backgroundOf } from '../../src/app.js';
import { parseDigest } from '../../src/oci/digest.js';
import { blobKey } from '../../src/storage/layout.js';
import { api, asBody, digestOf, expectError, MT, pushBlob, pushManifest, putManifest, randomBlob, serverPerFile, withQuery } from '../helpers/api-server.js';
import { TestClock } from '../helpers/clock.js';

const HOUR = 3600_000;
const clock = new TestClock();
const s = serverPerFile({ config: { storage: { gc: { delay: HOUR } } }, parts: { now: clock.now } });

/** Runs the collector's claim and first transaction for everything due: the due unused blobs are 'deleting' after it. */
async function beginDeletion(): Promise<{ token: string; digests: string[] }> {
  const { gc } = backgroundOf(s.app);
  const token = `test/${randomUUID()}`;
  const now = clock.now();
  await gc.claim('gc_blob_review', token, now, now + 10 * 60_000, now, 1000);
  const marked = await gc.meta.transaction((tx) =>
    gc.markBlobs(tx, token, { now, cutoff: now - HOUR, delay: HOUR, leaseUntil: now + 10 * 60_000, requeueAfter: now + 1 }),
  );
  return { token, digests: marked.deleting.map((b) => b.digest) };
}

/** The collector's last two steps: the bytes, then the rows. */
async function finishDeletion(token: string, digests: string[]): Promise<void> {
  const { gc } = backgroundOf(s.app);
  for (const d of digests) await rm(d);
  await gc.meta.transaction((tx) => gc.removeBlobs(tx, token));
}

async function rm(digest: string): Promise<void> {
  await remove(path.join(s.dir, blobKey(parseDigest(digest))), { force: true });
}

async function waitFor(what: string, ok: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 10_000; !ok(); ) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a blob whose deletion has begun', () => {
  test('is gone for readers: HEAD 404, a mount starts an upload, a manifest PUT that uses it is refused', async () => {
    const config = await pushBlob(s.url, 'life/a', JSON.stringify({ architecture: 'amd64', os: 'linux' }));
    const layer = await pushBlob(s.url, 'life/a', randomBlob(3000));
    clock.advance(HOUR + 1000);
    const { token, digests } = await beginDeletion();
    assert.deepEqual(digests.sort(), [config.digest, layer.digest].sort());

    assert.equal((await api(s.url, `/v2/life/a/blobs/${layer.digest}`, { method: 'HEAD' })).status, 404);
    await expectError(await api(s.url, `/v2/life/a/blobs/${layer.digest}`), 404, 'BLOB_UNKNOWN');
    const mount = await api(s.url, `/v2/life/b/blobs/uploads/?mount=${layer.digest}&from=life/a`, { method: 'POST' });
    assert.equal(mount.status, 202, 'no mount of a blob being deleted: an upload starts');
    const doc = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: config.digest, size: config.size },
      layers: [{ mediaType: MT.ociLayer, digest: layer.digest, size: layer.size }],
    };
    const put = await putManifest(s.url, 'life/a', doc, { ref: 'v1' });
    assert.equal(put.status, 400);
    assert.match(put.text, /MANIFEST_BLOB_UNKNOWN/);

    await finishDeletion(token, digests);
    assert.equal(existsSync(path.join(s.dir, blobKey(parseDigest(layer.digest)))), false);
  });

  test('an upload of the same digest waits for the deletion to finish, then writes the bytes again', async () => {
    const { guard } = backgroundOf(s.app);
    const layer = await pushBlob(s.url, 'life/c', randomBlob(4000));
    const config = await pushBlob(s.url, 'life/c', JSON.stringify({ architecture: 'arm64', os: 'linux' }));
    clock.advance(HOUR + 1000);
    const { token, digests } = await beginDeletion();
    assert.ok(digests.includes(layer.digest));

    // The client uploads the layer again (its HEAD said 404): the bytes arrive, the commit waits.
    const start = await api(s.url, '/v2/life/d/blobs/uploads/', { method: 'POST' });
    assert.equal(start.status, 202);
    const committing = fetch(withQuery(new URL(start.headers.get('location')!, s.url).href, { digest: layer.digest }), {
      method: 'PUT',
      body: asBody(layer.bytes),
    });
    await waitFor('the upload waits for the deletion', () => guard.waiting() === 1);
    await finishDeletion(token, digests);
    const done = await committing;
    assert.equal(done.status, 201, await done.text());

    assert.equal(existsSync(path.join(s.dir, blobKey(parseDigest(layer.digest)))), true, 'the bytes were written after the deletion');
    const again = await pushBlob(s.url, 'life/d', config.bytes);
    const image = await pushManifest(
      s.url,
      'life/d',
      {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: again.digest, size: again.size },
        layers: [{ mediaType: MT.ociLayer, digest: layer.digest, size: layer.size }],
      },
      { ref: 'v1' },
    );
    for (const d of [layer.digest, config.digest]) {
      const r = await api(s.url, `/v2/life/d/blobs/${d}`);
      assert.equal(r.status, 200);
      assert.equal(digestOf(Buffer.from(await r.arrayBuffer())), d);
    }
    assert.equal((await api(s.url, `/v2/life/d/manifests/${image.digest}`, { method: 'HEAD' })).status, 200);
  });
});
