// buildah against a registry started for this file: images built from scratch by buildah
// itself (single layer, and two platforms assembled into a manifest list), the big
// multi-layer test image, and a zstd:chunked push that podman then pulls partially
// (HTTP multi-range requests). Pulls go to a separate, empty storage.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before } from 'node:test';
import { Buildah, Podman } from '../helpers/clients.js';
import { registrySuite } from '../helpers/e2e.js';
import { Layout, isIndex, verifyRegistryImage } from '../helpers/oci.js';
import { startRecordingProxy } from '../helpers/proxy.js';
import { tempDir, testImages, type TestImages } from '../helpers/shared.js';

const s = registrySuite('buildah');
let imgs: TestImages;
let builder: Buildah;
let puller: Buildah;
let work: string;

before(async () => {
  imgs = await testImages();
  builder = new Buildah('buildah-build');
  puller = new Buildah('buildah-pull');
  work = tempDir('buildah-work');
});

const hex = (d: string) => d.replace(/^sha256:/, '');

interface Built {
  ref: string;
  id: string;
  diffIds: string[];
  files: Record<string, string>;
}

/** Build an image from scratch with one layer holding `files`. */
async function buildScratch(name: string, files: Record<string, string>, platform = 'linux/amd64'): Promise<Built> {
  const src = path.join(work, `src-${name}`);
  for (const [f, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
    fs.writeFileSync(path.join(src, f), content);
  }
  const ctr = (await builder.run(['from', '--quiet', '--name', `ctr-${name}`, 'scratch'])).stdout.trim();
  await builder.run(['add', ctr, `${src}/`, '/']);
  const [os, arch, variant] = platform.split('/');
  await builder.run([
    'config',
    '--os',
    os,
    '--arch',
    arch,
    ...(variant ? ['--variant', variant] : []),
    '--label',
    `dev.berth.e2e=${name}`,
    '--cmd',
    '/hello',
    ctr,
  ]);
  const ref = `localhost/berth-built/${name}:latest`;
  const id = (await builder.run(['commit', '--quiet', '--rm', ctr, ref])).stdout.trim();
  const info = await builder.inspect(ref);
  assert.equal(info.FromImageID, id);
  return { ref, id, diffIds: info.OCIv1.rootfs.diff_ids, files };
}

async function push(tool: Buildah, local: string, dest: string, extra: string[] = []): Promise<string> {
  const digestFile = path.join(work, `digest-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  await tool.run(['push', '--quiet', '--tls-verify=false', '--digestfile', digestFile, ...extra, local, `docker://${s.reg.hostPort}/${dest}`]);
  return fs.readFileSync(digestFile, 'utf8').trim();
}

/** Mount an image of `tool`'s storage and compare files. */
async function assertImageFiles(tool: Buildah, ref: string, files: Record<string, string>) {
  const ctr = (await tool.run(['from', '--quiet', '--pull=never', ref])).stdout.trim();
  try {
    const mnt = (await tool.run(['mount', ctr])).stdout.trim();
    for (const [f, content] of Object.entries(files)) {
      assert.equal(fs.readFileSync(path.join(mnt, f), 'utf8'), content, `${f} in ${ref}`);
    }
  } finally {
    await tool.runMayFail(['umount', ctr]);
    await tool.runMayFail(['rm', ctr]);
  }
}

s.step('single-layer image built from scratch: push, pull into an empty storage, files intact', async () => {
  const built = await buildScratch('hello', { 'hello.txt': 'hello from buildah\n', 'etc/motd': 'berth e2e\n' });
  const digest = await push(builder, built.ref, 'buildah/hello:v1');
  const got = await verifyRegistryImage(s.api, 'buildah/hello', 'v1');
  assert.equal(got.digest, digest);
  assert.equal(got.images[0].configDigest, `sha256:${built.id}`, 'config digest = image ID');
  assert.deepEqual(got.images[0].diffIds, built.diffIds);

  const ref = `${s.reg.hostPort}/buildah/hello:v1`;
  await puller.run(['pull', '--quiet', '--tls-verify=false', ref]);
  const info = await puller.inspect(ref);
  assert.equal(info.FromImageID, built.id);
  assert.equal(info.FromImageDigest, digest);
  await assertImageFiles(puller, ref, built.files);
});

s.step('multi-layer image with the big layer: push and pull by digest', async () => {
  const layout = new Layout(imgs.layout('multilayer'));
  const want = layout.images()[0];
  await builder.run(['pull', '--quiet', `oci:${imgs.layout('multilayer')}:latest`]);
  const digest = await push(builder, hex(want.manifest.config!.digest), 'buildah/multilayer:v1');
  const got = await verifyRegistryImage(s.api, 'buildah/multilayer', 'v1');
  assert.equal(got.digest, digest);
  assert.equal(got.images[0].configDigest, want.manifest.config!.digest);
  assert.deepEqual(got.images[0].diffIds, want.config.rootfs.diff_ids);

  const ref = `${s.reg.hostPort}/buildah/multilayer@${digest}`;
  await puller.run(['pull', '--quiet', '--tls-verify=false', ref]);
  const info = await puller.inspect(ref);
  assert.equal(info.FromImageID, hex(want.manifest.config!.digest));
  assert.deepEqual(info.OCIv1.rootfs.diff_ids, want.config.rootfs.diff_ids);
});

s.step('two platforms built from scratch: manifest push --all, pull each platform', async () => {
  const amd = await buildScratch('plat-amd64', { 'platform.txt': 'amd64 build\n' }, 'linux/amd64');
  const arm = await buildScratch('plat-arm64', { 'platform.txt': 'arm64 build\n' }, 'linux/arm64/v8');
  const list = 'localhost/berth-built/plat-list:latest';
  await builder.run(['manifest', 'create', list]);
  await builder.run(['manifest', 'add', list, amd.ref]);
  await builder.run(['manifest', 'add', '--variant', 'v8', list, arm.ref]);
  const digestFile = path.join(work, 'list.digest');
  await builder.run([
    'manifest',
    'push',
    '--all',
    '--quiet',
    '--tls-verify=false',
    '--digestfile',
    digestFile,
    list,
    `docker://${s.reg.hostPort}/buildah/multi:v1`,
  ]);
  const indexDigest = fs.readFileSync(digestFile, 'utf8').trim();

  const got = await verifyRegistryImage(s.api, 'buildah/multi', 'v1');
  assert.equal(got.digest, indexDigest);
  assert.ok(isIndex(got.mediaType), got.mediaType);
  const byPlatform = Object.fromEntries(got.images.map((i) => [i.platform, i]));
  assert.deepEqual(Object.keys(byPlatform).sort(), ['linux/amd64', 'linux/arm64/v8']);
  assert.equal(byPlatform['linux/amd64'].configDigest, `sha256:${amd.id}`);
  assert.equal(byPlatform['linux/arm64/v8'].configDigest, `sha256:${arm.id}`);

  const ref = `${s.reg.hostPort}/buildah/multi:v1`;
  for (const [b, arch, variant] of [
    [amd, 'amd64', ''],
    [arm, 'arm64', 'v8'],
  ] as const) {
    await puller.run(['pull', '--quiet', '--tls-verify=false', '--arch', arch, ...(variant ? ['--variant', variant] : []), ref]);
    const info = await puller.inspect(ref);
    assert.equal(info.FromImageID, b.id, `image pulled for ${arch}`);
    await assertImageFiles(puller, ref, b.files);
  }
});

s.step('zstd:chunked push, then a podman partial pull with multi-range requests', async () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 24; i++) files[`data/file-${i}.txt`] = `${`chunk ${i} `.repeat(300 + 40 * i)}\n`;
  const built = await buildScratch('chunked', files);
  const digest = await push(builder, built.ref, 'buildah/chunked:v1', ['--compression-format', 'zstd:chunked']);
  const m = await s.api.getManifest('buildah/chunked', 'v1');
  assert.equal(m.digest, digest);
  const layer = m.doc.layers![0];
  assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+zstd');
  assert.ok(
    Object.keys(layer.annotations ?? {}).some((k) => k.startsWith('io.containers.zstd-chunked.') || k.startsWith('io.github.containers.zstd-chunked.')),
    `zstd:chunked annotations on ${JSON.stringify(layer)}`,
  );
  const got = await verifyRegistryImage(s.api, 'buildah/chunked', 'v1');
  assert.deepEqual(got.images[0].diffIds, built.diffIds, 'zstd layer decompresses to the built layer');

  // podman with partial pulls enabled fetches the TOC, then the file chunks by ranges
  const podman = new Podman('podman-partial');
  const conf = podman.sandbox.env.CONTAINERS_STORAGE_CONF;
  fs.appendFileSync(conf, '[storage.options]\npull_options = {enable_partial_images = "true", use_hard_links = "false"}\n');
  const proxy = await startRecordingProxy(s.reg.url);
  try {
    const ref = `${proxy.hostPort}/buildah/chunked:v1`;
    await podman.run(['pull', '--quiet', '--tls-verify=false', ref]);
    const seen = proxy.requests.map((r) => `${r.method} ${r.url} range=${r.range ?? '-'} → ${r.status} ${r.responseType ?? ''}`).join('\n');
    const ranged = proxy.requests.filter((r) => r.url.includes(`/blobs/${layer.digest}`) && r.range);
    assert.ok(ranged.length > 0, `no ranged blob request (partial pull not used?):\n${seen}`);
    for (const r of ranged) assert.equal(r.status, 206, `ranged GET answered ${r.status}:\n${seen}`);
    const multi = ranged.find((r) => (r.range ?? '').includes(','));
    assert.ok(multi, `no multi-range request:\n${seen}`);
    assert.match(multi.responseType ?? '', /^multipart\/byteranges; *boundary=/, 'multi-range answered with multipart/byteranges');
    const img = await podman.inspect(ref);
    assert.equal(img.Id, built.id);
    assert.deepEqual(img.RootFS.Layers, built.diffIds);
    // the files were reassembled from the ranges: compare them
    const mnt = (await podman.run(['image', 'mount', ref])).stdout.trim();
    try {
      for (const [f, content] of Object.entries(files)) assert.equal(fs.readFileSync(path.join(mnt, f), 'utf8'), content, f);
    } finally {
      await podman.runMayFail(['image', 'unmount', ref]);
    }
  } finally {
    await proxy.close();
  }
});
