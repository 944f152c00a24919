// Blob reads (GET/HEAD, ranges) and deletes: /v2/<name>/blobs/<digest>.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  MT,
  api,
  digestOf,
  expectError,
  pushBlob,
  pushImage,
  putManifest,
  randomBlob,
  removeDir,
  startServer,
  tempDir,
  type PushedBlob,
  type PushedImage,
  type TestServer,
} from '../helpers/api-server.js';
import { freshSchema } from '../helpers/postgres.js';
import { parseByteranges } from '../helpers/api-multipart.js';

let srv: TestServer;
let blob: PushedBlob;
const REPO = 'blobs/test';

before(async () => {
  srv = await startServer();
  blob = await pushBlob(srv.url, REPO, randomBlob(1000));
});
after(async () => {
  await srv.close();
  removeDir(srv.dir);
});

const blobPath = (digest: string, repo = REPO) => `/v2/${repo}/blobs/${digest}`;

describe('blob GET and HEAD', () => {
  it('GET returns the exact bytes with digest, length and type headers', async () => {
    const res = await api(srv.url, blobPath(blob.digest));
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.ok(body.equals(blob.bytes), 'body must equal the uploaded bytes');
    assert.equal(digestOf(body), blob.digest);
    assert.equal(res.headers.get('docker-content-digest'), blob.digest);
    assert.equal(res.headers.get('content-length'), '1000');
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
  });

  it('HEAD returns the headers without a body', async () => {
    const res = await api(srv.url, blobPath(blob.digest), { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), blob.digest);
    assert.equal(res.headers.get('content-length'), '1000');
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  it('a larger blob (3 MiB) round-trips byte for byte', async () => {
    const big = await pushBlob(srv.url, REPO, randomBlob(3 * 1024 * 1024 + 7));
    const res = await api(srv.url, blobPath(big.digest));
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body.length, big.size);
    assert.equal(digestOf(body), big.digest);
  });

  it('an empty blob has Content-Length 0', async () => {
    const empty = await pushBlob(srv.url, REPO, Buffer.alloc(0));
    assert.equal(empty.digest, 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const res = await api(srv.url, blobPath(empty.digest));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '0');
    assert.equal((await res.arrayBuffer()).byteLength, 0);
  });

  it('a sha512 blob is served under its sha512 digest', async () => {
    const b = await pushBlob(srv.url, REPO, randomBlob(300), 'sha512');
    assert.match(b.digest, /^sha512:[0-9a-f]{128}$/);
    const res = await api(srv.url, blobPath(b.digest));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), b.digest);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(b.bytes));
  });

  it('an unknown blob: GET 404 BLOB_UNKNOWN, HEAD 404 without body', async () => {
    const unknown = digestOf('never pushed');
    await expectError(await api(srv.url, blobPath(unknown)), 404, 'BLOB_UNKNOWN');
    const head = await api(srv.url, blobPath(unknown), { method: 'HEAD' });
    assert.equal(head.status, 404);
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });

  it('a blob is not readable from a repository that never uploaded or mounted it', async () => {
    await expectError(await api(srv.url, blobPath(blob.digest, 'other/repo')), 404, 'BLOB_UNKNOWN');
    const head = await api(srv.url, blobPath(blob.digest, 'other/repo'), { method: 'HEAD' });
    assert.equal(head.status, 404);
    await head.arrayBuffer();
  });
});

describe('blob ranges', () => {
  const get = (range: string) => api(srv.url, blobPath(blob.digest), { headers: { Range: range } });

  it('a single range answers 206 with Content-Range and exactly those bytes', async () => {
    const res = await get('bytes=10-19');
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), 'bytes 10-19/1000');
    assert.equal(res.headers.get('content-length'), '10');
    const body = Buffer.from(await res.arrayBuffer());
    assert.ok(body.equals(blob.bytes.subarray(10, 20)));
  });

  it('an open-ended range runs to the end of the blob', async () => {
    const res = await get('bytes=990-');
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), 'bytes 990-999/1000');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob.bytes.subarray(990)));
  });

  it('a suffix range returns the last N bytes', async () => {
    const res = await get('bytes=-7');
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), 'bytes 993-999/1000');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob.bytes.subarray(993)));
  });

  it('a range past the end is clipped to the blob', async () => {
    const res = await get('bytes=995-5000');
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), 'bytes 995-999/1000');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob.bytes.subarray(995)));
  });

  it('the whole blob as a range is still 206', async () => {
    const res = await get('bytes=0-999');
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), 'bytes 0-999/1000');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob.bytes));
  });

  it('several ranges answer 206 multipart/byteranges whose parts hold the right bytes', async () => {
    const res = await get('bytes=0-9, 100-199, -10');
    assert.equal(res.status, 206);
    const type = res.headers.get('content-type') ?? '';
    assert.match(type, /^multipart\/byteranges;\s*boundary=/);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(Number(res.headers.get('content-length')), body.length, 'Content-Length of the multipart body');
    const parts = parseByteranges(type, body);
    assert.deepEqual(
      parts.map((p) => [p.start, p.end, p.total]),
      [
        [0, 9, 1000],
        [100, 199, 1000],
        [990, 999, 1000],
      ],
    );
    for (const p of parts) {
      assert.ok(p.body.equals(blob.bytes.subarray(p.start, p.end + 1)), `bytes of part ${p.start}-${p.end}`);
    }
  });

  it('a range starting at or after the end answers 416 with Content-Range: bytes */size', async () => {
    for (const range of ['bytes=1000-1005', 'bytes=5000-']) {
      const res = await get(range);
      assert.equal(res.headers.get('content-range'), 'bytes */1000', range);
      await expectError(res, 416, undefined, range);
    }
  });

  it('a range on an empty blob answers 416 with bytes */0', async () => {
    const empty = await pushBlob(srv.url, REPO, Buffer.alloc(0));
    const res = await api(srv.url, blobPath(empty.digest), { headers: { Range: 'bytes=0-0' } });
    assert.equal(res.headers.get('content-range'), 'bytes */0');
    await expectError(res, 416);
  });

  it('HEAD ignores Range and reports the whole blob', async () => {
    const res = await api(srv.url, blobPath(blob.digest), { method: 'HEAD', headers: { Range: 'bytes=0-9' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '1000');
    await res.arrayBuffer();
  });

  it('an unknown range unit is ignored (200, whole body)', async () => {
    const res = await get('items=0-5');
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob.bytes));
  });
});

describe('blob DELETE', () => {
  it('answers 202, then the blob is gone (404 BLOB_UNKNOWN) and a second DELETE is 404', async () => {
    const b = await pushBlob(srv.url, 'del/one', randomBlob(50));
    const del = await api(srv.url, blobPath(b.digest, 'del/one'), { method: 'DELETE' });
    assert.equal(del.status, 202, await del.text());
    await expectError(await api(srv.url, blobPath(b.digest, 'del/one')), 404, 'BLOB_UNKNOWN');
    const head = await api(srv.url, blobPath(b.digest, 'del/one'), { method: 'HEAD' });
    assert.equal(head.status, 404);
    await head.arrayBuffer();
    await expectError(await api(srv.url, blobPath(b.digest, 'del/one'), { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
  });

  it('deleting from one repository leaves the blob readable in another that has it', async () => {
    const bytes = randomBlob(80);
    const a = await pushBlob(srv.url, 'del/a', bytes);
    await pushBlob(srv.url, 'del/b', bytes);
    const del = await api(srv.url, blobPath(a.digest, 'del/a'), { method: 'DELETE' });
    assert.equal(del.status, 202);
    await expectError(await api(srv.url, blobPath(a.digest, 'del/a')), 404, 'BLOB_UNKNOWN');
    const res = await api(srv.url, blobPath(a.digest, 'del/b'));
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));
  });

  /** The manifest and every blob it references are served, byte for byte. */
  async function assertWhole(base: string, repo: string, img: PushedImage, ref = img.manifest.digest): Promise<void> {
    const m = await api(base, `/v2/${repo}/manifests/${ref}`, { headers: { Accept: MT.ociManifest } });
    assert.equal(m.status, 200, `manifest ${repo}:${ref}`);
    assert.ok(Buffer.from(await m.arrayBuffer()).equals(img.manifest.bytes));
    for (const b of [img.config, ...img.layers]) {
      const res = await api(base, blobPath(b.digest, repo));
      assert.equal(res.status, 200, `blob ${b.digest} of ${repo}:${ref}`);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(b.bytes));
    }
  }

  it('a layer or config that a manifest uses answers 409 DENIED naming the manifest, tagged or not; the image stays whole', async () => {
    const tagged = await pushImage(srv.url, 'del/used', { ref: 'v1', layers: 2 });
    const untagged = await pushImage(srv.url, 'del/used');
    for (const [img, b] of [
      [tagged, tagged.layers[1]],
      [tagged, tagged.config],
      [untagged, untagged.layers[0]],
    ] as const) {
      const body = await expectError(await api(srv.url, blobPath(b.digest, 'del/used'), { method: 'DELETE' }), 409, 'DENIED', b.digest);
      assert.match(body.errors[0].message, new RegExp(`in use by manifest ${img.manifest.digest}`));
      assert.deepEqual(body.errors[0].detail, { digest: b.digest, manifests: [img.manifest.digest] });
    }
    await assertWhole(srv.url, 'del/used', tagged, 'v1');
    await assertWhole(srv.url, 'del/used', untagged);
  });

  it('a blob that several manifests use lists them; once they are deleted the blob can be (202)', async () => {
    const first = await pushImage(srv.url, 'del/shared', { ref: 'a' });
    // A second manifest over the same layer, with another config.
    const cfg = await pushBlob(srv.url, 'del/shared', '{"second":true}');
    const doc = { ...first.doc, config: { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size } };
    const second = await putManifest(srv.url, 'del/shared', doc, { ref: 'b' });
    assert.equal(second.status, 201, second.text);
    const layer = first.layers[0].digest;
    const body = await expectError(await api(srv.url, blobPath(layer, 'del/shared'), { method: 'DELETE' }), 409, 'DENIED');
    assert.deepEqual(body.errors[0].detail, { digest: layer, manifests: [first.manifest.digest, second.digest] });
    // Deleting a tag is not enough: the manifest can still be pulled by digest.
    assert.equal((await api(srv.url, '/v2/del/shared/manifests/a', { method: 'DELETE' })).status, 202);
    await expectError(await api(srv.url, blobPath(layer, 'del/shared'), { method: 'DELETE' }), 409, 'DENIED');
    for (const m of [first.manifest.digest, second.digest])
      assert.equal((await api(srv.url, `/v2/del/shared/manifests/${m}`, { method: 'DELETE' })).status, 202);
    assert.equal((await api(srv.url, blobPath(layer, 'del/shared'), { method: 'DELETE' })).status, 202);
    await expectError(await api(srv.url, blobPath(layer, 'del/shared')), 404, 'BLOB_UNKNOWN');
  });

  it('a manifest in another repository does not hold a blob here', async () => {
    const img = await pushImage(srv.url, 'del/holder', { ref: 'v1' });
    await pushBlob(srv.url, 'del/other', img.layers[0].bytes);
    assert.equal((await api(srv.url, blobPath(img.layers[0].digest, 'del/other'), { method: 'DELETE' })).status, 202);
    await assertWhole(srv.url, 'del/holder', img, 'v1');
  });

  it('two replicas on one PostgreSQL database: a manifest PUT racing a DELETE of its layer never leaves the manifest without it', async () => {
    const schema = await freshSchema('blobrace');
    const dir = tempDir();
    // Both replicas share the storage directory and the database, as behind a load balancer.
    const config = { metadata: { postgres: { url: schema.url, poolsize: 4 } } };
    const r1 = await startServer({ dir, config });
    const r2 = await startServer({ dir, config });
    const wins = { put: 0, delete: 0 };
    try {
      for (let round = 0; round < 40; round++) {
        const repo = `race/r${round}`;
        const [config, layer] = [await pushBlob(r1.url, repo, `{"round":${round}}`), await pushBlob(r2.url, repo, randomBlob(100))];
        const doc = {
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          config: { mediaType: MT.ociConfig, digest: config.digest, size: config.size },
          layers: [{ mediaType: MT.ociLayer, digest: layer.digest, size: layer.size }],
        };
        const [pusher, deleter] = round % 2 ? [r1, r2] : [r2, r1];
        const [put, del] = await Promise.all([
          putManifest(pusher.url, repo, doc, { ref: 'latest' }),
          // The PUT has more to do before its transaction; starting the DELETE 0-39 ms later makes the two meet in every order.
          new Promise((r) => setTimeout(r, round))
            .then(() => api(deleter.url, blobPath(layer.digest, repo), { method: 'DELETE' }))
            .then(async (r) => ({ status: r.status, text: await r.text() })),
        ]);
        const where = `round ${round}: PUT ${put.status} ${put.text}, DELETE ${del.status} ${del.text}`;
        if (put.status === 201) {
          assert.equal(del.status, 409, where);
          wins.put++;
          // Acknowledged: the manifest and both blobs are readable from either replica.
          for (const r of [r1, r2]) {
            await assertWhole(r.url, repo, { config, layers: [layer], manifest: put, doc }, 'latest');
          }
        } else {
          assert.equal(put.status, 400, where);
          assert.equal(JSON.parse(put.text).errors[0].code, 'MANIFEST_BLOB_UNKNOWN', where);
          assert.equal(del.status, 202, where);
          wins.delete++;
          await expectError(await api(r1.url, `/v2/${repo}/manifests/latest`), 404, 'MANIFEST_UNKNOWN');
        }
      }
    } finally {
      await r1.close();
      await r2.close();
      removeDir(dir);
      await schema.drop();
    }
    console.log(`# blob delete vs manifest push on two replicas, 40 rounds: push won ${wins.put}, delete won ${wins.delete}`);
  });

  it('an unknown blob answers 404 BLOB_UNKNOWN', async () => {
    await expectError(await api(srv.url, blobPath(digestOf('nothing'), REPO), { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
  });

  it('with deletes disabled answers 405 UNSUPPORTED and keeps the blob', async () => {
    const ro = await startServer({ config: { storage: { delete: { enabled: false } } } });
    try {
      const b = await pushBlob(ro.url, 'nodel/repo', randomBlob(40));
      await expectError(await api(ro.url, blobPath(b.digest, 'nodel/repo'), { method: 'DELETE' }), 405, 'UNSUPPORTED');
      const res = await api(ro.url, blobPath(b.digest, 'nodel/repo'));
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(b.bytes));
    } finally {
      await ro.close();
      removeDir(ro.dir);
    }
  });
});
