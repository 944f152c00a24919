// podman against a registry started for this file. Images go from the test layouts into a
// "pusher" podman storage, are pushed, and are pulled into a separate, empty "puller"
// storage, so every pull really downloads from the registry.
// podman push re-compresses layers from its storage, so pushed layer blobs differ from the
// layout's; what must survive is the config (image ID), the uncompressed layers (diff_ids)
// and, for an index, the platform manifests.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before } from 'node:test';
import { Podman } from '../helpers/clients.js';
import { registrySuite } from '../helpers/e2e.js';
import { Layout, MT, isIndex, verifyRegistryImage } from '../helpers/oci.js';
import { tempDir, testImages, type TestImages } from '../helpers/shared.js';

const s = registrySuite('podman');
let imgs: TestImages;
let pusher: Podman;
let puller: Podman;
let work: string;

before(async () => {
  imgs = await testImages();
  pusher = new Podman('podman-push');
  puller = new Podman('podman-pull');
  work = tempDir('podman-work');
});

const hex = (d: string) => d.replace(/^sha256:/, '');

/** podman pull oci:<layout> into the pusher storage, tag it, push it; returns the pushed manifest digest. */
async function pushFromLayout(name: 'tiny' | 'multilayer', ref: string): Promise<string> {
  const local = `localhost/berth-fixture/${name}:latest`;
  await pusher.run(['pull', '--quiet', `oci:${imgs.layout(name)}:latest`]);
  // `podman pull oci:DIR` names the image after DIR; the image ID is the config digest
  await pusher.run(['tag', hex(new Layout(imgs.layout(name)).images()[0].manifest.config!.digest), local]);
  const digestFile = path.join(work, `${name}.digest`);
  await pusher.run(['push', '--quiet', '--tls-verify=false', '--digestfile', digestFile, local, `docker://${s.reg.hostPort}/${ref}`]);
  return fs.readFileSync(digestFile, 'utf8').trim();
}

async function checkPushedImage(name: 'tiny' | 'multilayer', repo: string, tag: string, pushedDigest: string) {
  const layout = new Layout(imgs.layout(name));
  const want = layout.images()[0];
  const got = await verifyRegistryImage(s.api, repo, tag);
  assert.equal(got.digest, pushedDigest, 'manifest digest podman reported');
  assert.equal(got.mediaType, MT.ociManifest, 'OCI image stays OCI');
  assert.equal(got.images.length, 1);
  assert.equal(got.images[0].configDigest, want.manifest.config!.digest, 'config (image ID) preserved');
  assert.deepEqual(got.images[0].diffIds, want.config.rootfs.diff_ids, 'uncompressed layers preserved');
}

async function checkPulled(ref: string, name: 'tiny' | 'multilayer', manifestDigest: string) {
  const want = new Layout(imgs.layout(name)).images()[0];
  const img = await puller.inspect(ref);
  assert.equal(img.Id, hex(want.manifest.config!.digest), 'image ID = config digest');
  assert.equal(img.Digest, manifestDigest, 'manifest digest recorded by podman');
  assert.deepEqual(img.RootFS.Layers, want.config.rootfs.diff_ids, 'layers verified by diff_id');
}

s.step('single-layer image: push, then pull into an empty storage', async () => {
  const digest = await pushFromLayout('tiny', 'podman/tiny:v1');
  await checkPushedImage('tiny', 'podman/tiny', 'v1', digest);
  await puller.run(['pull', '--quiet', '--tls-verify=false', `${s.reg.hostPort}/podman/tiny:v1`]);
  await checkPulled(`${s.reg.hostPort}/podman/tiny:v1`, 'tiny', digest);
});

s.step('multi-layer image with the big layer: push, pull, pull by digest', async () => {
  const digest = await pushFromLayout('multilayer', 'podman/multilayer:v1');
  await checkPushedImage('multilayer', 'podman/multilayer', 'v1', digest);
  const byDigest = `${s.reg.hostPort}/podman/multilayer@${digest}`;
  await puller.run(['pull', '--quiet', '--tls-verify=false', byDigest]);
  await checkPulled(byDigest, 'multilayer', digest);
  // a second pull by tag finds everything local and still resolves to the same manifest
  await puller.run(['pull', '--quiet', '--tls-verify=false', `${s.reg.hostPort}/podman/multilayer:v1`]);
  await checkPulled(`${s.reg.hostPort}/podman/multilayer:v1`, 'multilayer', digest);
});

s.step('two-platform image: manifest create/add --all/push --all, pull each platform', async () => {
  const layout = new Layout(imgs.layout('multiarch'));
  const list = 'localhost/berth-fixture/multiarch-list:latest';
  await pusher.run(['manifest', 'create', list]);
  await pusher.run(['manifest', 'add', '--all', list, `oci:${imgs.layout('multiarch')}:latest`]);
  const digestFile = path.join(work, 'multiarch.digest');
  await pusher.run([
    'manifest',
    'push',
    '--all',
    '--quiet',
    '--tls-verify=false',
    '--digestfile',
    digestFile,
    list,
    `docker://${s.reg.hostPort}/podman/multiarch:v1`,
  ]);
  const indexDigest = fs.readFileSync(digestFile, 'utf8').trim();

  const got = await verifyRegistryImage(s.api, 'podman/multiarch', 'v1');
  assert.equal(got.digest, indexDigest, 'index digest podman reported');
  assert.ok(isIndex(got.mediaType), `pushed a list/index, got ${got.mediaType}`);
  const wanted = layout.images();
  assert.deepEqual(
    got.images.map((i) => [i.platform, i.manifestDigest, i.configDigest]).sort(),
    wanted.map((w) => [[w.config.os, w.config.architecture, w.config.variant].filter(Boolean).join('/'), w.desc.digest, w.manifest.config!.digest]).sort(),
    'platform manifests pushed unchanged',
  );

  for (const w of wanted) {
    const ref = `${s.reg.hostPort}/podman/multiarch:v1`;
    const args = ['pull', '--quiet', '--tls-verify=false', '--arch', w.config.architecture, ...(w.config.variant ? ['--variant', w.config.variant] : []), ref];
    await puller.run(args);
    const img = await puller.inspect(ref);
    assert.equal(img.Id, hex(w.manifest.config!.digest), `image pulled for ${w.config.architecture}`);
    assert.equal(img.Architecture, w.config.architecture);
    assert.deepEqual(img.RootFS.Layers, w.config.rootfs.diff_ids);
    assert.ok(
      img.RepoDigests.some((d) => d.endsWith(`@${w.desc.digest}`)),
      `RepoDigests ${img.RepoDigests} has ${w.desc.digest}`,
    );
  }
});

s.step('search lists the pushed repositories (uses /v2/_catalog)', async () => {
  const r = await puller.run(['search', '--tls-verify=false', '--format', '{{.Name}}', `${s.reg.hostPort}/podman`]);
  const names = r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  for (const repo of ['podman/tiny', 'podman/multilayer', 'podman/multiarch']) {
    assert.ok(names.includes(`${s.reg.hostPort}/${repo}`), `search result ${JSON.stringify(names)} lacks ${repo}`);
  }
});
