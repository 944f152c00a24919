// `berth import` run again after the source moved on (registry:2 kept serving, or an import was cut
// short): a tag only imports moved in Berth moves on to the source's digest; a tag someone moved in Berth
// since is kept and reported (exit 3); a run over a source with nothing new changes nothing (exit 0).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImportReport } from '../../src/import/importer.js';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { MANIFEST_ACCEPT, RegistryApi, writeUniqueLayout } from '../helpers/oci.js';
import { Skopeo } from '../helpers/clients.js';
import { tempDir } from '../helpers/shared.js';
import { berthImport, tagHistory, writeV2Image } from './helpers.js';

type Report = ImportReport & { changed: boolean };
let berth: RegistryProcess;
let api: RegistryApi;
const source = tempDir('import-incremental-src');

before(async () => {
  berth = await startBerth({ name: 'import-incremental' });
  api = new RegistryApi(berth.url);
});
after(async () => {
  await berth?.dispose();
});

async function importJson(): Promise<{ status: number | null; report: Report }> {
  const r = await berthImport(berth.root, ['--json', source]);
  try {
    return { status: r.status, report: JSON.parse(r.stdout) as Report };
  } catch {
    throw new Error(`berth import exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  }
}

/** Gives the tag's index links distinct, increasing times (a tag moved once per second at most here). */
function age(repo: string, tag: string, digest: string, secondsAgo: number): void {
  const file = path.join(source, 'docker/registry/v2/repositories', repo, '_manifests/tags', tag, 'index/sha256', digest.slice(7), 'link');
  const t = new Date(Date.now() - secondsAgo * 1000);
  fs.utimesSync(file, t, t);
}

describe('berth import again after the source moved on', () => {
  it('moves a tag only imports moved, keeps one moved in Berth, and changes nothing when nothing is new', { timeout: 3 * 60_000 }, async () => {
    const m1 = writeV2Image(source, 'team/app', 'stable');
    writeV2Image(source, 'team/other', 'edge');
    age('team/app', 'stable', m1, 60);
    let run = await importJson();
    assert.equal(run.status, 0);
    assert.equal(run.report.tags.imported, 2);

    // registry:2 kept serving: stable moved to m2.
    const m2 = writeV2Image(source, 'team/app', 'stable');
    run = await importJson();
    assert.equal(run.status, 0);
    assert.deepEqual([run.report.tags.imported, run.report.tags.unchanged, run.report.manifests.imported, run.report.history.entries], [1, 1, 1, 0]);
    assert.equal((await api.getManifest('team/app', 'stable', MANIFEST_ACCEPT)).digest, m2);
    assert.deepEqual(await tagHistory(berth.root, 'team/app', 'stable'), [
      [m1, m2, 'import:registry2'],
      [null, m1, 'import:registry2'],
    ]);

    // Someone pushes to the tag in Berth; then the source moves it again: Berth's push stands.
    const pushed = writeUniqueLayout(tempDir('import-incremental-push'), `push-${Date.now()}`, Buffer.from('pushed in Berth'));
    await new Skopeo('import-incremental').run([
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${pushed.dir}:latest`,
      `docker://${berth.hostPort}/team/app:stable`,
    ]);
    const m3 = writeV2Image(source, 'team/app', 'stable');
    run = await importJson();
    assert.equal(run.status, 3, 'a kept tag is reported');
    assert.deepEqual(run.report.conflicts, [{ repository: 'team/app', tag: 'stable', berth: pushed.top().digest, source: m3 }]);
    assert.equal((await api.getManifest('team/app', 'stable', MANIFEST_ACCEPT)).digest, pushed.top().digest);
    assert.equal(run.report.manifests.imported, 1, 'the new manifest is imported all the same (by digest)');

    // Nothing new: nothing changes.
    fs.rmSync(path.join(source, 'docker/registry/v2/repositories/team/app'), { recursive: true });
    run = await importJson();
    assert.equal(run.status, 0);
    assert.equal(run.report.changed, false);
  });

  it('--move takes the blob files out of the source; a second run finds them in Berth and changes nothing', { timeout: 2 * 60_000 }, async () => {
    const src = tempDir('import-move-src');
    const root = tempDir('import-move-dst');
    const digests = [writeV2Image(src, 'm/one', 'a'), writeV2Image(src, 'm/two', 'b')];
    const dataFiles = () => {
      const blobs = path.join(src, 'docker/registry/v2/blobs/sha256');
      return fs
        .readdirSync(blobs)
        .flatMap((two) =>
          fs
            .readdirSync(path.join(blobs, two))
            .filter((hex) => fs.existsSync(path.join(blobs, two, hex, 'data')))
            .map((hex) => `sha256:${hex}`),
        )
        .sort();
    };
    const run1 = await berthImport(root, ['--json', '--move', src]);
    assert.equal(run1.status, 0, run1.stderr);
    assert.equal((JSON.parse(run1.stdout) as Report).blobs.imported, 4);
    assert.deepEqual(dataFiles(), [...digests].sort(), 'only the manifests (copied, never moved) are left in the source');
    const run2 = await berthImport(root, ['--json', '--move', src]);
    assert.equal(run2.status, 0, run2.stdout);
    const second = JSON.parse(run2.stdout) as Report;
    assert.equal(second.changed, false);
    assert.deepEqual([second.dangling.length, second.blobs.unchanged, second.tags.unchanged], [0, 4, 2]);
  });
});
