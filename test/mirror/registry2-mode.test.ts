// registry:2 compatibility: a Berth process configured only through REGISTRY_PROXY_* variables is a
// pull-through cache of that upstream (names kept as they are), and refuses pushes as registry:2 does.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RegistryProcess } from '../helpers/berth-process.js';
import { startBerth } from '../helpers/berth-process.js';
import { Skopeo } from '../helpers/clients.js';
import { request } from '../helpers/http.js';
import { Layout, MANIFEST_ACCEPT, assertLayoutMatches } from '../helpers/oci.js';
import { tempDir, testImages, type TestImages } from '../helpers/shared.js';
import { UPSTREAM_PASSWORD, UPSTREAM_USER, fillUpstream, startUpstream, type Upstream, type UpstreamContent } from '../helpers/upstream.js';
import { startTap, type Tap } from '../helpers/upstream-tap.js';

const TLS_OFF = ['--src-tls-verify=false', '--dest-tls-verify=false'];

describe('REGISTRY_PROXY_REMOTEURL, _USERNAME, _PASSWORD (registry:2 mode) against a token-authenticated upstream', () => {
  let imgs: TestImages;
  let skopeo: Skopeo;
  let up: Upstream;
  let tap: Tap;
  let content: UpstreamContent;
  let berth: RegistryProcess;
  before(async () => {
    imgs = await testImages();
    skopeo = new Skopeo('mirror-registry2');
    up = await startUpstream({ token: { anonymousPull: false }, name: 'mirror-registry2-upstream' });
    content = await fillUpstream(up, { only: ['tiny', 'multi'] });
    tap = await startTap(up.url);
    berth = await startBerth({
      name: 'mirror-registry2',
      env: { REGISTRY_PROXY_REMOTEURL: tap.url, REGISTRY_PROXY_USERNAME: UPSTREAM_USER, REGISTRY_PROXY_PASSWORD: UPSTREAM_PASSWORD, REGISTRY_PROXY_TTL: '24h' },
    });
  });
  after(async () => {
    await berth?.dispose();
    await tap?.close();
    await up?.dispose();
  });

  test('pulls keep the upstream names (library/tiny, an index with --all), from the upstream once', async () => {
    const out = path.join(tempDir('mirror-registry2'), 'tiny');
    await skopeo.run(['copy', '--quiet', ...TLS_OFF, `docker://${berth.hostPort}/library/tiny:latest`, `oci:${out}:latest`]);
    await assertLayoutMatches(out, new Layout(imgs.layout('tiny')));
    const multi = path.join(tempDir('mirror-registry2'), 'multi');
    await skopeo.run(['copy', '--quiet', ...TLS_OFF, '--all', `docker://${berth.hostPort}/library/multi:latest`, `oci:${multi}:latest`]);
    await assertLayoutMatches(multi, new Layout(imgs.layout('multiarch')));
    for (const b of content.tiny.blobs) assert.equal(tap.blobDownloads(b), 1, JSON.stringify(tap.summary()));
    const head = await request(`${berth.url}/v2/library/tiny/manifests/latest`, { method: 'HEAD', headers: { Accept: MANIFEST_ACCEPT } });
    assert.equal(head.headers['docker-content-digest'], content.tiny.digest);
    const catalog = JSON.parse((await request(`${berth.url}/v2/_catalog`)).body.toString()) as { repositories: string[] };
    assert.deepEqual(catalog.repositories, ['library/multi', 'library/tiny']);
  });

  test("every name is the mirror's: a push is refused with 405 UNSUPPORTED", async () => {
    const r = await request(`${berth.url}/v2/anything/new/blobs/uploads/`, { method: 'POST' });
    assert.equal(r.status, 405, r.body.toString());
    const e = JSON.parse(r.body.toString()).errors[0];
    assert.equal(e.code, 'UNSUPPORTED');
    assert.match(e.message, /read-only mirror of .* \(upstream "proxy"\)/);
    await assert.rejects(
      skopeo.run(['copy', '--quiet', ...TLS_OFF, `oci:${imgs.layout('tiny')}:latest`, `docker://${berth.hostPort}/mine/tiny:1`]),
      /read-only mirror|unsupported/i,
    );
  });
});
