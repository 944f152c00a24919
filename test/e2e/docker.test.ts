// docker (CLI 20.10 + the shared dockerd from scripts/start-dockerd.sh) against a registry
// started for this file. docker pushes what `docker load` put in its store: it re-compresses
// the layers and writes a Docker schema 2 manifest, so the checks are on the image ID
// (config digest), the layer diff_ids and the manifest digest docker reports.
// docker 20.10 cannot push a multi-platform index: that image is pushed with skopeo and
// docker pulls each platform out of it with --platform.
import assert from 'node:assert/strict';
import { before } from 'node:test';
import { Docker, Skopeo, run, BIN } from '../helpers/clients.js';
import { registrySuite } from '../helpers/e2e.js';
import { Layout, MT, verifyRegistryImage } from '../helpers/oci.js';
import { derivedFile, testImages, type FixtureName, type TestImages } from '../helpers/shared.js';

const s = registrySuite('docker');
let imgs: TestImages;
let docker: Docker;

before(async () => {
  imgs = await testImages();
  docker = await Docker.create();
  // images left by an earlier run against a reused dockerd would turn pulls into no-ops
  for (const name of ['tiny', 'multilayer', 'multiarch'] as const) {
    for (const img of new Layout(imgs.layout(name)).images()) await docker.removeImage(img.manifest.config!.digest);
  }
});

function dockerArchive(name: FixtureName): Promise<string> {
  return derivedFile(`${name}.docker-archive.tar`, async (out) => {
    await run(BIN.skopeo, ['--insecure-policy', 'copy', '--quiet', `oci:${imgs.layout(name)}:latest`, `docker-archive:${out}:berth-fixture/${name}:latest`]);
  });
}

/** docker load + tag + push; returns the manifest digest docker printed. */
async function loadAndPush(name: 'tiny' | 'multilayer', target: string): Promise<string> {
  await docker.run(['load', '--quiet', '--input', await dockerArchive(name)]);
  await docker.run(['tag', `berth-fixture/${name}:latest`, target]);
  const r = await docker.run(['push', target]);
  const m = /digest: (sha256:[0-9a-f]{64}) size: (\d+)/.exec(r.stdout);
  assert.ok(m, `no digest in docker push output:\n${r.stdout}`);
  return m[1];
}

async function assertPushed(name: 'tiny' | 'multilayer', repo: string, tag: string, digest: string) {
  const want = new Layout(imgs.layout(name)).images()[0];
  const got = await verifyRegistryImage(s.api, repo, tag);
  assert.equal(got.digest, digest, 'digest docker reported');
  assert.equal(got.mediaType, MT.dockerManifest, 'docker pushes schema 2');
  assert.equal(got.images[0].configDigest, want.manifest.config!.digest, 'config = image ID');
  assert.deepEqual(got.images[0].diffIds, want.config.rootfs.diff_ids);
}

/** Remove the image from dockerd entirely, pull `ref`, and check what arrived. */
async function pullFresh(ref: string, name: 'tiny' | 'multilayer', digest: string, repo: string) {
  const want = new Layout(imgs.layout(name)).images()[0];
  await docker.removeImage(want.manifest.config!.digest);
  assert.notEqual((await docker.runMayFail(['image', 'inspect', want.manifest.config!.digest])).code, 0, 'image removed before pull');
  const r = await docker.run(['pull', ref]);
  assert.match(r.stdout, new RegExp(`Digest: ${digest}`), r.stdout);
  const img = await docker.inspect(ref);
  assert.equal(img.Id, want.manifest.config!.digest);
  assert.deepEqual(img.RootFS.Layers, want.config.rootfs.diff_ids, 'layers as declared in the config');
  assert.ok(img.RepoDigests.includes(`${s.reg.hostPort}/${repo}@${digest}`), `RepoDigests ${img.RepoDigests}`);
}

s.step('single-layer image: load, push, remove, pull', async () => {
  const target = `${s.reg.hostPort}/docker/tiny:v1`;
  const digest = await loadAndPush('tiny', target);
  await assertPushed('tiny', 'docker/tiny', 'v1', digest);
  await pullFresh(target, 'tiny', digest, 'docker/tiny');
});

s.step('multi-layer image with the big layer: push, then pull by digest and by tag', async () => {
  const target = `${s.reg.hostPort}/docker/multilayer:v1`;
  const digest = await loadAndPush('multilayer', target);
  await assertPushed('multilayer', 'docker/multilayer', 'v1', digest);
  await pullFresh(`${s.reg.hostPort}/docker/multilayer@${digest}`, 'multilayer', digest, 'docker/multilayer');
  // by tag: docker resolves the tag (HEAD) and finds the layers already present
  const r = await docker.run(['pull', target]);
  assert.match(r.stdout, new RegExp(`Digest: ${digest}`));
});

s.step('two-platform index (pushed by skopeo): docker pulls each platform', async () => {
  const layout = new Layout(imgs.layout('multiarch'));
  await new Skopeo('docker-skopeo').run([
    'copy',
    '--quiet',
    '--all',
    '--dest-tls-verify=false',
    `oci:${imgs.layout('multiarch')}:latest`,
    `docker://${s.reg.hostPort}/docker/multiarch:v1`,
  ]);
  const ref = `${s.reg.hostPort}/docker/multiarch:v1`;
  for (const w of layout.images()) {
    const platform = [w.config.os, w.config.architecture, w.config.variant].filter(Boolean).join('/');
    await docker.removeImage(w.manifest.config!.digest);
    const r = await docker.run(['pull', '--platform', platform, ref]);
    assert.match(r.stdout, new RegExp(`Digest: ${layout.top().digest}`), 'docker reports the index digest');
    const img = await docker.inspect(ref);
    assert.equal(img.Id, w.manifest.config!.digest, `image for ${platform}`);
    assert.equal(img.Architecture, w.config.architecture);
    assert.deepEqual(img.RootFS.Layers, w.config.rootfs.diff_ids);
  }
});
