// The incident `berth scrub` exists for, replayed on S3 (Ceph RGW) with skopeo and docker: a
// registry pointed at a fresh bucket while its database remembered the old one. Pushes then skip
// every blob the database claims (HEAD says 200: docker prints "Layer already exists") and every
// pull of them fails. The scrub reports the lost objects by repository and tag; `--repair` makes
// HEAD answer 404, so the next `skopeo copy` and `docker push` upload them again, and the images
// pull back byte for byte.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { scrub } from '../../src/gc/scrub.js';
import type { MetadataDb } from '../../src/metadata/database.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';
import { BIN, Docker, run, Skopeo } from '../helpers/clients.js';
import { assertLayoutMatches, Layout, RegistryApi, writeUniqueLayout } from '../helpers/oci.js';
import { s3StorageOverrides } from '../helpers/s3.js';
import { tempDir as e2eTempDir, testImages } from '../helpers/shared.js';
import { berthScrub, openStores, scrubConfigFile } from './scrub-helpers.js';

const TLS_OFF = ['--src-tls-verify=false', '--dest-tls-verify=false'];

describe('berth scrub on S3 (Ceph RGW): a fresh bucket behind a database that remembers the old one', () => {
  let dir: string;
  let s: TestServer;
  let storage: StorageDriver;
  let meta: MetadataDb;
  let skopeo: Skopeo;
  let docker: Docker;
  /** A two-platform index, pushed with skopeo to s3/multi. */
  let multi: Layout;
  /** An image of its own (so no other test's docker image is touched), pushed with docker to s3/solo. */
  let solo: Layout;
  let soloName: string;
  let archive: string;
  let work: string;
  let cfg: string;

  const host = () => new URL(s.url).host;
  const skopeoPush = (tag: string, to = host()) =>
    skopeo.run(['copy', '--quiet', ...TLS_OFF, '--all', `oci:${multi.dir}:latest`, `docker://${to}/s3/multi:${tag}`]);
  const skopeoPull = (tag: string, out: string) =>
    skopeo.runMayFail(['copy', '--quiet', ...TLS_OFF, '--all', `docker://${host()}/s3/multi:${tag}`, `oci:${path.join(work, out)}:latest`]);
  const soloConfig = () => solo.images()[0].manifest.config!.digest;
  /** docker load (a pull test removes the image) + tag + push; returns what docker printed. */
  const dockerPush = async (to = host()) => {
    await docker.run(['load', '--quiet', '--input', archive]);
    await docker.run(['tag', soloName, `${to}/s3/solo:v1`]);
    return (await docker.run(['push', `${to}/s3/solo:v1`])).stdout;
  };
  /** docker pull with the image gone from dockerd first, so every layer is downloaded. */
  const dockerPull = async () => {
    await docker.removeImage(soloConfig());
    return docker.runMayFail(['pull', `${host()}/s3/solo:v1`]);
  };

  before(async () => {
    dir = tempDir('berth-scrub-s3-');
    work = e2eTempDir('scrub-s3');
    skopeo = new Skopeo('scrub-s3');
    docker = await Docker.create('scrub-s3-docker');
    multi = new Layout((await testImages()).layout('multiarch'));
    const seed = `scrub-${process.pid}-${Date.now()}`;
    solo = writeUniqueLayout(path.join(work, 'solo'), seed, randomBytes(64 * 1024));
    soloName = `berth-scrub/${seed}:latest`;
    archive = path.join(work, 'solo.tar');
    await run(BIN.skopeo, ['--insecure-policy', 'copy', '--quiet', `oci:${solo.dir}:latest`, `docker-archive:${archive}:${soloName}`]);

    const old = await startServer({ dir, config: { storage: await s3StorageOverrides() } });
    try {
      await skopeoPush('v1', new URL(old.url).host);
      await dockerPush(new URL(old.url).host);
    } finally {
      await old.close();
    }
    // The same database (in `dir`), a fresh and empty key prefix: the new bucket.
    s = await startServer({ dir, config: { storage: await s3StorageOverrides() } });
    ({ storage, meta } = await openStores(s.config));
    cfg = scrubConfigFile(s.config, path.join(work, 'config.yml'));
  });
  after(async () => {
    await docker?.removeImage(soloConfig()).catch(() => {});
    await meta?.close();
    await s?.close();
    if (dir) removeDir(dir);
  });

  /** Configs and layers of the index: blobs, not manifests. */
  const multiBlobs = () =>
    multi
      .closure()
      .filter((d) => !d.mediaType.includes('manifest') && !d.mediaType.includes('index'))
      .map((d) => d.digest)
      .sort();

  it('the incident: pushes to the new bucket skip the blobs the database claims, and pulls fail', async () => {
    await skopeoPush('v2');
    const pulled = await skopeoPull('v2', 'broken');
    assert.notEqual(pulled.code, 0, 'the skopeo pull fails: the blobs are in neither bucket');
    const pushed = await dockerPush();
    assert.match(pushed, /Layer already exists/, pushed);
    assert.doesNotMatch(pushed, /: Pushed/, pushed);
    const r = await dockerPull();
    assert.notEqual(r.code, 0, `the docker pull fails:\n${r.stdout}`);
  });

  it('scrub reports every lost config and layer and the manifests they break; the command exits 3', async () => {
    const report = await scrub(storage, meta);
    assert.ok(
      report.problems.every((p) => p.kind === 'missing' && p.object === 'blob'),
      'only blobs are lost: the manifests were PUT again into the new bucket',
    );
    const inMulti = report.problems.filter((p) => p.repositories.join() === 's3/multi').map((p) => p.digest);
    assert.deepEqual(inMulti.sort(), multiBlobs());
    const inSolo = report.problems.filter((p) => p.repositories.join() === 's3/solo');
    assert.equal(inSolo.length, 2, 'the config and the layer docker pushed');
    assert.ok(inSolo.some((p) => p.digest === soloConfig()));
    assert.equal(report.problems.length, multiBlobs().length + 2);
    const index = multi.top();
    assert.deepEqual(report.unpullable.find((u) => u.digest === index.digest)?.tags, ['v1', 'v2']);
    assert.equal(report.unpullable.filter((u) => u.repository === 's3/multi').length, 1 + multi.images().length, 'the index and each platform image');
    assert.deepEqual(
      report.unpullable.filter((u) => u.repository === 's3/solo').map((u) => u.tags),
      [['v1']],
    );

    const r = await berthScrub(cfg);
    assert.equal(r.status, 3, r.stderr);
    for (const digest of multiBlobs()) assert.match(r.stdout, new RegExp(`^missing blob ${digest} \\(.+\\); linked in s3/multi$`, 'm'));
    assert.match(r.stdout, new RegExp(`^unpullable s3/multi:v1,v2 \\(${index.digest}\\): lacks `, 'm'));
    assert.match(r.stdout, /^unpullable s3\/solo:v1 \(sha256:[0-9a-f]{64}\): lacks /m);
    assert.match(r.stdout, new RegExp(`^scrub: ${report.objects} objects .*; ${report.problems.length} missing .*, 0 corrupt .*; run with --repair`, 'm'));
  });

  it('--repair: HEAD answers 404, skopeo and docker upload the blobs again, and the images pull back byte for byte', async () => {
    const lost = multiBlobs().length + 2;
    const r = await berthScrub(cfg, ['--repair']);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stdout, new RegExp(`; repaired ${lost} \\(0 manifests and 0 tags removed, 0 corrupt objects deleted\\)\\n$`));
    const registry = new RegistryApi(s.url);
    for (const digest of multiBlobs()) assert.equal(await registry.blobStatus('s3/multi', digest), 404, `HEAD ${digest}`);
    assert.equal(await registry.blobStatus('s3/solo', soloConfig()), 404);

    await skopeoPush('v3');
    for (const tag of ['v1', 'v2', 'v3']) {
      const pulled = await skopeoPull(tag, `pulled-${tag}`);
      assert.equal(pulled.code, 0, pulled.stderr);
      await assertLayoutMatches(path.join(work, `pulled-${tag}`), multi);
    }

    const pushed = await dockerPush();
    assert.doesNotMatch(pushed, /Layer already exists/, pushed);
    assert.match(pushed, /: Pushed/, pushed);
    const pulled = await dockerPull();
    assert.equal(pulled.code, 0, pulled.stderr);
    const img = await docker.inspect(`${host()}/s3/solo:v1`);
    assert.equal(img.Id, soloConfig(), 'the image ID is the config digest');
    assert.deepEqual(img.RootFS.Layers, solo.images()[0].config.rootfs.diff_ids, 'the layer unpacks to the pushed content');

    const again = await berthScrub(cfg, ['--deep']);
    assert.equal(again.status, 0, again.stdout);
  });
});
