// containerd (ctr 1.6) pulling docker.io images through Berth as a mirror named in a hosts.toml
// (`ctr --hosts-dir DIR`, DIR/docker.io/hosts.toml): containerd sends `?ns=docker.io` on every request,
// and Berth routes it to the upstream whose `hosts` lists docker.io (mirror.upstreams.hub, default).
// The upstream is docker-registry behind a token server, pulled anonymously. A tap between the
// mirror and the upstream counts what went upstream; another in front of the mirror shows what
// containerd asked. The same mirror serves docker's "registry-mirrors" (no ns=: the default upstream)
// and the upstream's path prefix (hub/library/tiny), all from one cache.
// BERTH_E2E_TARGET=reference runs the same file against docker-registry in proxy mode.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { e2eTarget, type RegistryProcess } from '../helpers/berth-process.js';
import { BIN, Ctr, Skopeo, run } from '../helpers/clients.js';
import { withServerLog } from '../helpers/e2e.js';
import { request } from '../helpers/http.js';
import { Layout, MANIFEST_ACCEPT, assertLayoutMatches } from '../helpers/oci.js';
import { type FixtureName, tempDir, testImages, type TestImages } from '../helpers/shared.js';
import { type UpstreamContent, type Upstream, fillUpstream, startUpstream } from '../helpers/upstream.js';
import { MIRROR_UPSTREAM_NAME, type MirrorDockerd, startMirror, startMirrorDockerd, writeHostsDir } from '../helpers/upstream-mirror.js';
import { type Tap, startTap } from '../helpers/upstream-tap.js';

const berth = e2eTarget() === 'berth';
let imgs: TestImages;
let up: Upstream;
let content: UpstreamContent;
let upTap: Tap;
let mirror: RegistryProcess;
let front: Tap;
let hostsDir: string;
let work: string;
let dockerd: MirrorDockerd | undefined;

before(async () => {
  imgs = await testImages();
  work = tempDir('mirror-ctr');
  await Ctr.purgeStale();
  up = await startUpstream({ token: true });
  content = await fillUpstream(up, { only: ['tiny', 'multi', 'app'] });
  upTap = await startTap(up.url);
  mirror = await startMirror(upTap.url, { mode: 'upstreams', name: 'mirror-ctr' });
  front = await startTap(mirror.url);
  hostsDir = writeHostsDir(front.url);
});

after(async () => {
  await dockerd?.stop();
  await front?.close();
  await mirror?.dispose();
  await upTap?.close();
  await up?.dispose();
});

function step(name: string, fn: () => Promise<void>, skip?: string): void {
  test(name, { timeout: 4 * 60_000, skip }, () => withServerLog(() => mirror, fn));
}

const summary = () => `upstream: ${JSON.stringify(upTap.summary())}; containerd asked the mirror: ${JSON.stringify(front.summary())}`;

/** Pull `ref` with ctr through the mirror into a fresh namespace, export it, compare with the fixture. */
async function pullAndCompare(ref: string, fixture: FixtureName): Promise<void> {
  const ctr = await Ctr.create('mirror');
  try {
    await ctr.run(['images', 'pull', '--hosts-dir', hostsDir, '--all-platforms', ref]);
    const tar = path.join(work, `${fixture}-${Date.now()}.tar`);
    await ctr.run(['images', 'export', '--all-platforms', tar, ref]);
    const out = path.join(work, `${fixture}-${Date.now()}-layout`);
    fs.mkdirSync(out);
    await run(BIN.tar, ['-C', out, '-xf', tar]);
    await assertLayoutMatches(out, new Layout(imgs.layout(fixture)));
  } finally {
    // containerd shares content across namespaces: drop it so the next pull really fetches
    await ctr.destroy();
  }
}

step('ctr pulls docker.io/library/tiny through the mirror, sending ns=docker.io', async () => {
  await pullAndCompare('docker.io/library/tiny:latest', 'tiny');
  const asked = front.list({ repo: 'library/tiny' });
  assert.ok(asked.length > 0, summary());
  for (const r of asked) assert.match(r.url, /[?&]ns=docker\.io(&|$)/, `${r.method} ${r.url}`);
  for (const b of content.tiny.blobs) {
    assert.ok(upTap.blobDownloads(b) >= 1, `${b}: ${summary()}`);
    if (berth) assert.equal(upTap.blobDownloads(b), 1, `${b}: ${summary()}`);
  }
  if (berth) {
    // the cache lives under the upstream's name: hub/library/tiny
    const m = await request(`${mirror.url}/v2/${MIRROR_UPSTREAM_NAME}/library/tiny/manifests/latest`, { method: 'HEAD', headers: { Accept: MANIFEST_ACCEPT } });
    assert.equal(m.status, 200);
    assert.equal(m.headers['docker-content-digest'], content.tiny.digest);
  }
});

step('a warm pull is served from the cache: no blob GET upstream', async () => {
  upTap.reset();
  front.reset();
  await pullAndCompare('docker.io/library/tiny:latest', 'tiny');
  assert.equal(
    front.count({ kind: 'blob', method: 'GET', status: 200 }),
    content.tiny.blobs.length,
    `containerd fetched every blob from the mirror; ${summary()}`,
  );
  assert.equal(upTap.blobDownloads(), 0, summary());
  if (berth) assert.equal(upTap.count({ kind: 'manifest', method: 'GET' }), 0, summary());
});

step('a two-platform index (library/multi) with --all-platforms', async () => {
  upTap.reset();
  await pullAndCompare('docker.io/library/multi:latest', 'multiarch');
  for (const b of content.multi.blobs) assert.ok(upTap.blobDownloads(b) >= 1, `${b}: ${summary()}`);
  if (berth) assert.equal(upTap.blobDownloads(), content.multi.blobs.length, `one download per blob; ${summary()}`);
});

step('a namespaced image (docker.io/team/app)', async () => {
  upTap.reset();
  await pullAndCompare('docker.io/team/app:latest', 'multilayer');
  assert.ok(front.count({ repo: 'team/app' }) > 0, summary());
  if (berth) assert.equal(upTap.blobDownloads(), content.app.blobs.length, `one download per blob; ${summary()}`);
});

step('docker with registry-mirrors reaches the same cache through the default upstream (no ns=)', async () => {
  dockerd = await startMirrorDockerd(front.url);
  upTap.reset();
  front.reset();
  const r = await dockerd.docker(['pull', 'tiny']);
  assert.match(r.stdout, new RegExp(`Digest: ${content.tiny.digest}`), r.stdout);
  const img = await dockerd.inspect('tiny');
  const want = new Layout(imgs.layout('tiny')).images()[0];
  assert.equal(img.Id, want.manifest.config!.digest);
  assert.deepEqual(img.RootFS.Layers, want.config.rootfs.diff_ids);
  const asked = front.list({ repo: 'library/tiny' });
  assert.ok(asked.length > 0 && asked.every((q) => !q.url.includes('ns=')), summary());
  assert.equal(upTap.blobDownloads(), 0, `cached by the ctr pulls; ${summary()}`);
});

step(
  'the upstream name as a path prefix (hub/library/multi) serves the same cache',
  async () => {
    upTap.reset();
    const out = path.join(work, 'prefix-multi');
    await new Skopeo('mirror-prefix').run([
      'copy',
      '--quiet',
      '--all',
      '--src-tls-verify=false',
      `docker://${mirror.hostPort}/${MIRROR_UPSTREAM_NAME}/library/multi:latest`,
      `oci:${out}:latest`,
    ]);
    await assertLayoutMatches(out, new Layout(imgs.layout('multiarch')));
    assert.equal(upTap.blobDownloads(), 0, `cached by the ctr pull; ${summary()}`);
  },
  berth ? undefined : 'docker-registry has one upstream and no path prefixes',
);
