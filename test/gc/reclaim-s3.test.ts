// Garbage collection gives the bucket back: on Ceph RGW, images with distinct layers pushed through the
// API and deleted leave the bucket as full as before until the delay has passed (the app's clock is
// advanced), then a collection brings the bytes in the bucket back to where they started. Measured from
// the bucket listing (ListObjectsV2 of the server's root directory, multipart uploads included), not
// from the database.
import assert from 'node:assert/strict';
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { after, before, describe, test } from 'node:test';
import { backgroundOf } from '../../src/app.js';
import { api, digestOf, expectError, MT, pushImage, removeDir, startServer, type TestServer } from '../helpers/api-server.js';
import { TestClock } from '../helpers/clock.js';
import { rgw, s3StorageOverrides } from '../helpers/s3.js';

const HOUR = 3600_000;
const clock = new TestClock();
let server: TestServer;
let client: S3Client;
let bucket: string;
let root: string;

before(async () => {
  const storage = await s3StorageOverrides();
  server = await startServer({ config: { storage: { ...storage, gc: { enabled: true, delay: HOUR } } }, parts: { now: clock.now } });
  const e = await rgw();
  bucket = e.bucket;
  root = `${server.config.storage.s3!.rootdirectory.replace(/^\/+|\/+$/g, '')}/`;
  client = new S3Client({
    region: e.region,
    endpoint: e.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: e.accessKey, secretAccessKey: e.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
});
after(async () => {
  await server?.close();
  if (server) removeDir(server.dir);
  client?.destroy();
});

/** Bytes of the objects under the server's root in the bucket, and its open multipart uploads. */
async function bucketBytes(): Promise<{ bytes: number; objects: number; multipart: number }> {
  let bytes = 0;
  let objects = 0;
  let token: string | undefined;
  do {
    const res = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: root, ContinuationToken: token }));
    for (const o of res.Contents ?? []) {
      bytes += o.Size ?? 0;
      objects++;
    }
    token = res.IsTruncated ? res.NextContinuationToken : undefined;
  } while (token);
  const mpu = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: root }));
  return { bytes, objects, multipart: mpu.Uploads?.length ?? 0 };
}

describe('garbage collection reclaims the bucket (Ceph RGW)', () => {
  test('five deleted images: nothing goes before the delay, then the bucket is back within a few KiB and the kept image pulls', async () => {
    const collector = backgroundOf(server.app).collector;
    const keep = await pushImage(server.url, 'reclaim/keep', { ref: 'v1', layers: 2 });
    const baseline = await bucketBytes();

    const images = [];
    for (let i = 0; i < 5; i++) images.push(await pushImage(server.url, 'reclaim/app', { ref: `v${i}`, layers: 3, layerSize: 256 * 1024 }));
    const pushed = images.reduce((n, im) => n + im.config.size + im.manifest.bytes.length + im.layers.reduce((m, l) => m + l.size, 0), 0);
    const grown = await bucketBytes();
    assert.equal(grown.bytes - baseline.bytes, pushed, 'the pushed bytes are in the bucket');

    for (const im of images) assert.equal((await api(server.url, `/v2/reclaim/app/manifests/${im.manifest.digest}`, { method: 'DELETE' })).status, 202);
    const early = await collector.collect();
    assert.deepEqual([early.blobs, early.bytes], [0, 0], 'within the delay nothing goes');
    assert.equal((await bucketBytes()).bytes, grown.bytes);

    clock.advance(HOUR + 1000);
    const r = await collector.collect();
    assert.equal(r.blobs, 5 * 5, 'each image: its manifest body, config and three layers');
    assert.equal(r.bytes, pushed);
    const end = await bucketBytes();
    assert.ok(Math.abs(end.bytes - baseline.bytes) <= 4096, `bucket holds ${end.bytes} bytes, ${baseline.bytes} before the pushes`);
    assert.equal(end.objects, baseline.objects, 'as many objects as before');
    assert.equal(end.multipart, 0, 'no multipart upload left open');

    for (const im of images) await expectError(await api(server.url, `/v2/reclaim/app/blobs/${im.layers[0].digest}`), 404, 'BLOB_UNKNOWN');
    const m = await api(server.url, `/v2/reclaim/keep/manifests/${keep.manifest.digest}`, { headers: { accept: MT.ociManifest } });
    assert.equal(m.status, 200);
    for (const b of [keep.config, ...keep.layers]) {
      const got = await api(server.url, `/v2/reclaim/keep/blobs/${b.digest}`);
      assert.equal(got.status, 200);
      assert.equal(digestOf(Buffer.from(await got.arrayBuffer())), b.digest);
    }
  });
});
