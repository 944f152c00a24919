// Blob uploads: /v2/<name>/blobs/uploads/ (POST, mounts, monolithic) and the session
// URL (PATCH streamed or chunked, GET status, PUT to finish, DELETE to cancel).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openMetadata } from '../../src/metadata/open.js';
import {
  api,
  asBody,
  digestOf,
  expectError,
  pushBlob,
  randomBlob,
  rangeEnd,
  removeDir,
  startServer,
  tempDir,
  withQuery,
  serverPerFile,
} from '../helpers/api-server.js';

const srv = serverPerFile();

const OCTET = { 'Content-Type': 'application/octet-stream' };

/** POST a new session; asserts 202 and returns the absolute upload URL. */
async function startUpload(base: string, repo: string): Promise<string> {
  const res = await api(base, `/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(res.status, 202, await res.text());
  const location = res.headers.get('location');
  assert.ok(location, 'Location');
  return new URL(location, base).href;
}

/** The session URL on another server (same path and query, other host). */
function rebase(location: string, base: string): string {
  const u = new URL(location);
  return base + u.pathname + u.search;
}

async function headStatus(base: string, repo: string, digest: string): Promise<number> {
  const res = await api(base, `/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
  await res.arrayBuffer();
  return res.status;
}

async function getBlobBytes(base: string, repo: string, digest: string): Promise<Buffer> {
  const res = await api(base, `/v2/${repo}/blobs/${digest}`);
  assert.equal(res.status, 200, `GET blob ${digest} in ${repo}`);
  return Buffer.from(await res.arrayBuffer());
}

function patch(location: string, body: Buffer, range?: string): Promise<Response> {
  return fetch(location, { method: 'PATCH', headers: { ...OCTET, ...(range ? { 'Content-Range': range } : {}) }, body: asBody(body) });
}

function finish(location: string, digest: string, body?: Buffer, range?: string): Promise<Response> {
  return fetch(withQuery(location, { digest }), {
    method: 'PUT',
    headers: { ...OCTET, ...(range ? { 'Content-Range': range } : {}) },
    ...(body ? { body: asBody(body) } : {}),
  });
}

async function status(location: string): Promise<Response> {
  return fetch(location);
}

describe('starting an upload', () => {
  it('POST answers 202 with an absolute Location, Range 0-0 and Docker-Upload-UUID', async () => {
    const res = await api(srv.url, '/v2/up/start/blobs/uploads/', { method: 'POST' });
    assert.equal(res.status, 202);
    const location = res.headers.get('location') ?? '';
    assert.ok(location.startsWith(`${srv.url}/v2/up/start/blobs/uploads/`), `absolute Location, got ${location}`);
    assert.doesNotThrow(() => new URL(location));
    assert.equal(res.headers.get('range'), '0-0');
    const uuid = res.headers.get('docker-upload-uuid');
    assert.ok(uuid, 'Docker-Upload-UUID');
    assert.ok(location.includes(uuid), 'Location names the session');
    assert.equal(res.headers.get('content-length'), '0');
    await res.arrayBuffer();
  });

  it('two sessions get different URLs', async () => {
    const a = await startUpload(srv.url, 'up/start');
    const b = await startUpload(srv.url, 'up/start');
    assert.notEqual(a, b);
  });

  it('a new session reports 204 with Range 0-0 on GET', async () => {
    const loc = await startUpload(srv.url, 'up/start');
    const res = await status(loc);
    assert.equal(res.status, 204);
    assert.equal(rangeEnd(res.headers.get('range')), 0);
    assert.ok(res.headers.get('location'));
    assert.ok(res.headers.get('docker-upload-uuid'));
  });

  it('monolithic POST ?digest= with the body answers 201 and stores the bytes', async () => {
    const bytes = randomBlob(777);
    const digest = digestOf(bytes);
    const res = await api(srv.url, `/v2/up/mono/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: OCTET, body: asBody(bytes) });
    assert.equal(res.status, 201, await res.text());
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(res.headers.get('location'), `${srv.url}/v2/up/mono/blobs/${digest}`);
    assert.ok((await getBlobBytes(srv.url, 'up/mono', digest)).equals(bytes));
  });

  it('monolithic POST with a wrong digest answers 400 DIGEST_INVALID and stores nothing', async () => {
    const bytes = randomBlob(100);
    const wrong = digestOf('something else');
    const res = await api(srv.url, `/v2/up/mono/blobs/uploads/?digest=${wrong}`, { method: 'POST', headers: OCTET, body: asBody(bytes) });
    await expectError(res, 400, 'DIGEST_INVALID');
    assert.equal(await headStatus(srv.url, 'up/mono', wrong), 404);
    assert.equal(await headStatus(srv.url, 'up/mono', digestOf(bytes)), 404);
  });

  it('monolithic POST of an empty blob without a body answers 201', async () => {
    const digest = digestOf('');
    const res = await api(srv.url, `/v2/up/mono/blobs/uploads/?digest=${digest}`, { method: 'POST' });
    assert.equal(res.status, 201, await res.text());
    assert.equal((await getBlobBytes(srv.url, 'up/mono', digest)).length, 0);
  });
});

describe('cross-repository mount', () => {
  it('answers 201 when the source has the blob; the target can then read it', async () => {
    const b = await pushBlob(srv.url, 'mnt/source', randomBlob(321));
    assert.equal(await headStatus(srv.url, 'mnt/target', b.digest), 404, 'not readable before the mount');
    const res = await api(srv.url, `/v2/mnt/target/blobs/uploads/?mount=${b.digest}&from=mnt/source`, { method: 'POST' });
    assert.equal(res.status, 201, await res.text());
    assert.equal(res.headers.get('docker-content-digest'), b.digest);
    assert.equal(res.headers.get('location'), `${srv.url}/v2/mnt/target/blobs/${b.digest}`);
    assert.ok((await getBlobBytes(srv.url, 'mnt/target', b.digest)).equals(b.bytes));
  });

  it('answers 202 with a new session when the source lacks the blob, and grants no access', async () => {
    // The blob exists in the registry (in mnt/owner), but not in the named source.
    const b = await pushBlob(srv.url, 'mnt/owner', randomBlob(222));
    for (const from of ['mnt/empty-source', 'mnt/never-existed', 'Not_Valid']) {
      const res = await api(srv.url, `/v2/mnt/thief/blobs/uploads/?mount=${b.digest}&from=${from}`, { method: 'POST' });
      const text = await res.text();
      assert.equal(res.status, 202, `from=${from}: ${text}`);
      const location = res.headers.get('location') ?? '';
      assert.match(location, /\/v2\/mnt\/thief\/blobs\/uploads\/[^/]+$/);
      assert.equal(res.headers.get('range'), '0-0');
      // The fallback session is a usable upload session.
      const st = await status(new URL(location, srv.url).href);
      assert.equal(st.status, 204);
    }
    assert.equal(await headStatus(srv.url, 'mnt/thief', b.digest), 404, 'a failed mount must not make the blob readable');
    await expectError(await api(srv.url, `/v2/mnt/thief/blobs/${b.digest}`), 404, 'BLOB_UNKNOWN');
  });

  it('mount without from= falls back to a new session (202)', async () => {
    const b = await pushBlob(srv.url, 'mnt/owner', randomBlob(12));
    const res = await api(srv.url, `/v2/mnt/nofrom/blobs/uploads/?mount=${b.digest}`, { method: 'POST' });
    assert.equal(res.status, 202);
    await res.arrayBuffer();
    assert.equal(await headStatus(srv.url, 'mnt/nofrom', b.digest), 404);
  });

  it('a blob pushed to one repository is never readable from another', async () => {
    const b = await pushBlob(srv.url, 'iso/one', randomBlob(64));
    await expectError(await api(srv.url, `/v2/iso/two/blobs/${b.digest}`), 404, 'BLOB_UNKNOWN');
    assert.equal(await headStatus(srv.url, 'iso/two', b.digest), 404);
    assert.equal(await headStatus(srv.url, 'iso', b.digest), 404);
    assert.equal(await headStatus(srv.url, 'iso/one/sub', b.digest), 404);
  });
});

describe('streamed and chunked uploads', () => {
  it('a streamed PATCH without Content-Range, then PUT ?digest= without a body', async () => {
    const bytes = randomBlob(4096);
    const digest = digestOf(bytes);
    const loc = await startUpload(srv.url, 'up/stream');
    const p = await patch(loc, bytes);
    assert.equal(p.status, 202, await p.text());
    assert.equal(rangeEnd(p.headers.get('range')), bytes.length - 1);
    assert.ok(p.headers.get('docker-upload-uuid'));
    const next = new URL(p.headers.get('location') ?? '', srv.url).href;
    const st = await status(next);
    assert.equal(st.status, 204);
    assert.equal(rangeEnd(st.headers.get('range')), bytes.length - 1);
    assert.equal(await headStatus(srv.url, 'up/stream', digest), 404, 'not visible before the PUT');
    const put = await finish(next, digest);
    assert.equal(put.status, 201, await put.text());
    assert.equal(put.headers.get('docker-content-digest'), digest);
    assert.equal(put.headers.get('location'), `${srv.url}/v2/up/stream/blobs/${digest}`);
    assert.ok((await getBlobBytes(srv.url, 'up/stream', digest)).equals(bytes));
  });

  it('a streamed PATCH with chunked transfer encoding (no Content-Length)', async () => {
    const parts = [randomBlob(1000), randomBlob(70_000), randomBlob(5)];
    const all = Buffer.concat(parts);
    const loc = await startUpload(srv.url, 'up/stream');
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of parts) controller.enqueue(part);
        controller.close();
      },
    });
    const p = await fetch(loc, { method: 'PATCH', headers: OCTET, body: stream, duplex: 'half' } as RequestInit);
    assert.equal(p.status, 202, await p.text());
    assert.equal(rangeEnd(p.headers.get('range')), all.length - 1);
    const put = await finish(loc, digestOf(all));
    assert.equal(put.status, 201, await put.text());
    assert.ok((await getBlobBytes(srv.url, 'up/stream', digestOf(all))).equals(all));
  });

  it('chunked PATCHes with Content-Range, status after each, then PUT', async () => {
    const bytes = randomBlob(3000);
    const digest = digestOf(bytes);
    let loc = await startUpload(srv.url, 'up/chunked');
    const cuts = [0, 1000, 2500, 2900];
    for (let i = 0; i < cuts.length; i++) {
      const start = cuts[i];
      const end = (cuts[i + 1] ?? bytes.length) - 1;
      const res = await patch(loc, bytes.subarray(start, end + 1), `${start}-${end}`);
      assert.equal(res.status, 202, `chunk ${start}-${end}: ${await res.text()}`);
      assert.equal(rangeEnd(res.headers.get('range')), end, `Range after chunk ${start}-${end}`);
      loc = new URL(res.headers.get('location') ?? '', srv.url).href;
      const st = await status(loc);
      assert.equal(st.status, 204);
      assert.equal(rangeEnd(st.headers.get('range')), end, `status Range after chunk ${start}-${end}`);
    }
    const put = await finish(loc, digest);
    assert.equal(put.status, 201, await put.text());
    assert.ok((await getBlobBytes(srv.url, 'up/chunked', digest)).equals(bytes));
  });

  it('an out-of-order chunk answers 416 with the current Range; the upload can continue', async () => {
    const bytes = randomBlob(300);
    const loc = await startUpload(srv.url, 'up/chunked');
    const first = await patch(loc, bytes.subarray(0, 100), '0-99');
    assert.equal(first.status, 202);
    await first.arrayBuffer();

    // A gap (starts after the end) and an overlap (re-sends the first chunk).
    for (const [start, end] of [
      [150, 199],
      [0, 99],
      [50, 149],
    ]) {
      const res = await patch(loc, bytes.subarray(start, end + 1), `${start}-${end}`);
      assert.equal(res.status, 416, `chunk ${start}-${end}`);
      assert.equal(rangeEnd(res.headers.get('range')), 99, `416 must report the current Range (chunk ${start}-${end})`);
      await res.arrayBuffer();
    }
    const st = await status(loc);
    assert.equal(rangeEnd(st.headers.get('range')), 99, 'rejected chunks did not change the upload');

    const second = await patch(loc, bytes.subarray(100, 300), '100-299');
    assert.equal(second.status, 202, await second.text());
    const put = await finish(loc, digestOf(bytes));
    assert.equal(put.status, 201, await put.text());
    assert.ok((await getBlobBytes(srv.url, 'up/chunked', digestOf(bytes))).equals(bytes));
  });

  it('one writer at a time: a PATCH or PUT while another PATCH streams answers 416, and the upload stays intact', async () => {
    const bytes = randomBlob(3 * 1024 * 1024 + 11);
    const loc = await startUpload(srv.url, 'up/concurrent');
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const body = new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(bytes.subarray(0, 1000));
        await held;
        c.enqueue(bytes.subarray(1000));
        c.close();
      },
    });
    const slow = fetch(loc, { method: 'PATCH', headers: OCTET, body, duplex: 'half' } as RequestInit);
    // Wait until the slow PATCH holds the session (its claim is in the database).
    const id = new URL(loc).pathname.split('/').pop()!;
    const meta = await openMetadata(srv.config);
    try {
      for (const deadline = Date.now() + 10_000; ; ) {
        const row = await meta.db.selectFrom('uploads').select('lease_token').where('id', '=', id).executeTakeFirst();
        if (row?.lease_token) break;
        assert.ok(Date.now() < deadline, 'the slow PATCH never claimed the session');
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      await meta.close();
    }
    const other = randomBlob(5000);
    const racing = [await patch(loc, other), await patch(loc, other, '0-4999'), await finish(loc, digestOf(other), other)];
    for (const res of racing) {
      const err = await expectError(res, 416, 'RANGE_INVALID', `${res.url} while another PATCH streams`);
      assert.match(JSON.stringify(err), /another request is writing/);
    }
    release();
    const first = await slow;
    assert.equal(first.status, 202, await first.text());
    assert.equal(rangeEnd(first.headers.get('range')), bytes.length - 1);
    const put = await finish(loc, digestOf(bytes));
    assert.equal(put.status, 201, await put.text());
    assert.ok((await getBlobBytes(srv.url, 'up/concurrent', digestOf(bytes))).equals(bytes), "only the first writer's bytes");
  });

  it('PUT ?digest= carrying the last chunk (with Content-Range)', async () => {
    const bytes = randomBlob(500);
    const loc = await startUpload(srv.url, 'up/final');
    const p = await patch(loc, bytes.subarray(0, 200), '0-199');
    assert.equal(p.status, 202);
    await p.arrayBuffer();
    const put = await finish(loc, digestOf(bytes), bytes.subarray(200), '200-499');
    assert.equal(put.status, 201, await put.text());
    assert.equal(put.headers.get('docker-content-digest'), digestOf(bytes));
    assert.ok((await getBlobBytes(srv.url, 'up/final', digestOf(bytes))).equals(bytes));
  });

  it('PUT ?digest= carrying the whole blob (monolithic PUT after POST)', async () => {
    const bytes = randomBlob(1234);
    const loc = await startUpload(srv.url, 'up/final');
    const put = await finish(loc, digestOf(bytes), bytes);
    assert.equal(put.status, 201, await put.text());
    assert.ok((await getBlobBytes(srv.url, 'up/final', digestOf(bytes))).equals(bytes));
  });

  it('after the PUT the session is gone (404 BLOB_UPLOAD_UNKNOWN)', async () => {
    const bytes = randomBlob(10);
    const loc = await startUpload(srv.url, 'up/final');
    const put = await finish(loc, digestOf(bytes), bytes);
    assert.equal(put.status, 201);
    await expectError(await status(loc), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await patch(loc, randomBlob(5)), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('uploading a blob the repository already has succeeds again (201, same bytes)', async () => {
    const b = await pushBlob(srv.url, 'up/dup', randomBlob(99));
    const again = await pushBlob(srv.url, 'up/dup', b.bytes);
    assert.equal(again.digest, b.digest);
    assert.ok((await getBlobBytes(srv.url, 'up/dup', b.digest)).equals(b.bytes));
  });

  it('sha512: chunked upload finished with a sha512 digest', async () => {
    const bytes = randomBlob(2000);
    const digest = digestOf(bytes, 'sha512');
    const loc = await startUpload(srv.url, 'up/sha512');
    const p = await patch(loc, bytes.subarray(0, 1500), '0-1499');
    assert.equal(p.status, 202);
    await p.arrayBuffer();
    const put = await finish(loc, digest, bytes.subarray(1500), '1500-1999');
    assert.equal(put.status, 201, await put.text());
    assert.equal(put.headers.get('docker-content-digest'), digest);
    const res = await api(srv.url, `/v2/up/sha512/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(digestOf(Buffer.from(await res.arrayBuffer()), 'sha512'), digest);
    // The sha256 of the same bytes is a different name, and was not pushed.
    assert.equal(await headStatus(srv.url, 'up/sha512', digestOf(bytes)), 404);
  });

  it('sha512: monolithic POST ?digest=sha512:...', async () => {
    const bytes = randomBlob(64);
    const digest = digestOf(bytes, 'sha512');
    const res = await api(srv.url, `/v2/up/sha512/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: OCTET, body: asBody(bytes) });
    assert.equal(res.status, 201, await res.text());
    assert.ok((await getBlobBytes(srv.url, 'up/sha512', digest)).equals(bytes));
  });
});

describe('failed and cancelled uploads', () => {
  it('a digest mismatch answers 400 DIGEST_INVALID and stores nothing', async () => {
    const bytes = randomBlob(256);
    const claimed = digestOf(randomBlob(256));
    const loc = await startUpload(srv.url, 'up/bad');
    const p = await patch(loc, bytes);
    assert.equal(p.status, 202);
    await p.arrayBuffer();
    await expectError(await finish(loc, claimed), 400, 'DIGEST_INVALID');
    assert.equal(await headStatus(srv.url, 'up/bad', claimed), 404, 'claimed digest not stored');
    assert.equal(await headStatus(srv.url, 'up/bad', digestOf(bytes)), 404, 'actual digest not stored');
  });

  it('a sha512 digest mismatch is rejected too', async () => {
    const bytes = randomBlob(256);
    const claimed = digestOf(randomBlob(256), 'sha512');
    const loc = await startUpload(srv.url, 'up/bad');
    await expectError(await finish(loc, claimed, bytes), 400, 'DIGEST_INVALID');
    assert.equal(await headStatus(srv.url, 'up/bad', claimed), 404);
  });

  it('PUT without ?digest= answers 400 DIGEST_INVALID; the session survives', async () => {
    const bytes = randomBlob(30);
    const loc = await startUpload(srv.url, 'up/bad');
    const p = await patch(loc, bytes);
    assert.equal(p.status, 202);
    await p.arrayBuffer();
    const res = await fetch(loc, { method: 'PUT' });
    await expectError(res, 400, 'DIGEST_INVALID');
    const put = await finish(loc, digestOf(bytes));
    assert.equal(put.status, 201, await put.text());
  });

  it('DELETE cancels: 204, then the session answers 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const bytes = randomBlob(100);
    const loc = await startUpload(srv.url, 'up/cancel');
    const p = await patch(loc, bytes);
    assert.equal(p.status, 202);
    await p.arrayBuffer();
    const del = await fetch(loc, { method: 'DELETE' });
    assert.equal(del.status, 204);
    await del.arrayBuffer();
    await expectError(await status(loc), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await patch(loc, bytes), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await finish(loc, digestOf(bytes)), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await fetch(loc, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    assert.equal(await headStatus(srv.url, 'up/cancel', digestOf(bytes)), 404);
  });

  it('an unknown session id answers 404 BLOB_UPLOAD_UNKNOWN for every method', async () => {
    const loc = `${srv.url}/v2/up/cancel/blobs/uploads/3f1e2b9a-0000-4000-8000-000000000000`;
    await expectError(await status(loc), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await patch(loc, randomBlob(3)), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await finish(loc, digestOf('x'), Buffer.from('x')), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await fetch(loc, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('a session id used under another repository answers 404 and stays intact', async () => {
    const bytes = randomBlob(200);
    const loc = await startUpload(srv.url, 'up/owner');
    const p = await patch(loc, bytes.subarray(0, 100), '0-99');
    assert.equal(p.status, 202);
    await p.arrayBuffer();
    const foreign = loc.replace('/v2/up/owner/', '/v2/up/intruder/');
    assert.notEqual(foreign, loc);
    await expectError(await status(foreign), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await patch(foreign, bytes.subarray(100), '100-199'), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await finish(foreign, digestOf(bytes.subarray(0, 100))), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await fetch(foreign, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    assert.equal(await headStatus(srv.url, 'up/intruder', digestOf(bytes.subarray(0, 100))), 404);

    const st = await status(loc);
    assert.equal(st.status, 204);
    assert.equal(rangeEnd(st.headers.get('range')), 99, 'the owner session is untouched');
    const put = await finish(loc, digestOf(bytes), bytes.subarray(100), '100-199');
    assert.equal(put.status, 201, await put.text());
    assert.ok((await getBlobBytes(srv.url, 'up/owner', digestOf(bytes))).equals(bytes));
  });
});

describe('uploads across a restart', () => {
  it('a session started before a restart continues and commits afterwards', async () => {
    const dir = tempDir();
    const bytes = randomBlob(5000);
    const digest = digestOf(bytes);
    let server = await startServer({ dir });
    try {
      const loc = await startUpload(server.url, 'restart/repo');
      const p = await patch(loc, bytes.subarray(0, 2000), '0-1999');
      assert.equal(p.status, 202, await p.text());
      await server.close();

      server = await startServer({ dir });
      const moved = rebase(loc, server.url);
      const st = await status(moved);
      assert.equal(st.status, 204);
      assert.equal(rangeEnd(st.headers.get('range')), 1999, 'bytes received before the restart are kept');
      const p2 = await patch(moved, bytes.subarray(2000, 4000), '2000-3999');
      assert.equal(p2.status, 202, await p2.text());
      const put = await finish(moved, digest, bytes.subarray(4000), '4000-4999');
      assert.equal(put.status, 201, await put.text());
      assert.ok((await getBlobBytes(server.url, 'restart/repo', digest)).equals(bytes));
      await server.close();

      // And the committed blob is still there after another restart.
      server = await startServer({ dir });
      assert.ok((await getBlobBytes(server.url, 'restart/repo', digest)).equals(bytes));
    } finally {
      await server.close();
      removeDir(dir);
    }
  });
});
