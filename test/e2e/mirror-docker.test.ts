// docker's "registry-mirrors" through Berth as a registry:2-style pull-through cache (proxy.remoteurl)
// of a token-authenticated upstream (docker-registry behind a token server, as Docker Hub is), with
// the upstream credentials configured. A dockerd of its own has the mirror in its daemon.json: there
// is no internet, so every pull succeeds only if the mirror answers. `docker pull tiny` asks the
// mirror for library/tiny; `team/app` is a namespaced image. A tap between the mirror and the
// upstream counts what went upstream; another between dockerd and the mirror shows what docker asked.
// BERTH_E2E_TARGET=reference runs the same file against docker-registry in proxy mode.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { e2eTarget, type RegistryProcess } from '../helpers/berth-process.js';
import { withServerLog } from '../helpers/e2e.js';
import { Layout } from '../helpers/oci.js';
import { sleep, testImages, type TestImages } from '../helpers/shared.js';
import { type UpstreamContent, UPSTREAM_PASSWORD, UPSTREAM_USER, type Upstream, fillUpstream, pushFixture, startUpstream } from '../helpers/upstream.js';
import { type MirrorDockerd, startMirror, startMirrorDockerd } from '../helpers/upstream-mirror.js';
import { type Tap, startTap } from '../helpers/upstream-tap.js';

const berth = e2eTarget() === 'berth';
const TAG_TTL_MS = 1000;
let imgs: TestImages;
let up: Upstream;
let content: UpstreamContent;
let upTap: Tap;
let mirror: RegistryProcess;
let front: Tap;
let dockerd: MirrorDockerd;

before(async () => {
  imgs = await testImages();
  up = await startUpstream({ token: true });
  content = await fillUpstream(up, { only: ['tiny', 'multi', 'app'] });
  upTap = await startTap(up.url);
  // a short tag TTL, so the later steps see Berth revalidate tags (registry:2 asks upstream on every tag lookup)
  mirror = await startMirror(upTap.url, {
    mode: 'proxy',
    username: UPSTREAM_USER,
    password: UPSTREAM_PASSWORD,
    name: 'mirror-docker',
    env: { REGISTRY_PROXY_TAGTTL: `${TAG_TTL_MS}ms` },
  });
  front = await startTap(mirror.url);
  dockerd = await startMirrorDockerd(front.url);
});

after(async () => {
  await dockerd?.stop();
  await front?.close();
  await mirror?.dispose();
  await upTap?.close();
  await up?.dispose();
});

function step(name: string, fn: () => Promise<void>): void {
  test(name, { timeout: 4 * 60_000 }, () => withServerLog(() => mirror, fn));
}

/** What dockerd holds for `ref` is exactly the fixture image (config digest = image ID, layers = diff_ids). */
async function assertImage(ref: string, fixture: 'tiny' | 'multilayer' | 'multiarch', platform?: string) {
  const images = new Layout(imgs.layout(fixture)).images();
  const want = platform ? images.find((i) => `${i.config.os}/${i.config.architecture}` === platform)! : images[0];
  const img = await dockerd.inspect(ref);
  assert.equal(img.Id, want.manifest.config!.digest, `image ID of ${ref}`);
  assert.deepEqual(img.RootFS.Layers, want.config.rootfs.diff_ids, `layers of ${ref}`);
}

const summary = () => `upstream: ${JSON.stringify(upTap.summary())}; docker asked the mirror: ${JSON.stringify(front.summary())}`;

step('docker pull tiny goes through the mirror as library/tiny and downloads each blob upstream', async () => {
  const r = await dockerd.docker(['pull', 'tiny']);
  assert.match(r.stdout, new RegExp(`Digest: ${content.tiny.digest}`), r.stdout);
  await assertImage('tiny', 'tiny');
  assert.ok((await dockerd.inspect('tiny')).RepoDigests.includes(`tiny@${content.tiny.digest}`));
  assert.ok(front.count({ kind: 'manifest', repo: 'library/tiny', ref: 'latest' }) >= 1, summary());
  for (const b of content.tiny.blobs) {
    assert.ok(front.count({ kind: 'blob', method: 'GET', ref: b, status: 200 }) === 1, `docker fetched ${b} from the mirror; ${summary()}`);
    // registry:2 fetches a cold blob twice (once for the client, once to store it); Berth once
    if (berth) assert.equal(upTap.blobDownloads(b), 1, `${b}: ${summary()}`);
    else assert.ok(upTap.blobDownloads(b) >= 1, `${b}: ${summary()}`);
  }
});

step('a warm pull is served from the cache: no blob and no manifest GET upstream', async () => {
  await dockerd.removeAllImages();
  upTap.reset();
  front.reset();
  const r = await dockerd.docker(['pull', 'tiny']);
  assert.match(r.stdout, new RegExp(`Digest: ${content.tiny.digest}`), r.stdout);
  await assertImage('tiny', 'tiny');
  assert.equal(front.count({ kind: 'blob', method: 'GET', status: 200 }), content.tiny.blobs.length, summary());
  assert.equal(upTap.blobDownloads(), 0, summary());
  if (berth) {
    // within the tag TTL no upstream request at all; after it, one HEAD
    assert.equal(upTap.count({ kind: 'manifest', method: 'GET' }), 0, summary());
    assert.ok(upTap.count({ kind: 'manifest', method: 'HEAD' }) <= 1, summary());
  }
});

step('a namespaced image (team/app, three layers) goes through the mirror under its own name', async () => {
  const r = await dockerd.docker(['pull', 'team/app']);
  assert.match(r.stdout, new RegExp(`Digest: ${content.app.digest}`), r.stdout);
  await assertImage('team/app', 'multilayer');
  assert.ok(front.count({ kind: 'manifest', repo: 'team/app' }) >= 1, summary());
  for (const b of content.app.blobs) assert.ok(upTap.blobDownloads(b) >= 1, `${b}: ${summary()}`);
  if (berth) assert.equal(upTap.blobDownloads(), content.app.blobs.length, `one download per blob; ${summary()}`);
});

step('one platform out of a two-platform index (library/multi)', async () => {
  upTap.reset();
  await dockerd.docker(['pull', '--platform', 'linux/arm64', 'multi']);
  await assertImage('multi', 'multiarch', 'linux/arm64');
  const arm = content.multi.images.find((i) => i.platform.startsWith('linux/arm64'))!;
  const amd = content.multi.images.find((i) => i.platform === 'linux/amd64')!;
  for (const b of [arm.config, ...arm.layers]) assert.ok(upTap.blobDownloads(b) >= 1, `${b}: ${summary()}`);
  assert.equal(upTap.blobDownloads(amd.config), 0, 'the other platform is not fetched');
});

step('with the upstream answering 429 after the tag TTL, the cached image still pulls', async () => {
  await dockerd.removeAllImages();
  await sleep(TAG_TTL_MS + 100); // the cached tag is due for revalidation
  upTap.reset();
  await upTap.setMode('429', { retryAfter: 30 });
  try {
    const r = await dockerd.docker(['pull', 'tiny']);
    assert.match(r.stdout, new RegExp(`Digest: ${content.tiny.digest}`), r.stdout);
    await assertImage('tiny', 'tiny');
    assert.ok(upTap.count({ kind: 'manifest', status: 429 }) >= 1, `the mirror asked upstream and got 429; ${summary()}`);
  } finally {
    await upTap.setMode('pass');
  }
});

step('with the upstream stopped, the cached image still pulls', async () => {
  await dockerd.removeAllImages();
  await sleep(TAG_TTL_MS + 100);
  await up.stop();
  await upTap.setMode('refuse');
  try {
    const r = await dockerd.docker(['pull', 'tiny']);
    assert.match(r.stdout, new RegExp(`Digest: ${content.tiny.digest}`), r.stdout);
    await assertImage('tiny', 'tiny');
  } finally {
    await upTap.setMode('pass');
    await up.start();
  }
});

step('a tag moved upstream is seen after the TTL', async () => {
  await dockerd.docker(['pull', 'tiny:1']);
  await assertImage('tiny:1', 'tiny');
  // library/tiny:1 becomes the multi-layer image upstream
  await pushFixture(up, 'multilayer', 'library/tiny', '1');
  await sleep(TAG_TTL_MS + 100);
  const r = await dockerd.docker(['pull', 'tiny:1']);
  assert.match(r.stdout, new RegExp(`Digest: ${content.app.digest}`), r.stdout);
  await assertImage('tiny:1', 'multilayer');
});
