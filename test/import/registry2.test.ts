// `berth import DIR`: a registry:2 storage root filled by skopeo and docker (test/import/helpers.ts)
// imported into a running Berth (filesystem + SQLite). Every image pulls from Berth with the source's
// digests, the moved tag's history holds its earlier digests, the referrers API lists the artifact,
// the corrupt blob and what needs it are reported and not imported, the dry run's numbers are what
// was pushed, and a second run changes nothing. Then a hard-linking import into a second Berth.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ImportReport } from '../../src/import/importer.js';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { Skopeo } from '../helpers/clients.js';
import { MANIFEST_ACCEPT, RegistryApi } from '../helpers/oci.js';
import { tempDir } from '../helpers/shared.js';
import { berthImport, fillSource, type Source, tagHistory } from './helpers.js';

type Report = ImportReport & { changed: boolean };

let src: Source;
let berth: RegistryProcess;
let api: RegistryApi;
const skopeo = new Skopeo('import-check');

before(
  async () => {
    src = await fillSource();
    berth = await startBerth({ name: 'import-target' });
    api = new RegistryApi(berth.url);
  },
  { timeout: 10 * 60_000 },
);

after(async () => {
  await berth?.dispose();
  await src?.up.dispose();
});

async function importJson(root: string, args: string[]): Promise<{ status: number | null; report: Report; stderr: string }> {
  const r = await berthImport(root, ['--json', ...args]);
  let report: Report;
  try {
    report = JSON.parse(r.stdout) as Report;
  } catch {
    throw new Error(`berth import ${args.join(' ')} exited ${r.status}:\n${r.stderr}\n${r.stdout}`);
  }
  return { status: r.status, report, stderr: r.stderr };
}

/** The manifest digest a registry answers for repo:ref (skopeo inspect --raw, hashed). */
async function rawDigest(hostPort: string, ref: string): Promise<string> {
  const { createHash } = await import('node:crypto');
  const r = await skopeo.run(['inspect', '--raw', '--tls-verify=false', `docker://${hostPort}/${ref}`]);
  return `sha256:${createHash('sha256').update(r.stdout).digest('hex')}`;
}

function assertCorruptReported(report: Report): void {
  assert.deepEqual(
    report.corrupt.map((c) => ({ digest: c.digest, size: c.size, repositories: c.repositories, dependents: [...c.dependents].sort() })),
    [
      {
        digest: src.broken.layer,
        size: src.broken.layerSize,
        repositories: ['library/broken'],
        dependents: [`library/broken:1`, `library/broken@${src.broken.manifest}`].sort(),
      },
    ],
  );
}

function assertDanglingReported(report: Report): void {
  assert.deepEqual(report.dangling, [{ kind: 'layer', repository: 'library/dangling', digest: src.dangling.layer }]);
  assert.deepEqual(
    report.skipped.filter((s) => s.repository === 'library/dangling').map((s) => [s.what, s.reason]),
    [
      [`manifest ${src.dangling.manifest}`, `its blob ${src.dangling.layer} is not in the source`],
      ['tag 1', `its manifest ${src.dangling.manifest} is skipped (its blob ${src.dangling.layer} is not in the source)`],
    ],
  );
}

describe('berth import from a registry:2 directory', () => {
  let dry: Report;

  it('--dry-run counts what was pushed and finds the corrupt blob, the stale upload and the unreferenced bytes', { timeout: 5 * 60_000 }, async () => {
    const { status, report } = await importJson(berth.root, ['--dry-run', src.up.root]);
    dry = report;
    const e = src.expected;
    assert.equal(status, 3, 'problems found: exit status 3');
    assert.equal(report.dryRun, true);
    assert.equal(report.repositories.found, e.repositories);
    assert.equal(report.repositories.created, e.repositories);
    assert.equal(report.tags.found, e.tags);
    assert.equal(report.tags.imported, e.tags - 2, 'every tag but library/broken:1 and library/dangling:1');
    assert.equal(report.manifests.found, e.manifests);
    assert.equal(report.manifests.imported, e.manifests - 2, 'every manifest but the broken and the dangling one');
    assert.equal(report.blobs.found, e.blobs);
    assert.equal(report.blobs.bytes, e.bytes);
    assert.equal(report.blobs.imported, e.blobs - 1, 'every blob but the corrupt one');
    assert.equal(report.history.entries, e.history);
    assertCorruptReported(report);
    assertDanglingReported(report);
    assert.deepEqual(report.staleUploads, [{ repository: 'library/tiny', id: src.staleUpload }]);
    assert.equal(report.unreferenced.blobs, 1, 'the deleted manifest');
    assert.equal(report.changed, true);
    // Nothing was written.
    assert.equal(await api.manifestStatus('library/tiny', 'latest'), 404);
  });

  it('imports into the running server: every image pulls with the source digests, the corrupt one is left out', { timeout: 5 * 60_000 }, async () => {
    const { status, report } = await importJson(berth.root, [src.up.root]);
    assert.equal(status, 3);
    // The dry run said what the run did.
    for (const k of ['repositories', 'tags', 'manifests', 'history'] as const) assert.deepEqual(report[k], dry[k], k);
    assert.deepEqual({ ...report.blobs }, { ...dry.blobs });
    assertCorruptReported(report);
    assertDanglingReported(report);
    assert.equal(report.failures.length, 0, JSON.stringify(report.failures));

    for (const ref of src.refs) {
      const name = `${ref.repo}:${ref.tag}`;
      if (src.unimportable.includes(ref.repo)) {
        assert.equal(await api.manifestStatus(ref.repo, ref.tag), 404, name);
        continue;
      }
      assert.equal(await rawDigest(berth.hostPort, name), ref.digest, name);
      assert.equal(await rawDigest(src.up.hostPort, name), ref.digest, `${name} (source)`);
      // A full pull: every manifest and blob, verified by digest.
      await skopeo.run(['copy', '--quiet', '--all', '--src-tls-verify=false', `docker://${berth.hostPort}/${name}`, `oci:${tempDir('import-pull')}:x`]);
    }
    assert.equal(await api.blobStatus('library/broken', src.broken.layer), 404, 'the corrupt blob is not in Berth');
    assert.equal(await api.manifestStatus('library/broken', src.broken.manifest), 404);
    assert.equal(await api.manifestStatus('library/gone', src.gone.deleted), 404, 'the deleted manifest stays deleted');
    assert.equal(await api.manifestStatus('library/gone', src.gone.kept), 200);
    assert.deepEqual(await api.tags('library/moved'), ['v']);
  });

  it('the moved tag keeps its earlier digests in the tag history', async () => {
    assert.deepEqual(await tagHistory(berth.root, 'library/moved', 'v'), [
      [src.moved[1], src.moved[2], 'import:registry2'],
      [src.moved[0], src.moved[1], 'import:registry2'],
      [null, src.moved[0], 'import:registry2'],
    ]);
  });

  it('the referrers API lists the artifact (rebuilt from its subject)', async () => {
    const r = await api.req('GET', `/v2/library/tiny/referrers/${src.content.referrer.subject}`, {
      headers: { Accept: 'application/vnd.oci.image.index.v1+json' },
    });
    assert.equal(r.status, 200);
    const doc = JSON.parse(r.body.toString()) as { manifests: { digest: string; artifactType?: string }[] };
    assert.deepEqual(
      doc.manifests.map((m) => [m.digest, m.artifactType]),
      [[src.content.referrer.digest, src.content.referrer.artifactType]],
    );
  });

  it('a second run changes nothing and says so', { timeout: 5 * 60_000 }, async () => {
    const { status, report } = await importJson(berth.root, [src.up.root]);
    assert.equal(status, 3, 'the corrupt blob is still reported');
    assert.equal(report.changed, false);
    assert.equal(report.blobs.imported + report.blobs.linked + report.manifests.imported + report.tags.imported + report.history.entries, 0);
    assert.equal(report.tags.unchanged, src.expected.tags - 2);
    assert.equal(report.manifests.unchanged, src.expected.manifests - 2);
    assertCorruptReported(report);
    const text = await berthImport(berth.root, [src.up.root]);
    assert.match(text.stdout, /import: nothing changed: everything was already in Berth/);
    assert.match(text.stdout, new RegExp(`corrupt blob ${src.broken.layer}`));
    assert.match(text.stdout, new RegExp(`stale upload ${src.staleUpload} in library/tiny: ignored`));
    const again = await importJson(berth.root, ['--dry-run', src.up.root]);
    assert.equal(again.report.changed, false);
  });

  it('--link hard-links the blob files into a second Berth (same inode, same digests)', { timeout: 5 * 60_000 }, async () => {
    // The second Berth's root next to the source, so both are on one filesystem.
    const root = fs.mkdtempSync(path.join(path.dirname(src.up.root), 'import-link-'));
    try {
      const { status, report } = await importJson(root, ['--link', src.up.root]);
      assert.equal(status, 3);
      assert.equal(report.mode, 'link');
      assert.equal(report.blobs.imported, src.expected.blobs - 1);
      assertCorruptReported(report);
      const layer = src.content.multi.images[0].layers[0].slice(7);
      const from = fs.statSync(path.join(src.up.root, 'docker/registry/v2/blobs/sha256', layer.slice(0, 2), layer, 'data'));
      const to = fs.statSync(path.join(root, 'blobs/sha256', layer.slice(0, 2), layer));
      assert.equal(to.ino, from.ino, 'a hard link, not a copy');
      const second = await startBerth({ name: 'import-link', root });
      try {
        for (const ref of src.refs.filter((r) => !src.unimportable.includes(r.repo))) {
          const m = await new RegistryApi(second.url).getManifest(ref.repo, ref.tag, MANIFEST_ACCEPT);
          assert.equal(m.digest, ref.digest);
        }
        await skopeo.run([
          'copy',
          '--quiet',
          '--all',
          '--src-tls-verify=false',
          `docker://${second.hostPort}/library/multi:latest`,
          `oci:${tempDir('import-pull')}:x`,
        ]);
      } finally {
        await second.stop();
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
