// The crash-leftover sweep (src/gc/sweep.ts) on the filesystem and on Ceph RGW: bytes in storage with no
// database row, older than the grace period, are reported (dry run) or removed; everything a row names,
// upload sessions in progress and keys the layout did not make stay.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { after, before, describe, it } from 'node:test';
import { createStorage } from '../../src/app.js';
import { DEFAULT_SWEEP_GRACE_MS, LeftoverSweep, type Leftover } from '../../src/gc/sweep.js';
import { GcStore } from '../../src/metadata/gc-store.js';
import { RegistryStore } from '../../src/metadata/registry-store.js';
import { SweepStore } from '../../src/metadata/sweep-store.js';
import { parseDigest } from '../../src/oci/digest.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import type { S3Driver } from '../../src/storage/s3.js';
import { blobKey } from '../../src/storage/layout.js';
import type { BerthConfig, DeepPartial } from '../../src/config/index.js';
import {
  api,
  asBody,
  digestOf,
  MT,
  pushImage,
  putManifest,
  pushBlob,
  removeDir,
  startServer,
  withQuery,
  type PushedBlob,
  type TestServer,
} from '../helpers/api-server.js';
import { TestClock } from '../helpers/clock.js';
import { s3StorageOverrides } from '../helpers/s3.js';

const HOUR = 3_600_000;
const LEFTOVERS = 3000;

async function objects(storage: StorageDriver): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const o of storage.list('blobs/')) out.set(o.key, o.size);
  return out;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Makes one piece of the driver's debris; resolves to its bytes as the sweep counts them. */
type MakeDebris = (server: TestServer, storage: StorageDriver) => Promise<number>;

const fsDebris: MakeDebris = async (server) => {
  const dir = path.join(server.dir, 'blobs', 'sha256', 'ab');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${randomBytes(32).toString('hex')}.tmp-${randomBytes(6).toString('hex')}`), 'half a put');
  return 'half a put'.length;
};

const s3Debris: MakeDebris = async (server, storage) => {
  const s3 = server.config.storage.s3!;
  const key = `${s3.rootdirectory.replace(/^\/+|\/+$/g, '')}/blobs/sha256/cd/${randomBytes(32).toString('hex')}`;
  await (storage as S3Driver).client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key }));
  return 0; // a multipart upload's size is not listed
};

function sweepSuite(name: string, storageConfig: () => Promise<DeepPartial<BerthConfig>['storage'] | undefined>, makeDebris: MakeDebris): void {
  describe(`leftover sweep: ${name}`, () => {
    let server: TestServer;
    let storage: StorageDriver;
    let sweep: LeftoverSweep;
    const clock = new TestClock();
    before(async () => {
      const s = await storageConfig();
      server = await startServer({ exposeMeta: true, ...(s ? { config: { storage: s } } : {}) });
      storage = await createStorage(server.config);
      sweep = new LeftoverSweep(storage, new SweepStore(server.meta!), new GcStore(server.meta!), clock.now);
    });
    after(async () => {
      await server.close();
      removeDir(server.dir);
    });

    it('reports and then removes objects and upload sessions the database does not know, once older than the grace period', async () => {
      const repo = `sweep/${randomBytes(4).toString('hex')}`;
      // Known: a complete image.
      const image = await pushImage(server.url, repo, { ref: 'v1', layers: 2 });
      // A failed commit: a manifest naming a blob that was never pushed is refused after its body was stored.
      // Its digest was protected first, which records a blob row and a review: the collector's business.
      const missing = digestOf(randomBytes(32));
      const refused = await putManifest(server.url, repo, {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: image.doc.config,
        layers: [{ mediaType: MT.ociLayer, digest: missing, size: 32 }],
      });
      assert.equal(refused.status, 400, refused.text);
      // A crash between an upload's commit in storage and its database transaction.
      const orphan = randomBytes(3000);
      const orphanId = randomUUID();
      await storage.uploadCreate(orphanId);
      await storage.uploadAppend(orphanId, 0, Readable.from([orphan]));
      await storage.uploadCommit(orphanId, blobKey(parseDigest(digestOf(orphan))));
      // Upload sessions: one whose row was never written (a crash in between), one in progress.
      const abandoned = randomUUID();
      await storage.uploadCreate(abandoned);
      await storage.uploadAppend(abandoned, 0, Readable.from([Buffer.from('abandoned')]));
      const post = await api(server.url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' });
      assert.equal(post.status, 202);
      const location = new URL(post.headers.get('location')!, server.url).href;
      const half = randomBytes(100);
      const patch = await fetch(location, { method: 'PATCH', body: asBody(half), headers: { 'Content-Type': 'application/octet-stream' } });
      assert.equal(patch.status, 202, await patch.text());
      // Debris of the driver's own: a temporary file of a put (filesystem), a commit's copy left open (S3).
      const debris = await makeDebris(server, storage);
      // A key the layout did not make.
      await storage.put('blobs/sha256/ab/not-a-digest', Buffer.from('foreign'));

      const stored = await objects(storage);
      // The refused manifest's body is no leftover: its writer recorded the blob before storing it, so
      // garbage collection takes it (test/gc/reclaim.test.ts); only the crash leaves bytes no row names.
      const leftovers = [blobKey(parseDigest(digestOf(orphan)))];
      assert.ok(stored.has(blobKey(parseDigest(refused.digest))));
      for (const k of leftovers) assert.ok(stored.has(k), `${k} is in storage before the sweep`);

      // Young leftovers may be a commit in progress: nothing goes.
      const young = await sweep.run({ graceMs: DEFAULT_SWEEP_GRACE_MS });
      assert.deepEqual({ ...young, seconds: 0 }, { scanned: stored.size, blobs: 0, bytes: 0, uploads: 0, debris: 0, debrisBytes: 0, seconds: 0 });

      clock.advance(2 * HOUR);
      const found: Leftover[] = [];
      const dry = await sweep.run({ graceMs: DEFAULT_SWEEP_GRACE_MS, dryRun: true, onLeftover: (l) => found.push(l) });
      const leftoverBytes = orphan.length;
      assert.deepEqual(
        { ...dry, seconds: 0 },
        { scanned: stored.size, blobs: 1, bytes: leftoverBytes, uploads: 1, debris: 1, debrisBytes: debris, seconds: 0 },
      );
      assert.deepEqual(found.map((l) => (l.kind === 'blob' ? l.key : l.id)).sort(), [...leftovers, abandoned].sort());
      assert.deepEqual(await objects(storage), stored, 'a dry run removes nothing');
      assert.notEqual(await storage.uploadSize(abandoned), null);

      const done = await sweep.run({ graceMs: DEFAULT_SWEEP_GRACE_MS });
      assert.deepEqual(
        { ...done, seconds: 0 },
        { scanned: stored.size, blobs: 1, bytes: leftoverBytes, uploads: 1, debris: 1, debrisBytes: debris, seconds: 0 },
      );
      const kept = new Map(stored);
      for (const k of leftovers) kept.delete(k);
      assert.deepEqual(await objects(storage), kept);
      assert.equal(await storage.uploadSize(abandoned), null);

      // The image pulls completely, and the session in progress finishes.
      const m = await api(server.url, `/v2/${repo}/manifests/v1`, { headers: { Accept: MT.ociManifest } });
      assert.equal(m.status, 200);
      assert.deepEqual(Buffer.from(await m.arrayBuffer()), image.manifest.bytes);
      for (const b of [image.config, ...image.layers]) {
        const r = await api(server.url, `/v2/${repo}/blobs/${b.digest}`);
        assert.equal(r.status, 200);
        assert.equal(digestOf(Buffer.from(await r.arrayBuffer())), b.digest);
      }
      const rest = randomBytes(50);
      const next = new URL(patch.headers.get('location') ?? location, server.url).href;
      const put = await fetch(withQuery(next, { digest: digestOf(Buffer.concat([half, rest])) }), {
        method: 'PUT',
        body: asBody(rest),
        headers: { 'Content-Type': 'application/octet-stream' },
      });
      assert.equal(put.status, 201, await put.text());
      assert.equal((await readAll(await storage.read('blobs/sha256/ab/not-a-digest'))).toString(), 'foreign');

      // Nothing is left to find.
      const again = await sweep.run({ graceMs: DEFAULT_SWEEP_GRACE_MS });
      assert.equal(again.blobs + again.uploads + again.debris, 0);
    });

    it('leaves a leftover alone when a writer takes up its digest between the listing and the claim', async () => {
      const repo = `sweep/${randomBytes(4).toString('hex')}`;
      const body = randomBytes(2000);
      const digest = digestOf(body);
      await storage.put(blobKey(parseDigest(digest)), body); // bytes from a crash, no row
      clock.advance(2 * HOUR);
      // Once the sweep has found the digest unknown, a client uploads the same blob: the registry finds
      // the bytes in place and records the blob without writing them again.
      let pushed: PushedBlob | undefined;
      const racing = new (class extends SweepStore {
        override async unknownBlobs(digests: readonly string[]): Promise<string[]> {
          const unknown = await super.unknownBlobs(digests);
          if (unknown.includes(digest) && !pushed) pushed = await pushBlob(server.url, repo, body);
          return unknown;
        }
      })(server.meta!);
      const r = await new LeftoverSweep(storage, racing, new GcStore(server.meta!), clock.now).run({ graceMs: DEFAULT_SWEEP_GRACE_MS });
      assert.ok(pushed, 'the upload ran during the sweep');
      assert.equal(r.blobs, 0, 'nothing was swept');
      const got = await api(server.url, `/v2/${repo}/blobs/${digest}`);
      assert.equal(got.status, 200);
      assert.deepEqual(Buffer.from(await got.arrayBuffer()), body);
    });

    it(`removes ${LEFTOVERS.toLocaleString('en-US')} leftovers in batches and keeps every object a row names`, async () => {
      const store = new RegistryStore(server.meta!);
      const make = () => {
        const hex = randomBytes(32).toString('hex');
        return { digest: `sha256:${hex}`, key: blobKey(parseDigest(`sha256:${hex}`)) };
      };
      const leftovers = Array.from({ length: LEFTOVERS }, make);
      const known = Array.from({ length: 500 }, make);
      await pool([...leftovers, ...known], 64, (o) => storage.put(o.key, Buffer.from(o.digest)));
      await server.meta!.transaction(async (tx) => {
        for (const k of known) await store.recordBlob(tx, k.digest, k.digest.length, clock.now());
      });
      const before = await objects(storage);
      clock.advance(2 * HOUR);
      const t0 = performance.now();
      const r = await sweep.run({ graceMs: DEFAULT_SWEEP_GRACE_MS });
      const seconds = (performance.now() - t0) / 1000;
      console.log(`# ${name}: swept ${r.blobs} of ${r.scanned} objects in ${seconds.toFixed(2)} s (${Math.round(r.blobs / seconds)} objects/s)`);
      assert.equal(r.blobs, LEFTOVERS);
      assert.equal(r.bytes, LEFTOVERS * known[0].digest.length);
      const left = await objects(storage);
      for (const o of leftovers) assert.ok(!left.has(o.key), `${o.key} was swept`);
      for (const o of known) assert.ok(left.has(o.key), `${o.key} stays`);
      assert.equal(left.size, before.size - LEFTOVERS);
    });
  });
}

/** Runs fn over items with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

sweepSuite('filesystem', async () => undefined, fsDebris);
sweepSuite('s3 (Ceph RGW)', () => s3StorageOverrides(), s3Debris);
