// skopeo against a registry started for this file: push/pull of a single-layer image, a
// multi-layer image with a >= 100 MiB layer, a two-platform index (--all), an artifact with
// a subject, pull by digest, registry→registry copy with cross-repository mount, delete.
import assert from 'node:assert/strict';
import path from 'node:path';
import { before } from 'node:test';
import { e2eTarget } from '../helpers/berth-process.js';
import { Skopeo } from '../helpers/clients.js';
import { registrySuite } from '../helpers/e2e.js';
import { Layout, assertLayoutMatches, assertRegistryHasLayout, MT } from '../helpers/oci.js';
import { startRecordingProxy } from '../helpers/proxy.js';
import { tempDir, testImages, type TestImages } from '../helpers/shared.js';

const s = registrySuite('skopeo');
let imgs: TestImages;
let skopeo: Skopeo;
let work: string;

before(async () => {
  imgs = await testImages();
  skopeo = new Skopeo();
  work = tempDir('skopeo-out');
});

const TLS_OFF = ['--src-tls-verify=false', '--dest-tls-verify=false'];

async function pushLayout(name: 'tiny' | 'multilayer' | 'multiarch' | 'artifact', ref: string, host = s.reg.hostPort) {
  const all = name === 'multiarch' ? ['--all'] : [];
  await skopeo.run(['copy', '--quiet', ...TLS_OFF, ...all, `oci:${imgs.layout(name)}:latest`, `docker://${host}/${ref}`]);
}

async function pullToLayout(src: string, outName: string, all = false): Promise<string> {
  const out = path.join(work, outName);
  await skopeo.run(['copy', '--quiet', ...TLS_OFF, ...(all ? ['--all'] : []), `docker://${src}`, `oci:${out}:latest`]);
  return out;
}

s.step('single-layer image: push, registry serves identical bytes, pull back identical', async () => {
  const layout = new Layout(imgs.layout('tiny'));
  await pushLayout('tiny', 'skopeo/tiny:v1');
  await assertRegistryHasLayout(s.api, 'skopeo/tiny', 'v1', layout);
  const out = await pullToLayout(`${s.reg.hostPort}/skopeo/tiny:v1`, 'tiny');
  await assertLayoutMatches(out, layout);
  assert.deepEqual(await s.api.tags('skopeo/tiny'), ['v1']);
});

s.step(`multi-layer image (${Number(process.env.BIG_MIB ?? 100)} MiB layer): push and pull back identical`, async () => {
  const layout = new Layout(imgs.layout('multilayer'));
  const big = layout.images()[0].manifest.layers!.reduce((a, l) => Math.max(a, l.size), 0);
  assert.ok(big >= imgs.bigMiB * 1024 * 1024, `fixture's big layer is ${big} bytes`);
  await pushLayout('multilayer', 'skopeo/multilayer:v1');
  await assertRegistryHasLayout(s.api, 'skopeo/multilayer', 'v1', layout);
  const out = await pullToLayout(`${s.reg.hostPort}/skopeo/multilayer:v1`, 'multilayer');
  await assertLayoutMatches(out, layout);
});

s.step('two-platform index: push --all, pull --all identical; inspect per platform', async () => {
  const layout = new Layout(imgs.layout('multiarch'));
  await pushLayout('multiarch', 'skopeo/multiarch:v1');
  await assertRegistryHasLayout(s.api, 'skopeo/multiarch', 'v1', layout);
  const out = await pullToLayout(`${s.reg.hostPort}/skopeo/multiarch:v1`, 'multiarch', true);
  await assertLayoutMatches(out, layout);
  // platform selection through the index: the config of the chosen instance
  for (const [arch, variant] of [
    ['amd64', ''],
    ['arm64', 'v8'],
  ]) {
    const r = await skopeo.run([
      'inspect',
      '--config',
      '--tls-verify=false',
      '--override-os',
      'linux',
      '--override-arch',
      arch,
      ...(variant ? ['--override-variant', variant] : []),
      `docker://${s.reg.hostPort}/skopeo/multiarch:v1`,
    ]);
    const cfg = JSON.parse(r.stdout) as { architecture: string; rootfs: { diff_ids: string[] } };
    const want = layout.images().find((i) => i.config.architecture === arch)!;
    assert.equal(cfg.architecture, arch);
    assert.deepEqual(cfg.rootfs.diff_ids, want.config.rootfs.diff_ids, `config chosen for ${arch}`);
  }
});

s.step('pull by digest (manifest and index) gives the same content', async () => {
  const tiny = new Layout(imgs.layout('tiny'));
  const multi = new Layout(imgs.layout('multiarch'));
  const out1 = await pullToLayout(`${s.reg.hostPort}/skopeo/tiny@${tiny.top().digest}`, 'tiny-by-digest');
  await assertLayoutMatches(out1, tiny);
  const out2 = await pullToLayout(`${s.reg.hostPort}/skopeo/multiarch@${multi.top().digest}`, 'multiarch-by-digest', true);
  await assertLayoutMatches(out2, multi);
  // a child manifest of the index, by digest
  const arm = multi.images().find((i) => i.config.architecture === 'arm64')!;
  const raw = await skopeo.run(['inspect', '--raw', '--tls-verify=false', `docker://${s.reg.hostPort}/skopeo/multiarch@${arm.desc.digest}`]);
  assert.equal(raw.stdout, multi.blob(arm.desc.digest).toString('utf8'));
  // list-tags
  const tags = JSON.parse((await skopeo.run(['list-tags', '--tls-verify=false', `docker://${s.reg.hostPort}/skopeo/multiarch`])).stdout) as { Tags: string[] };
  assert.deepEqual(tags.Tags, ['v1']);
});

s.step('OCI artifact with subject: push next to its subject, pull back identical', async () => {
  const art = new Layout(imgs.layout('artifact'));
  const tiny = new Layout(imgs.layout('tiny'));
  const manifest = art.json(art.top().digest);
  assert.equal(manifest.subject?.digest, tiny.top().digest, 'fixture: artifact subject is tiny');
  await pushLayout('artifact', 'skopeo/tiny:sbom');
  await assertRegistryHasLayout(s.api, 'skopeo/tiny', 'sbom', art);
  const out = await pullToLayout(`${s.reg.hostPort}/skopeo/tiny:sbom`, 'artifact');
  await assertLayoutMatches(out, art);
  if (e2eTarget() === 'berth') {
    // OCI 1.1 referrers API (the reference registry 2.8 has none)
    const r = await s.api.req('GET', `/v2/skopeo/tiny/referrers/${tiny.top().digest}`);
    assert.equal(r.status, 200, `referrers: ${r.body.toString()}`);
    assert.match(String(r.headers['content-type']), /application\/vnd\.oci\.image\.index\.v1\+json/);
    const idx = JSON.parse(r.body.toString()) as { manifests: { digest: string; artifactType?: string }[] };
    const hit = idx.manifests.find((m) => m.digest === art.top().digest);
    assert.ok(hit, `referrers of tiny list the artifact: ${r.body.toString()}`);
    assert.equal(hit.artifactType, 'application/vnd.berth.test.sbom.v1');
  }
});

s.step('registry→registry copy between repositories mounts blobs instead of re-uploading', async () => {
  const layout = new Layout(imgs.layout('multilayer'));
  const img = layout.images()[0];
  const blobs = [img.manifest.config!, ...img.manifest.layers!];
  // the destination repository must not see blobs it was never given
  for (const b of blobs) {
    assert.equal(await s.api.blobStatus('skopeo/mounted', b.digest), 404, `HEAD ${b.digest} in a fresh repository`);
  }
  const proxy = await startRecordingProxy(s.reg.url);
  try {
    // skopeo mounts blobs it knows to exist in another repository of the same registry:
    // a pull from the source repository (through the proxy) teaches it that
    await pullToLayout(`${proxy.hostPort}/skopeo/multilayer:v1`, 'mount-seed');
    proxy.requests.length = 0;
    await skopeo.run(['copy', '--quiet', ...TLS_OFF, `docker://${proxy.hostPort}/skopeo/multilayer:v1`, `docker://${proxy.hostPort}/skopeo/mounted:v1`]);
    const seen = proxy.requests.map((r) => `${r.method} ${r.url} → ${r.status} (${r.bytesIn} B in)`).join('\n');
    // c/image always re-sends the (small) config blob; the layers must be mounted
    for (const b of img.manifest.layers!) {
      const mount = proxy.requests.find(
        (r) => r.method === 'POST' && r.url.startsWith('/v2/skopeo/mounted/blobs/uploads/') && decodeURIComponent(r.url).includes(`mount=${b.digest}`),
      );
      assert.ok(mount, `no mount request for layer ${b.digest}; requests:\n${seen}`);
      assert.equal(mount.status, 201, `mount of ${b.digest} answered ${mount.status}; requests:\n${seen}`);
      assert.match(decodeURIComponent(mount.url), /from=skopeo\/multilayer(&|$)/);
    }
    const uploads = proxy.requests.filter(
      (r) => r.url.startsWith('/v2/skopeo/mounted/blobs/uploads/') && (r.method === 'PATCH' || r.method === 'PUT') && r.bytesIn > 0,
    );
    const uploadedBytes = uploads.reduce((a, r) => a + r.bytesIn, 0);
    assert.ok(uploadedBytes <= img.manifest.config!.size, `layer data was uploaded despite the mounts (${uploadedBytes} B):\n${seen}`);
    const totalIn = proxy.requests.reduce((a, r) => a + r.bytesIn, 0);
    assert.ok(totalIn < 64 * 1024, `only config + manifest should have been sent, got ${totalIn} bytes`);
  } finally {
    await proxy.close();
  }
  // the mounted blobs are really readable from the new repository
  await assertRegistryHasLayout(s.api, 'skopeo/mounted', 'v1', layout);
});

s.step('delete: skopeo delete removes the manifest, the other tag still pulls', async () => {
  const tiny = new Layout(imgs.layout('tiny'));
  const multi = new Layout(imgs.layout('multiarch'));
  await pushLayout('tiny', 'skopeo/del:one');
  await pushLayout('multiarch', 'skopeo/del:two');
  assert.equal(await s.api.manifestStatus('skopeo/del', 'one'), 200);
  await skopeo.run(['delete', '--tls-verify=false', `docker://${s.reg.hostPort}/skopeo/del:one`]);
  assert.equal(await s.api.manifestStatus('skopeo/del', 'one'), 404, 'deleted tag');
  assert.equal(await s.api.manifestStatus('skopeo/del', 'one', 'HEAD'), 404, 'deleted tag (HEAD)');
  assert.equal(await s.api.manifestStatus('skopeo/del', tiny.top().digest), 404, 'deleted manifest by digest');
  assert.ok(!(await s.api.tags('skopeo/del')).includes('one'), 'tag list no longer has "one"');
  // the same manifest in another repository is untouched
  assert.equal(await s.api.manifestStatus('skopeo/tiny', 'v1'), 200, 'skopeo/tiny:v1 survives a delete in skopeo/del');
  const out = await pullToLayout(`${s.reg.hostPort}/skopeo/del:two`, 'del-two', true);
  await assertLayoutMatches(out, multi);
  const failed = await skopeo.runMayFail(['copy', '--quiet', ...TLS_OFF, `docker://${s.reg.hostPort}/skopeo/del:one`, `oci:${path.join(work, 'gone')}:latest`]);
  assert.notEqual(failed.code, 0, 'pulling a deleted tag fails');
  assert.match(failed.stderr, /manifest unknown|not found|404/i);
  assert.equal(multi.top().mediaType, MT.ociIndex);
});
