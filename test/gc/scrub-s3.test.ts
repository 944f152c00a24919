// The incident `berth scrub` exists for, replayed on S3 (Ceph RGW) with skopeo: a registry
// pointed at a fresh bucket while its database remembered the old one. Pushes then skip every
// blob the database claims (HEAD says 200) and every pull of them fails. The scrub reports the
// lost objects by repository and tag; `--repair` makes HEAD answer 404, so the next
// `skopeo copy` uploads them again, and the image pulls back byte for byte.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { scrub } from '../../src/gc/scrub.js';
import type { MetadataDb } from '../../src/metadata/database.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';
import { Skopeo } from '../helpers/clients.js';
import { assertLayoutMatches, Layout, RegistryApi } from '../helpers/oci.js';
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
  let layout: Layout;
  let layoutDir: string;
  let work: string;
  let cfg: string;

  const host = () => new URL(s.url).host;
  const push = (tag: string) => skopeo.run(['copy', '--quiet', ...TLS_OFF, '--all', `oci:${layoutDir}:latest`, `docker://${host()}/s3/multi:${tag}`]);
  const pull = (tag: string, out: string) => skopeo.runMayFail(['copy', '--quiet', ...TLS_OFF, '--all', `docker://${host()}/s3/multi:${tag}`, `oci:${path.join(work, out)}:latest`]);

  before(async () => {
    dir = tempDir('berth-scrub-s3-');
    work = e2eTempDir('scrub-s3');
    skopeo = new Skopeo('scrub-s3');
    layoutDir = (await testImages()).layout('multiarch');
    layout = new Layout(layoutDir);
    const old = await startServer({ dir, config: { storage: await s3StorageOverrides() } });
    try {
      await push('v1');
    } finally {
      await old.close();
    }
    // Same database (in `dir`), a fresh, empty key prefix: the new bucket.
    s = await startServer({ dir, config: { storage: await s3StorageOverrides() } });
    ({ storage, meta } = await openStores(s.config));
    cfg = scrubConfigFile(s.config, path.join(work, 'config.yml'));
  });
  after(async () => {
    await meta?.close();
    await s?.close();
    if (dir) removeDir(dir);
  });

  const lost = () =>
    layout
      .closure()
      .filter((d) => !d.mediaType.includes('manifest') && !d.mediaType.includes('index'))
      .map((d) => d.digest)
      .sort();

  it('the incident: a push to the new bucket skips the blobs the database claims, and the pull fails', async () => {
    await push('v2');
    const r = await pull('v2', 'broken');
    assert.notEqual(r.code, 0, 'the pull fails: the blobs are in neither bucket');
    assert.match(r.stderr, /404|not found|unknown/i);
  });

  it('scrub reports every lost config and layer and the manifests they break; the command exits 3', async () => {
    const report = await scrub(storage, meta);
    assert.deepEqual(report.problems.map((p) => p.digest).sort(), lost());
    assert.ok(report.problems.every((p) => p.kind === 'missing' && p.object === 'blob' && p.repositories.join() === 's3/multi'));
    const index = layout.top();
    const indexEntry = report.unpullable.find((u) => u.digest === index.digest);
    assert.deepEqual(indexEntry?.tags, ['v1', 'v2']);
    assert.equal(report.unpullable.length, 1 + layout.images().length, 'the index and each platform image');

    const r = await berthScrub(cfg);
    assert.equal(r.status, 3, r.stderr);
    for (const digest of lost()) assert.match(r.stdout, new RegExp(`^missing blob ${digest} \\(.+\\); linked in s3/multi$`, 'm'));
    assert.match(r.stdout, new RegExp(`^unpullable s3/multi:v1,v2 \\(${index.digest}\\): lacks `, 'm'));
    assert.match(r.stdout, new RegExp(`^scrub: ${report.objects} objects .*; ${lost().length} missing .*, 0 corrupt .*; run with --repair`, 'm'));
  });

  it('--repair: HEAD answers 404, skopeo uploads the blobs again, and the image pulls back byte for byte', async () => {
    const r = await berthScrub(cfg, ['--repair']);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stdout, new RegExp(`; repaired ${lost().length} \\(0 manifests and 0 tags removed, 0 corrupt objects deleted\\)\\n$`));
    const registry = new RegistryApi(s.url);
    for (const digest of lost()) assert.equal(await registry.blobStatus('s3/multi', digest), 404, `HEAD ${digest}`);

    await push('v3');
    for (const tag of ['v1', 'v2', 'v3']) {
      const r2 = await pull(tag, `pulled-${tag}`);
      assert.equal(r2.code, 0, r2.stderr);
      await assertLayoutMatches(path.join(work, `pulled-${tag}`), layout);
    }
    const again = await berthScrub(cfg);
    assert.equal(again.status, 0, again.stdout);
  });
});
