// The registry API end to end on S3 storage (Ceph RGW from scripts/start-ceph-rgw.sh): push,
// pull, chunked uploads that move between two server instances ("replicas" sharing the bucket
// and the database), mounts, ranges, deletes, and presigned redirects of blob GETs.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  api,
  asBody,
  digestOf,
  MT,
  pushBlob,
  pushImage,
  rangeEnd,
  removeDir,
  startServer,
  tempDir,
  withQuery,
  type TestServer,
} from '../helpers/api-server.js';
import { s3StorageOverrides } from '../helpers/s3.js';

const MiB = 1024 * 1024;
const CHUNK = 5 * MiB;

describe('registry API on S3 (Ceph RGW)', () => {
  let dir: string;
  let a: TestServer; // replica A
  let b: TestServer; // replica B: same bucket root, same database
  let redirecting: TestServer;

  before(async () => {
    dir = tempDir('berth-api-s3-');
    const storage = await s3StorageOverrides({ chunksize: CHUNK });
    a = await startServer({ dir, config: { storage } });
    b = await startServer({ dir, config: { storage } });
    redirecting = await startServer({ dir, config: { storage: { ...storage, redirect: { disable: false } } } });
  });
  after(async () => {
    for (const s of [a, b, redirecting]) await s?.close();
    removeDir(dir);
  });

  it('advertises the part size as OCI-Chunk-Min-Length', async () => {
    const res = await api(a.url, '/v2/s3/chunk/blobs/uploads/', { method: 'POST' });
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('oci-chunk-min-length'), String(CHUNK));
  });

  it('pushes and pulls an image, and HEADs its blobs', async () => {
    const img = await pushImage(a.url, 's3/image', { ref: 'v1', layers: 2 });
    const m = await api(b.url, '/v2/s3/image/manifests/v1', { headers: { Accept: MT.ociManifest } });
    assert.equal(m.status, 200);
    assert.equal(digestOf(Buffer.from(await m.arrayBuffer())), img.manifest.digest);
    for (const blob of [img.config, ...img.layers]) {
      const got = await api(b.url, `/v2/s3/image/blobs/${blob.digest}`);
      assert.equal(got.status, 200);
      assert.ok(Buffer.from(await got.arrayBuffer()).equals(blob.bytes));
      const head = await api(a.url, `/v2/s3/image/blobs/${blob.digest}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-length'), String(blob.size));
    }
  });

  it('continues a chunked upload across replicas: PATCHes alternate, the PUT lands on the other', async () => {
    const data = randomBytes(3 * CHUNK + 12345);
    const digest = digestOf(data);
    const start = await api(a.url, '/v2/s3/chunked/blobs/uploads/', { method: 'POST' });
    assert.equal(start.status, 202);
    let location = new URL(start.headers.get('location')!, a.url);
    // chunk sizes: one part, a short one (kept as a tail), one that completes a part, the rest with the PUT
    const cuts = [0, CHUNK, CHUNK + 1000, 2 * CHUNK + 5000, 3 * CHUNK];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const server = [a, b][i % 2];
      const url = new URL(location.pathname + location.search, server.url);
      const chunk = data.subarray(cuts[i], cuts[i + 1]);
      const res = await fetch(url, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${cuts[i]}-${cuts[i + 1] - 1}`, 'Content-Length': String(chunk.length) },
        body: asBody(chunk),
      });
      assert.equal(res.status, 202, await res.text());
      assert.equal(rangeEnd(res.headers.get('range')), cuts[i + 1] - 1);
      location = new URL(res.headers.get('location')!, server.url);
      const status = await api([b, a][i % 2].url, location.pathname + location.search);
      assert.equal(status.status, 204);
      assert.equal(rangeEnd(status.headers.get('range')), cuts[i + 1] - 1, 'the other replica sees the same size');
    }
    const last = data.subarray(3 * CHUNK);
    const put = await fetch(withQuery(new URL(location.pathname + location.search, b.url).href, { digest }), {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${3 * CHUNK}-${data.length - 1}`, 'Content-Length': String(last.length) },
      body: asBody(last),
    });
    assert.equal(put.status, 201, await put.text());
    const got = await api(a.url, `/v2/s3/chunked/blobs/${digest}`);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
  });

  it('streams one PATCH on A and commits with an empty PUT on B (hash re-read there)', async () => {
    const data = randomBytes(2 * CHUNK + 77);
    const digest = digestOf(data);
    const start = await api(a.url, '/v2/s3/stream/blobs/uploads/', { method: 'POST' });
    const loc = new URL(start.headers.get('location')!, a.url);
    const patch = await fetch(new URL(loc.pathname + loc.search, a.url), { method: 'PATCH', body: asBody(data) });
    assert.equal(patch.status, 202);
    const done = new URL(patch.headers.get('location')!, a.url);
    const bad = await fetch(withQuery(new URL(done.pathname + done.search, b.url).href, { digest: digestOf('other') }), { method: 'PUT' });
    assert.equal(bad.status, 400, 'a wrong digest is refused on the replica that re-reads the bytes');
    const start2 = await api(b.url, '/v2/s3/stream/blobs/uploads/', { method: 'POST' });
    const loc2 = new URL(start2.headers.get('location')!, b.url);
    const patch2 = await fetch(new URL(loc2.pathname + loc2.search, b.url), { method: 'PATCH', body: asBody(data) });
    const done2 = new URL(patch2.headers.get('location')!, b.url);
    const put = await fetch(withQuery(new URL(done2.pathname + done2.search, a.url).href, { digest }), { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    const got = await api(b.url, `/v2/s3/stream/blobs/${digest}`);
    assert.equal(
      createHash('sha256')
        .update(Buffer.from(await got.arrayBuffer()))
        .digest('hex'),
      digest.slice(7),
    );
  });

  it('mounts a blob from another repository and deletes links', async () => {
    const blob = await pushBlob(a.url, 's3/source', randomBytes(1000));
    const mount = await api(b.url, `/v2/s3/target/blobs/uploads/?mount=${blob.digest}&from=s3/source`, { method: 'POST' });
    assert.equal(mount.status, 201);
    assert.equal((await api(a.url, `/v2/s3/target/blobs/${blob.digest}`, { method: 'HEAD' })).status, 200);
    assert.equal((await api(a.url, `/v2/s3/target/blobs/${blob.digest}`, { method: 'DELETE' })).status, 202);
    assert.equal((await api(b.url, `/v2/s3/target/blobs/${blob.digest}`, { method: 'HEAD' })).status, 404);
    assert.equal((await api(b.url, `/v2/s3/source/blobs/${blob.digest}`, { method: 'HEAD' })).status, 200);
  });

  it('answers single and multiple byte ranges', async () => {
    const blob = await pushBlob(a.url, 's3/range', randomBytes(100_000));
    const one = await api(b.url, `/v2/s3/range/blobs/${blob.digest}`, { headers: { Range: 'bytes=1000-1999' } });
    assert.equal(one.status, 206);
    assert.ok(Buffer.from(await one.arrayBuffer()).equals(blob.bytes.subarray(1000, 2000)));
    const multi = await api(b.url, `/v2/s3/range/blobs/${blob.digest}`, { headers: { Range: 'bytes=0-9,99990-99999' } });
    assert.equal(multi.status, 206);
    const body = Buffer.from(await multi.arrayBuffer());
    assert.ok(body.includes(blob.bytes.subarray(0, 10)) && body.includes(blob.bytes.subarray(99_990)));
  });

  it('redirects blob GETs to presigned URLs when enabled; HEAD and multi-range stay local', async () => {
    const blob = await pushBlob(redirecting.url, 's3/redirect', randomBytes(50_000));
    const raw = await api(redirecting.url, `/v2/s3/redirect/blobs/${blob.digest}`, { redirect: 'manual' });
    assert.equal(raw.status, 307);
    const location = raw.headers.get('location')!;
    assert.match(location, /X-Amz-Signature=/);
    assert.equal(raw.headers.get('cache-control'), 'no-store');
    // clients follow the redirect (fetch does, as docker, containerd and c/image do)
    const followed = await api(redirecting.url, `/v2/s3/redirect/blobs/${blob.digest}`);
    assert.equal(followed.status, 200);
    assert.ok(Buffer.from(await followed.arrayBuffer()).equals(blob.bytes));
    const ranged = await api(redirecting.url, `/v2/s3/redirect/blobs/${blob.digest}`, { headers: { Range: 'bytes=10-19' } });
    assert.equal(ranged.status, 206);
    assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(blob.bytes.subarray(10, 20)));
    const head = await api(redirecting.url, `/v2/s3/redirect/blobs/${blob.digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(blob.size));
    const multi = await api(redirecting.url, `/v2/s3/redirect/blobs/${blob.digest}`, { headers: { Range: 'bytes=0-1,5-6' }, redirect: 'manual' });
    assert.equal(multi.status, 206);
    // a blob the repository may not read is not redirected
    assert.equal((await api(redirecting.url, `/v2/s3/other/blobs/${blob.digest}`, { redirect: 'manual' })).status, 404);
    // without redirects the same blob is served by the registry itself
    const local = await api(a.url, `/v2/s3/redirect/blobs/${blob.digest}`, { redirect: 'manual' });
    assert.equal(local.status, 200);
  });
});
