// Real clients after garbage collection: docker and skopeo push an image whose layers were just collected.
// Both clients remember where they pushed a layer (docker's distribution metadata, c/image's blob-info
// cache) and try a HEAD in the old repository or a cross-repository mount from it; Berth must answer that
// the blob is gone, so they upload it again, and the image must then pull completely.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { BIN, Docker, run, Skopeo } from '../helpers/clients.js';
import { withServerLog } from '../helpers/e2e.js';
import { Layout, RegistryApi, verifyRegistryImage } from '../helpers/oci.js';
import { derivedFile, REPO_ROOT, testImages, type TestImages } from '../helpers/shared.js';

let reg: RegistryProcess;
let api: RegistryApi;
let imgs: TestImages;

before(async () => {
  imgs = await testImages();
  reg = await startBerth({ name: 'gc-clients' });
  api = new RegistryApi(reg.url);
});
after(async () => {
  await reg?.dispose();
});

/** `berth gc --delay 0s` against the server's stores, while it serves; returns the summary line. */
async function collect(): Promise<string> {
  const r = await run(process.execPath, [path.join(REPO_ROOT, 'dist', 'main.js'), 'gc', '--delay', '0s'], {
    env: { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: reg.root, REGISTRY_LOG_LEVEL: 'warn' },
  });
  return r.stdout.trim();
}

/** The blob's bytes on disk (what collection must have removed), not the database's view. */
function stored(digest: string): boolean {
  const hex = digest.slice('sha256:'.length);
  return fs.existsSync(path.join(reg.root, 'blobs', 'sha256', hex.slice(0, 2), hex));
}

async function deleteManifest(repo: string, digest: string): Promise<void> {
  const r = await api.req('DELETE', `/v2/${repo}/manifests/${digest}`);
  assert.equal(r.status, 202, `DELETE ${repo}@${digest}: ${r.body.toString()}`);
}

/** Deletes the image, collects, and checks its blobs left the disk and answer 404 where they were. */
async function deleteAndCollect(repo: string, manifestDigest: string, blobs: string[]): Promise<void> {
  for (const d of blobs) assert.ok(stored(d), `${d} is stored before collection`);
  await deleteManifest(repo, manifestDigest);
  const summary = await collect();
  assert.match(summary, /^gc: deleted \d+ manifests and \d+ blobs/);
  for (const d of [manifestDigest, ...blobs]) {
    assert.ok(!stored(d), `${d} was collected (${summary})`);
    assert.equal(await api.blobStatus(repo, d), 404, `HEAD ${d} in ${repo} after collection`);
  }
}

test('docker pushes an image again after its layers were collected, into the old repository and a new one', { timeout: 5 * 60_000 }, () =>
  withServerLog(
    () => reg,
    async () => {
      const docker = await Docker.create('gc-docker');
      const archive = await derivedFile('tiny.docker-archive.tar', async (out) => {
        await run(BIN.skopeo, ['--insecure-policy', 'copy', '--quiet', `oci:${imgs.layout('tiny')}:latest`, `docker-archive:${out}:berth-fixture/tiny:latest`]);
      });
      await docker.run(['load', '--quiet', '--input', archive]);
      const push = async (repo: string) => {
        const target = `${reg.hostPort}/${repo}:v1`;
        await docker.run(['tag', 'berth-fixture/tiny:latest', target]);
        const out = (await docker.run(['push', target])).stdout;
        const m = /digest: (sha256:[0-9a-f]{64})/.exec(out);
        assert.ok(m, `no digest in docker push output:\n${out}`);
        return m[1];
      };
      const digest = await push('gc/docker-a');
      const first = await verifyRegistryImage(api, 'gc/docker-a', 'v1');
      const blobs = [first.images[0].configDigest, ...first.images[0].layerDigests];
      await deleteAndCollect('gc/docker-a', digest, blobs);

      // docker knows the layers were in gc/docker-a: it tries to mount them from there, and HEADs them there.
      assert.equal(await push('gc/docker-b'), digest);
      assert.deepEqual((await verifyRegistryImage(api, 'gc/docker-b', 'v1')).images, first.images);
      assert.equal(await push('gc/docker-a'), digest);
      assert.deepEqual((await verifyRegistryImage(api, 'gc/docker-a', 'v1')).images, first.images);
      for (const d of blobs) assert.ok(stored(d), `${d} is stored again`);
    },
  ),
);

test('skopeo pushes an image again after its layers were collected, into the old repository and a new one', { timeout: 5 * 60_000 }, () =>
  withServerLog(
    () => reg,
    async () => {
      const skopeo = new Skopeo('gc-skopeo');
      const layout = new Layout(imgs.layout('multilayer'));
      const want = layout.images()[0];
      const copy = (repo: string) =>
        skopeo.run(['copy', '--quiet', '--dest-tls-verify=false', `oci:${imgs.layout('multilayer')}:latest`, `docker://${reg.hostPort}/${repo}:v1`]);
      await copy('gc/skopeo-a');
      const blobs = [want.manifest.config!.digest, ...want.manifest.layers!.map((l) => l.digest)];
      await deleteAndCollect('gc/skopeo-a', layout.top().digest, blobs);

      // c/image's blob-info cache says the layers are in gc/skopeo-a: it tries a mount from there first.
      await copy('gc/skopeo-b');
      await copy('gc/skopeo-a');
      for (const repo of ['gc/skopeo-b', 'gc/skopeo-a']) {
        const got = await verifyRegistryImage(api, repo, 'v1');
        assert.equal(got.digest, layout.top().digest);
        assert.deepEqual(
          got.images[0].layerDigests,
          want.manifest.layers!.map((l) => l.digest),
        );
      }
      for (const d of blobs) assert.ok(stored(d), `${d} is stored again`);
    },
  ),
);
