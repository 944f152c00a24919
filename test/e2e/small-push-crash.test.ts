// kill -9 during a burst of small image pushes (the bench's shape: POST+PUT a layer, POST+PUT a
// config, PUT the manifest; 8 at a time over a few repositories). Every blob and manifest the
// server answered 201 for before the kill is there after the restart, with its digest; the pushes
// caught in flight can all be pushed again.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { registrySuite } from '../helpers/e2e.js';
import { MT, ociImageManifest } from '../helpers/oci.js';
import { sha256, sleep } from '../helpers/shared.js';
import { pushBlob, putManifest } from '../helpers/upload.js';

const s = registrySuite('small-push-crash');

interface Image {
  repo: string;
  tag: string;
  layer: Buffer;
  config: Buffer;
  manifest: Buffer;
}

function makeImage(i: number): Image {
  const layer = randomBytes(2048);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] }, n: i }));
  const manifest = ociImageManifest(config, [layer]);
  return { repo: `crash/small-${i % 4}`, tag: `v${i}`, layer, config, manifest };
}

s.step('every blob and manifest acknowledged before a kill -9 survives it', async () => {
  const images = Array.from({ length: 400 }, (_, i) => makeImage(i));
  const ackedBlobs: { repo: string; body: Buffer }[] = [];
  const ackedManifests: Image[] = [];
  let next = 0;
  let stop = false;
  const worker = async () => {
    while (!stop && next < images.length) {
      const img = images[next++];
      try {
        await pushBlob(s.reg.url, img.repo, img.layer);
        ackedBlobs.push({ repo: img.repo, body: img.layer });
        await pushBlob(s.reg.url, img.repo, img.config);
        ackedBlobs.push({ repo: img.repo, body: img.config });
        if ((await putManifest(s.reg.url, img.repo, img.tag, img.manifest, MT.ociManifest)) === 201) ackedManifests.push(img);
      } catch {
        return; // the server is gone
      }
    }
  };
  const workers = Array.from({ length: 8 }, worker);
  // Kill while pushes are in flight: after a few dozen images were acknowledged.
  const deadline = Date.now() + 60_000;
  while (ackedManifests.length < 40 && next < images.length && Date.now() < deadline) await sleep(1);
  assert.ok(ackedManifests.length >= 40, `pushes progressed (${ackedManifests.length} images acknowledged)`);
  await s.reg.kill9();
  stop = true;
  await Promise.all(workers);
  const blobs = [...ackedBlobs];
  const manifests = [...ackedManifests];
  await s.reg.restart();

  for (const b of blobs) {
    const body = await s.api.getBlob(b.repo, sha256(b.body));
    assert.equal(sha256(body), sha256(b.body), `acknowledged blob ${sha256(b.body)} in ${b.repo}`);
  }
  for (const img of manifests) {
    const byTag = await s.api.getManifest(img.repo, img.tag);
    assert.ok(byTag.body.equals(img.manifest), `acknowledged ${img.repo}:${img.tag} resolves to its manifest`);
    const byDigest = await s.api.getManifest(img.repo, sha256(img.manifest));
    assert.ok(byDigest.body.equals(img.manifest), `acknowledged ${img.repo}@${sha256(img.manifest)}`);
  }
  process.stderr.write(`# ${s.reg.kind}: ${blobs.length} blobs and ${manifests.length} manifests acknowledged before the kill, all present after\n`);

  // The images caught in flight (and the rest) push again.
  for (const img of images.slice(0, next)) {
    await pushBlob(s.reg.url, img.repo, img.layer);
    await pushBlob(s.reg.url, img.repo, img.config);
    assert.equal(await putManifest(s.reg.url, img.repo, img.tag, img.manifest, MT.ociManifest), 201);
  }
});
