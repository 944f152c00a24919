// Real clients pushing over a namespace's storage quota (quotas.default from the
// environment, so no accounts are needed): the push fails with the registry's message
// saying used and allowed, and nothing of it becomes visible. skopeo's image fits blob by
// blob, so the refusal is the manifest PUT's; docker's first layer alone is over a 1-byte
// limit, so it is refused at that upload's commit, before docker sends the rest.
// Berth only (quotas are Berth's): these registries start whatever BERTH_E2E_TARGET says.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { BIN, Docker, Skopeo, run } from '../helpers/clients.js';
import { withServerLog } from '../helpers/e2e.js';
import { Layout } from '../helpers/oci.js';
import { derivedFile, testImages, type TestImages } from '../helpers/shared.js';

let imgs: TestImages;
let skopeoReg: RegistryProcess | undefined;
let dockerReg: RegistryProcess | undefined;
let total = 0;

before(async () => {
  imgs = await testImages();
  // Every digest of the tiny image once: config, layers and the manifest body.
  total = new Layout(imgs.layout('tiny')).closure().reduce((sum, d) => sum + d.size, 0);
  skopeoReg = await startBerth({ name: 'quota-skopeo', env: { REGISTRY_QUOTAS_DEFAULT: String(total - 1) } });
  dockerReg = await startBerth({ name: 'quota-docker', env: { REGISTRY_QUOTAS_DEFAULT: '1' } });
});

after(async () => {
  await skopeoReg?.dispose();
  await dockerReg?.dispose();
});

async function status(reg: RegistryProcess, path: string): Promise<number> {
  const res = await fetch(`${reg.url}${path}`, {
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
  });
  await res.arrayBuffer();
  return res.status;
}

test('skopeo copy over the quota fails at the manifest with "quota exceeded", and the image is not there', { timeout: 3 * 60_000 }, () =>
  withServerLog(
    () => skopeoReg,
    async () => {
      const reg = skopeoReg!;
      const skopeo = new Skopeo('skopeo-quota');
      const r = await skopeo.runMayFail(['copy', '--dest-tls-verify=false', `oci:${imgs.layout('tiny')}:latest`, `docker://${reg.hostPort}/team/tiny:v1`]);
      assert.notEqual(r.code, 0, 'the push must fail');
      console.log(`skopeo: ${r.stderr.trim().split('\n').at(-1)}`);
      assert.match(r.stderr, /denied: quota exceeded: namespace team uses 0 B of [\d.]+ (B|KiB|MiB); this push needs [\d.]+ (B|KiB|MiB) more/, r.stderr);
      assert.equal(await status(reg, '/v2/team/tiny/manifests/v1'), 404);
      const top = new Layout(imgs.layout('tiny')).top();
      assert.equal(await status(reg, `/v2/team/tiny/manifests/${top.digest}`), 404);
    },
  ),
);

test('docker push over the quota fails with "denied: quota exceeded" and does not retry', { timeout: 3 * 60_000 }, () =>
  withServerLog(
    () => dockerReg,
    async () => {
      const reg = dockerReg!;
      const docker = await Docker.create('docker-quota');
      const archive = await derivedFile('tiny.docker-archive.tar', async (out) => {
        await run(BIN.skopeo, ['--insecure-policy', 'copy', '--quiet', `oci:${imgs.layout('tiny')}:latest`, `docker-archive:${out}:berth-fixture/tiny:latest`]);
      });
      await docker.run(['load', '--quiet', '--input', archive]);
      const target = `${reg.hostPort}/crew/tiny:v1`;
      await docker.run(['tag', 'berth-fixture/tiny:latest', target]);
      const r = await docker.runMayFail(['push', target]);
      assert.notEqual(r.code, 0, 'the push must fail');
      console.log(`docker: ${`${r.stdout}\n${r.stderr}`.trim().split('\n').at(-1)}`);
      assert.match(`${r.stdout}\n${r.stderr}`, /denied: quota exceeded: namespace crew uses 0 B of 1 B; this push needs [\d.]+ (B|KiB|MiB) more/);
      assert.doesNotMatch(r.stdout, /Retrying in/, 'a DENIED refusal is final for docker');
      assert.equal(await status(reg, '/v2/crew/tiny/manifests/v1'), 404);
    },
  ),
);
