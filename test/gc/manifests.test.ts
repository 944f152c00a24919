// Which manifests garbage collection takes. With storage.gc.untagged on: a manifest without a tag
// goes once the restore window has passed, but never the untagged children of an index that
// stays (they go after their index). Always: a referrer stays while its subject lives and goes
// after it; with untagged off, untagged manifests stay. The app's clock is advanced, not waited for.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backgroundOf } from '../../src/app.js';
import { api, digestOf, expectError, MT, pushBlob, pushImage, pushManifest, serverPerFile, type PushedImage, type TestServer } from '../helpers/api-server.js';
import { TestClock } from '../helpers/clock.js';

const HOUR = 3600_000;

async function exists(s: TestServer, repo: string, kind: 'manifests' | 'blobs', digest: string): Promise<boolean> {
  const r = await api(s.url, `/v2/${repo}/${kind}/${digest}`, { method: 'HEAD', headers: { accept: `${MT.ociManifest}, ${MT.ociIndex}` } });
  assert.ok(r.status === 200 || r.status === 404, `HEAD ${kind} ${digest}: ${r.status}`);
  return r.status === 200;
}

async function imageStays(s: TestServer, repo: string, im: PushedImage, where: string): Promise<void> {
  assert.ok(await exists(s, repo, 'manifests', im.manifest.digest), `${where}: manifest ${im.manifest.digest}`);
  for (const b of [im.config, ...im.layers]) {
    const r = await api(s.url, `/v2/${repo}/blobs/${b.digest}`);
    assert.equal(r.status, 200, `${where}: blob ${b.digest}`);
    assert.equal(digestOf(Buffer.from(await r.arrayBuffer())), b.digest);
  }
}

async function imageGone(s: TestServer, repo: string, im: PushedImage, where: string): Promise<void> {
  assert.equal(await exists(s, repo, 'manifests', im.manifest.digest), false, `${where}: manifest ${im.manifest.digest}`);
  for (const b of [im.config, ...im.layers]) assert.equal(await exists(s, repo, 'blobs', b.digest), false, `${where}: blob ${b.digest}`);
}

describe('garbage collection of untagged manifests (storage.gc.untagged on)', () => {
  const clock = new TestClock();
  const s = serverPerFile({ config: { storage: { gc: { delay: HOUR, untagged: true, restorewindow: HOUR } } }, parts: { now: clock.now } });

  test('a multi-arch index with untagged children survives; an untagged image goes after the window; the children go after their index', async () => {
    const collector = backgroundOf(s.app).collector;
    const repo = 'gcm/multi';
    const amd = await pushImage(s.url, repo, { layers: 2 });
    const arm = await pushImage(s.url, repo, { layers: 2 });
    const index = await pushManifest(
      s.url,
      repo,
      {
        schemaVersion: 2,
        mediaType: MT.ociIndex,
        manifests: [
          { mediaType: MT.ociManifest, digest: amd.manifest.digest, size: amd.manifest.bytes.length, platform: { architecture: 'amd64', os: 'linux' } },
          { mediaType: MT.ociManifest, digest: arm.manifest.digest, size: arm.manifest.bytes.length, platform: { architecture: 'arm64', os: 'linux' } },
        ],
      },
      { ref: 'multi' },
    );
    const loose = await pushImage(s.url, repo, { layers: 1 });

    assert.equal((await collector.collect()).manifests, 0, 'within the restore window nothing goes');
    clock.advance(HOUR + 1000);
    const r = await collector.collect();
    assert.equal(r.manifests, 1, 'only the untagged image that nothing lists');
    await imageGone(s, repo, loose, 'the untagged image');
    await imageStays(s, repo, amd, 'a child of the tagged index');
    await imageStays(s, repo, arm, 'a child of the tagged index');
    assert.ok(await exists(s, repo, 'manifests', index.digest));

    assert.equal((await api(s.url, `/v2/${repo}/manifests/multi`, { method: 'DELETE' })).status, 202);
    assert.equal((await collector.collect()).manifests, 0, 'the index that lost its tag stays restorable for the window');
    await imageStays(s, repo, amd, 'within the window');
    clock.advance(HOUR + 1000);
    const last = await collector.collect();
    assert.equal(last.manifests, 3, 'the index, then its children, in one collection');
    assert.equal(await exists(s, repo, 'manifests', index.digest), false);
    await imageGone(s, repo, amd, 'a child of a collected index');
    await imageGone(s, repo, arm, 'a child of a collected index');
  });

  test('retagging before the window ends keeps the manifest', async () => {
    const collector = backgroundOf(s.app).collector;
    const repo = 'gcm/retag';
    const im = await pushImage(s.url, repo, { ref: 'a' });
    assert.equal((await api(s.url, `/v2/${repo}/manifests/a`, { method: 'DELETE' })).status, 202);
    clock.advance(HOUR / 2);
    await pushManifest(s.url, repo, im.manifest.bytes, { ref: 'b', mediaType: MT.ociManifest });
    clock.advance(HOUR + 1000);
    assert.equal((await collector.collect()).manifests, 0);
    await imageStays(s, repo, im, 'tagged again');
  });
});

describe('garbage collection of referrers (storage.gc.untagged off)', () => {
  const clock = new TestClock();
  const s = serverPerFile({ config: { storage: { gc: { delay: HOUR } } }, parts: { now: clock.now } });

  test('a referrer stays while its subject lives and goes after it; untagged manifests stay', async () => {
    const collector = backgroundOf(s.app).collector;
    const repo = 'gcr/app';
    const subject = await pushImage(s.url, repo, { ref: 'v1', layers: 1 });
    const untagged = await pushImage(s.url, repo, { layers: 1 });
    const empty = await pushBlob(s.url, repo, '{}');
    const sig = await pushBlob(s.url, repo, 'a signature');
    const referrerDoc = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType: 'application/vnd.example.signature',
      config: { mediaType: MT.ociEmpty, digest: empty.digest, size: empty.size },
      layers: [{ mediaType: 'application/octet-stream', digest: sig.digest, size: sig.size }],
      subject: { mediaType: MT.ociManifest, digest: subject.manifest.digest, size: subject.manifest.bytes.length },
    };
    const referrer = await pushManifest(s.url, repo, referrerDoc);
    const asImage: PushedImage = { config: empty, layers: [sig], manifest: referrer, doc: referrerDoc };

    clock.advance(2 * HOUR);
    assert.equal((await collector.collect()).manifests, 0);
    await imageStays(s, repo, asImage, 'a referrer of a subject that lives');
    await imageStays(s, repo, untagged, 'an untagged image, untagged collection off');
    const listed = (await (await api(s.url, `/v2/${repo}/referrers/${subject.manifest.digest}`)).json()) as { manifests: { digest: string }[] };
    assert.deepEqual(
      listed.manifests.map((m) => m.digest),
      [referrer.digest],
    );

    assert.equal((await api(s.url, `/v2/${repo}/manifests/${subject.manifest.digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await collector.collect()).manifests, 0, 'within the delay the referrer stays');
    assert.ok(await exists(s, repo, 'manifests', referrer.digest));
    clock.advance(HOUR + 1000);
    const r = await collector.collect();
    assert.equal(r.manifests, 1, 'the referrer went with its subject');
    await imageGone(s, repo, asImage, 'the referrer of a deleted subject');
    await imageGone(s, repo, subject, 'the deleted subject');
    await imageStays(s, repo, untagged, 'an untagged image, untagged collection off');
    await expectError(await api(s.url, `/v2/${repo}/manifests/${referrer.digest}`), 404, 'MANIFEST_UNKNOWN');
  });
});
