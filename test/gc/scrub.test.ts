// `berth scrub` on the filesystem (SQLite, or PostgreSQL with BERTH_TEST_METADATA=postgres):
// objects deleted, truncated and overwritten on disk under a running server are reported by the
// function and by the command, by repository and tag, without a write; `--repair` makes HEAD
// answer 404, deletes corrupt bytes, removes manifests whose body is gone, and a push through
// the API then restores every pull byte for byte. A concurrent upload that puts an object back
// during the repair keeps its rows.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { scrub } from '../../src/gc/scrub.js';
import type { MetadataDb } from '../../src/metadata/database.js';
import { parseDigest } from '../../src/oci/digest.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { blobKey } from '../../src/storage/layout.js';
import {
  api,
  digestOf,
  MT,
  pushBlob,
  pushImage,
  pushManifest,
  removeDir,
  startServer,
  tempDir,
  type PushedImage,
  type TestServer,
} from '../helpers/api-server.js';
import { berthScrub, blobRowExists, openStores, rowCounts, scrubConfigFile, scrubEnv } from './scrub-helpers.js';

describe('berth scrub on the filesystem', () => {
  let s: TestServer;
  let storage: StorageDriver;
  let meta: MetadataDb;
  let cfg: string;
  let work: string;
  /** a/app:v1,latest: its first layer goes missing, its second is truncated. */
  let a: PushedImage;
  /** b/app:v1: its config is overwritten with other bytes of the same size (only --deep sees it). */
  let b: PushedImage;
  /** c/app:v1 and an index c/app:multi over it: the image manifest's body goes missing. */
  let c: PushedImage;
  let cIndex: string;
  /** d/app:v1: untouched. */
  let d: PushedImage;

  const file = (digest: string) => path.join(s.dir, blobKey(parseDigest(digest)));

  before(async () => {
    s = await startServer();
    ({ storage, meta } = await openStores(s.config));
    work = tempDir('berth-scrub-');
    cfg = scrubConfigFile(s.config, path.join(work, 'config.yml'));
    a = await pushImage(s.url, 'a/app', { ref: 'v1', layers: 2 });
    await pushManifest(s.url, 'a/app', a.doc, { ref: 'latest' });
    b = await pushImage(s.url, 'b/app', { ref: 'v1' });
    c = await pushImage(s.url, 'c/app', { ref: 'v1' });
    cIndex = (
      await pushManifest(
        s.url,
        'c/app',
        { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.ociManifest, digest: c.manifest.digest, size: c.manifest.bytes.length }] },
        { ref: 'multi' },
      )
    ).digest;
    d = await pushImage(s.url, 'd/app', { ref: 'v1' });
  });
  after(async () => {
    await meta?.close();
    await s?.close();
    if (s) removeDir(s.dir);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('finds nothing wrong in a healthy store: exit 0 and a summary line', async () => {
    const report = await scrub(storage, meta);
    // 4 configs, 5 layers, 4 image manifests and 1 index
    assert.equal(report.objects, 14);
    assert.deepEqual(report.problems, []);
    const r = await berthScrub(cfg);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^scrub: 14 objects \(.+\) checked in [\d.]+ s \(.+\/s\); no problems\n$/);
    // The same from REGISTRY_* variables alone, as `berth serve` takes them.
    const fromEnv = await berthScrub(null, [], scrubEnv(s.config));
    assert.equal(fromEnv.status, 0, fromEnv.stderr);
    assert.match(fromEnv.stdout, /^scrub: 14 objects .*; no problems\n$/);
  });

  it('reports missing, truncated and (with --deep) overwritten objects, and the manifests they break, without writing', async () => {
    rmSync(file(a.layers[0].digest));
    truncateSync(file(a.layers[1].digest), 10);
    const bad = Buffer.alloc(b.config.size, 'x');
    writeFileSync(file(b.config.digest), bad);
    rmSync(file(c.manifest.digest));
    const before = await rowCounts(meta);

    const shallow = await scrub(storage, meta);
    assert.deepEqual(
      shallow.problems.map((p) => [p.digest, p.object, p.kind]).sort(),
      [
        [a.layers[0].digest, 'blob', 'missing'],
        [a.layers[1].digest, 'blob', 'size'],
        [c.manifest.digest, 'manifest', 'missing'],
      ].sort(),
    );
    assert.equal(shallow.problems.find((p) => p.kind === 'size')?.actualSize, 10);
    assert.deepEqual(shallow.missing, { count: 2, bytes: a.layers[0].size + c.manifest.bytes.length });
    assert.deepEqual(shallow.corrupt, { count: 1, bytes: a.layers[1].size });
    assert.deepEqual(shallow.problems.find((p) => p.digest === a.layers[0].digest)?.repositories, ['a/app']);
    assert.deepEqual(
      shallow.unpullable.map((u) => [u.repository, u.digest, u.tags, u.lacks]),
      [
        ['a/app', a.manifest.digest, ['latest', 'v1'], [a.layers[0].digest, a.layers[1].digest].sort()],
        ['c/app', c.manifest.digest, ['v1'], [c.manifest.digest]],
        ['c/app', cIndex, ['multi'], [c.manifest.digest]],
      ].sort((x, y) => `${x[0]} ${x[1]}`.localeCompare(`${y[0]} ${y[1]}`)),
    );

    const deep = await scrub(storage, meta, { deep: true });
    const config = deep.problems.find((p) => p.digest === b.config.digest);
    assert.equal(config?.kind, 'digest');
    assert.equal(config?.actualDigest, digestOf(bad));
    assert.equal(deep.problems.length, 4);

    const r = await berthScrub(cfg, ['--deep']);
    assert.equal(r.status, 3, `exit 3 when problems were found; stderr: ${r.stderr}`);
    const lines = r.stdout.trimEnd().split('\n');
    assert.ok(lines.includes(`missing blob ${a.layers[0].digest} (${a.layers[0].size} B); linked in a/app`), r.stdout);
    assert.ok(
      lines.includes(`corrupt blob ${a.layers[1].digest} (${a.layers[1].size} B): 10 bytes stored, ${a.layers[1].size} recorded; linked in a/app`),
      r.stdout,
    );
    assert.ok(lines.includes(`corrupt blob ${b.config.digest} (${b.config.size} B): content hashes to ${digestOf(bad)}; linked in b/app`), r.stdout);
    assert.ok(lines.includes(`missing manifest ${c.manifest.digest} (${c.manifest.bytes.length} B)`), r.stdout);
    assert.ok(
      lines.includes(`unpullable a/app:latest,v1 (${a.manifest.digest}): lacks ${[a.layers[0].digest, a.layers[1].digest].sort().join(', ')}`),
      r.stdout,
    );
    assert.ok(lines.includes(`unpullable c/app:v1 (${c.manifest.digest}): lacks its own body`), r.stdout);
    assert.ok(lines.includes(`unpullable c/app:multi (${cIndex}): lacks ${c.manifest.digest}`), r.stdout);
    assert.match(lines.at(-1)!, /^scrub --deep: 14 objects .* 2 missing \(.+\), 2 corrupt \(.+\), 4 manifests in 3 repositories affected; run with --repair/);

    const json = await berthScrub(cfg, ['--json']);
    assert.equal(json.status, 3, json.stderr);
    const parsed = JSON.parse(json.stdout) as { objects: number; problems: { digest: string; kind: string }[]; unpullable: unknown[] };
    assert.equal(parsed.objects, 14);
    assert.deepEqual(parsed.problems.map((p) => p.digest).sort(), shallow.problems.map((p) => p.digest).sort());
    assert.equal(parsed.unpullable.length, 3);

    assert.deepEqual(await rowCounts(meta), before, 'a scrub without --repair writes nothing');
    assert.equal((await api(s.url, `/v2/a/app/blobs/${a.layers[0].digest}`, { method: 'HEAD' })).status, 200, 'HEAD still answers from the database');
  });

  it('--repair: HEAD answers 404, corrupt bytes go, a bodiless manifest goes with its tags; a push through the API restores every pull', async () => {
    const r = await berthScrub(cfg, ['--repair', '--deep']);
    assert.equal(r.status, 3, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.ok(
      lines.includes(`missing blob ${a.layers[0].digest} (${a.layers[0].size} B); linked in a/app; repaired: forgot the blob and 1 repository link`),
      r.stdout,
    );
    assert.ok(
      lines.includes(
        `corrupt blob ${b.config.digest} (${b.config.size} B): content hashes to ${digestOf(Buffer.alloc(b.config.size, 'x'))}; linked in b/app; repaired: deleted the corrupt bytes, forgot the blob and 1 repository link`,
      ),
      r.stdout,
    );
    assert.ok(
      lines.includes(
        `missing manifest ${c.manifest.digest} (${c.manifest.bytes.length} B); repaired: forgot the manifest, removed the manifest from c/app with 1 tag`,
      ),
      r.stdout,
    );
    assert.ok(lines.includes(`removed c/app:v1 (${c.manifest.digest}): its body was lost; push it again`), r.stdout);
    assert.match(lines.at(-1)!, /; repaired 4 \(1 manifests and 1 tags removed, 2 corrupt objects deleted\)$/);

    const head = async (repo: string, kind: 'blobs' | 'manifests', ref: string) => (await api(s.url, `/v2/${repo}/${kind}/${ref}`, { method: 'HEAD' })).status;
    for (const [repo, digest] of [
      ['a/app', a.layers[0].digest],
      ['a/app', a.layers[1].digest],
      ['b/app', b.config.digest],
    ]) {
      assert.equal(await head(repo, 'blobs', digest), 404, `HEAD ${repo} ${digest}`);
      assert.equal(await blobRowExists(meta, digest), false);
    }
    assert.equal((await storage.stat(blobKey(parseDigest(b.config.digest)))) === null, true, 'the corrupt bytes were deleted');
    assert.equal(await head('c/app', 'manifests', c.manifest.digest), 404);
    assert.equal(await head('c/app', 'manifests', 'v1'), 404);
    // Kept: a manifest whose layers are lost (it pulls again once they are pushed) and the untouched image.
    assert.equal(await head('a/app', 'manifests', 'v1'), 200);
    assert.equal(await head('c/app', 'manifests', 'multi'), 200);
    assert.equal(await head('d/app', 'blobs', d.layers[0].digest), 200);

    // The clients' push again: every blob HEAD said 404 for is uploaded, the manifests PUT.
    for (const blob of [a.layers[0], a.layers[1]]) await pushBlob(s.url, 'a/app', blob.bytes);
    await pushBlob(s.url, 'b/app', b.config.bytes);
    await pushManifest(s.url, 'c/app', c.doc, { ref: 'v1' });
    for (const [repo, img] of [
      ['a/app', a],
      ['b/app', b],
      ['c/app', c],
      ['d/app', d],
    ] as const) {
      const m = await api(s.url, `/v2/${repo}/manifests/v1`, { headers: { Accept: MT.ociManifest } });
      assert.equal(m.status, 200, `${repo}:v1`);
      assert.ok(Buffer.from(await m.arrayBuffer()).equals(img.manifest.bytes), `manifest bytes of ${repo}:v1`);
      for (const blob of [img.config, ...img.layers]) {
        const got = await api(s.url, `/v2/${repo}/blobs/${blob.digest}`);
        assert.equal(got.status, 200, `${repo} ${blob.digest}`);
        assert.ok(Buffer.from(await got.arrayBuffer()).equals(blob.bytes), `bytes of ${blob.digest} in ${repo}`);
      }
    }
    const again = await berthScrub(cfg, ['--deep']);
    assert.equal(again.status, 0, again.stdout);
    assert.match(again.stdout, /; no problems\n$/);
  });

  it('keeps the rows of an object a concurrent upload puts back while the repair runs', async () => {
    const img = await pushImage(s.url, 'e/app', { ref: 'v1' });
    const layer = img.layers[0];
    const key = blobKey(parseDigest(layer.digest));
    rmSync(file(layer.digest));
    // The upload lands after the scrub saw the object missing, just before the repair's transaction looks again.
    let inTransaction = false;
    let putBack = false;
    const watched: MetadataDb = {
      dialect: meta.dialect,
      db: meta.db,
      close: () => meta.close(),
      transaction: (fn, opts) =>
        meta.transaction(async (tx) => {
          inTransaction = true;
          try {
            return await fn(tx);
          } finally {
            inTransaction = false;
          }
        }, opts),
    };
    const racing = new Proxy(storage, {
      get(target, prop, receiver) {
        if (prop !== 'stat') return Reflect.get(target, prop, receiver);
        return async (k: string) => {
          if (k === key && inTransaction && !putBack) {
            putBack = true;
            mkdirSync(path.dirname(file(layer.digest)), { recursive: true });
            writeFileSync(file(layer.digest), layer.bytes);
          }
          return target.stat(k);
        };
      },
    }) as StorageDriver;
    const report = await scrub(racing, watched, { repair: true });
    assert.ok(putBack, 'the repair looked at storage inside its transaction');
    assert.deepEqual(
      report.problems.map((p) => [p.digest, p.repair]),
      [[layer.digest, { result: 'restored' }]],
    );
    assert.equal(report.repaired?.restored, 1);
    assert.equal(await blobRowExists(meta, layer.digest), true);
    const got = await api(s.url, `/v2/e/app/blobs/${layer.digest}`);
    assert.equal(got.status, 200);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(layer.bytes));
  });

  it('leaves alone what garbage collection is deleting and what a writer is putting into storage', async () => {
    const img = await pushImage(s.url, 'f/app', { ref: 'v1', layers: 2 });
    const [collected, written] = img.layers;
    rmSync(file(collected.digest));
    rmSync(file(written.digest));
    await meta.transaction(async (tx) => {
      await tx.updateTable('blobs').set({ state: 'deleting', deleting_since: Date.now() }).where('digest', '=', collected.digest).execute();
      await tx
        .insertInto('gc_blob_protections')
        .values({ token: 'scrub-test-writer', digest: written.digest, until: Date.now() + 60_000 })
        .execute();
    });
    const report = await scrub(storage, meta, { repair: true });
    assert.deepEqual(report.problems, []);
    assert.equal(await blobRowExists(meta, collected.digest), true, 'the collector removes its own rows');
    assert.equal(await blobRowExists(meta, written.digest), true);
    // Once the writer is done (here: gone without writing) the object counts again.
    await meta.transaction((tx) => tx.deleteFrom('gc_blob_protections').where('token', '=', 'scrub-test-writer').execute());
    const after = await scrub(storage, meta);
    assert.deepEqual(
      after.problems.map((p) => p.digest),
      [written.digest],
    );
    // Restore what the test broke, for the tests after it.
    await meta.transaction(async (tx) => {
      await tx.updateTable('blobs').set({ state: 'live', deleting_since: null }).where('digest', '=', collected.digest).execute();
    });
    await scrub(storage, meta, { repair: true });
    for (const l of img.layers) await pushBlob(s.url, 'f/app', l.bytes);
    assert.deepEqual((await scrub(storage, meta)).problems, []);
  });

  it('refuses to repair against a store that holds none of the objects (a wrong root) unless --force; bad options are one line', async () => {
    const empty = path.join(work, 'empty-root');
    mkdirSync(empty);
    const wrong = scrubConfigFile(s.config, path.join(work, 'wrong.yml'), { storageRoot: empty });
    const before = await rowCounts(meta);
    const r = await berthScrub(wrong, ['--repair']);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, /^berth: .*storage holds none of the first 21 of the 21 objects the database knows: check the storage configuration.*--force\n$/);
    assert.deepEqual(await rowCounts(meta), before, 'nothing forgotten');
    const plain = await berthScrub(wrong);
    assert.equal(plain.status, 3, 'a plain scrub still reports');
    assert.match(plain.stdout, /missing blob/);

    const forced = await berthScrub(wrong, ['--repair', '--force']);
    assert.equal(forced.status, 3, forced.stderr);
    assert.match(forced.stdout, /; repaired 21 \(/);
    assert.equal((await api(s.url, `/v2/d/app/blobs/${d.layers[0].digest}`, { method: 'HEAD' })).status, 404, 'forced: every object forgotten');

    const bad = await berthScrub(cfg, ['--concurrency', '0']);
    assert.equal(bad.status, 1);
    assert.equal(bad.stderr, 'berth: --concurrency must be a whole number from 1 to 1024, not 0\n');
  });
});
