// A blob whose digest a writer has protected but not yet written (an upload, or a mirror download,
// between BlobGuard.protect and moving its bytes into place — on another replica, say) has a live
// `blobs` row and no bytes. A pull through the mirror at that moment must still get the blob from
// the upstream: linking the row into the cache and serving it from storage answered 404.
// Found by the mirror bench's parallel cold pulls (one in a few runs); here the window is held open.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { GcStore } from '../../src/metadata/gc-store.js';
import { removeDir, startServer, tempDir as apiTempDir, type TestServer } from '../helpers/api-server.js';
import { request } from '../helpers/http.js';
import { Layout, MANIFEST_ACCEPT } from '../helpers/oci.js';
import { sha256, testImages, type TestImages } from '../helpers/shared.js';
import { fillUpstream, startUpstream, type Upstream, type UpstreamContent } from '../helpers/upstream.js';
import { startTap, type Tap } from '../helpers/upstream-tap.js';

let imgs: TestImages;
let up: Upstream;
let tap: Tap;
let content: UpstreamContent;
let berth: TestServer;

before(async () => {
  imgs = await testImages();
  up = await startUpstream({ name: 'mirror-protected-upstream' });
  content = await fillUpstream(up, { only: ['tiny'] });
  tap = await startTap(up.url);
  berth = await startServer({
    dir: apiTempDir('berth-mirror-protected-'),
    config: { mirror: { upstreams: { hub: { url: tap.url, default: true } } } },
    exposeMeta: true,
  });
});

after(async () => {
  await berth?.close();
  if (berth) removeDir(berth.dir);
  await tap?.close();
  await up?.dispose();
});

test('a pull while another writer has protected the blob but not written it gets the bytes from the upstream', async () => {
  const layout = new Layout(imgs.layout('tiny'));
  const layer = layout.images()[0].manifest.layers![0];
  const m = await request(`${berth.url}/v2/hub/library/tiny/manifests/latest`, { headers: { Accept: MANIFEST_ACCEPT } });
  assert.equal(m.status, 200);
  assert.equal(m.headers['docker-content-digest'], content.tiny.digest);
  // another writer's protection, as BlobGuard.protect makes it before the bytes exist
  const gc = new GcStore(berth.meta!);
  const now = Date.now();
  const made = await berth.meta!.transaction((tx) => gc.protect(tx, randomUUID(), layer.digest, layer.size, now, now + 10 * 60_000, now + 60 * 60_000));
  assert.ok(made, 'protected');
  tap.reset();
  const r = await request(`${berth.url}/v2/hub/library/tiny/blobs/${layer.digest}`);
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(sha256(r.body), layer.digest);
  assert.equal(tap.blobDownloads(layer.digest), 1, JSON.stringify(tap.summary()));
  // and again, now from the cache
  const again = await request(`${berth.url}/v2/hub/library/tiny/blobs/${layer.digest}`);
  assert.equal(again.status, 200);
  assert.equal(sha256(again.body), layer.digest);
});
