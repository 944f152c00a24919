// Blob reads (GET/HEAD, ranges) and deletes: /v2/<name>/blobs/<digest>.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { api, digestOf, expectError, pushBlob, randomBlob, removeDir, startServer, type PushedBlob, type TestServer } from '../helpers/api-server.js';
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
