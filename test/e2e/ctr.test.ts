// ctr (containerd 1.6, dockerd's containerd) against a registry started for this file.
// containerd keeps blobs as they are, so what it pushes must be byte-identical to the test
// layouts, and what it pulls (exported again as an OCI layout) too. containerd uploads
// with POST + a single PUT carrying the whole blob (no PATCH).
// Each push happens from one private namespace, which is then deleted (garbage-collecting
// its content) before the pull into another, so the pull really downloads: the recording
// proxy in front of the registry checks that every blob crossed the wire.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before } from 'node:test';
import { Ctr, run, BIN } from '../helpers/clients.js';
import { registrySuite } from '../helpers/e2e.js';
import { Layout, assertLayoutMatches, assertRegistryHasLayout } from '../helpers/oci.js';
import { startRecordingProxy } from '../helpers/proxy.js';
import { derivedFile, tempDir, testImages, type FixtureName, type TestImages } from '../helpers/shared.js';

const s = registrySuite('ctr');
let imgs: TestImages;
let work: string;

before(async () => {
  imgs = await testImages();
  work = tempDir('ctr-work');
  await Ctr.purgeStale();
});

function layoutTar(name: FixtureName): Promise<string> {
  return derivedFile(`${name}.oci-layout.tar`, async (out) => {
    await run(BIN.tar, ['-C', imgs.layout(name), '-cf', out, '.']);
  });
}

async function importAndPush(name: FixtureName, target: string): Promise<void> {
  const ctr = await Ctr.create('push');
  try {
    await ctr.run(['images', 'import', '--all-platforms', '--base-name', `berth-fixture/${name}`, await layoutTar(name)]);
    const r = await ctr.run(['images', 'push', '--plain-http', target, `berth-fixture/${name}:latest`]);
    assert.doesNotMatch(r.stderr, /error/i, r.stderr);
  } finally {
    await ctr.destroy();
  }
}

async function pullAndCompare(name: FixtureName, ref: string): Promise<void> {
  const layout = new Layout(imgs.layout(name));
  const proxy = await startRecordingProxy(s.reg.url);
  const ctr = await Ctr.create('pull');
  try {
    const viaProxy = ref.replace(s.reg.hostPort, proxy.hostPort);
    await ctr.run(['images', 'pull', '--plain-http', '--all-platforms', viaProxy]);
    // every blob (not the manifests, which are resolved by HEAD/GET manifests) was downloaded
    for (const d of layout.closure()) {
      if (/manifest|index/.test(d.mediaType)) continue;
      const got = proxy.requests.filter((r) => r.method === 'GET' && r.url.endsWith(`/blobs/${d.digest}`) && r.status === 200);
      assert.ok(got.length > 0, `ctr did not download ${d.digest}:\n${proxy.requests.map((r) => `${r.method} ${r.url} ${r.status}`).join('\n')}`);
      assert.equal(got[0].bytesOut, d.size, `bytes served for ${d.digest}`);
    }
    const tar = path.join(work, `${name}-${Date.now()}.tar`);
    await ctr.run(['images', 'export', '--all-platforms', tar, viaProxy]);
    const out = path.join(work, `${name}-${Date.now()}-layout`);
    fs.mkdirSync(out);
    await run(BIN.tar, ['-C', out, '-xf', tar]);
    await assertLayoutMatches(out, layout);
  } finally {
    await ctr.destroy();
    await proxy.close();
  }
}

s.step('single-layer image: import, push byte-identical, pull into a fresh namespace', async () => {
  const target = `${s.reg.hostPort}/ctr/tiny:v1`;
  await importAndPush('tiny', target);
  await assertRegistryHasLayout(s.api, 'ctr/tiny', 'v1', new Layout(imgs.layout('tiny')));
  await pullAndCompare('tiny', target);
});

s.step('multi-layer image with the big layer: push, pull by digest', async () => {
  const layout = new Layout(imgs.layout('multilayer'));
  await importAndPush('multilayer', `${s.reg.hostPort}/ctr/multilayer:v1`);
  await assertRegistryHasLayout(s.api, 'ctr/multilayer', 'v1', layout);
  await pullAndCompare('multilayer', `${s.reg.hostPort}/ctr/multilayer@${layout.top().digest}`);
});

s.step('two-platform index: push all platforms, pull --all-platforms identical', async () => {
  const layout = new Layout(imgs.layout('multiarch'));
  await importAndPush('multiarch', `${s.reg.hostPort}/ctr/multiarch:v1`);
  await assertRegistryHasLayout(s.api, 'ctr/multiarch', 'v1', layout);
  await pullAndCompare('multiarch', `${s.reg.hostPort}/ctr/multiarch:v1`);
});
