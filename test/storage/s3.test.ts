// The S3 driver against a real Ceph RGW (started by scripts/start-ceph-rgw.sh): the shared
// conformance suite plus what only S3 has (parts, tails, replicas, copies over 5 GiB).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { before, describe, it } from 'node:test';
import type { S3Config } from '../../src/config/index.js';
import { S3Driver } from '../../src/storage/s3.js';
import { s3Config } from '../helpers/s3.js';
import { storageDriverSuite } from './driver-suite.js';

const MiB = 1024 * 1024;
let config: S3Config;
before(async () => {
  config = await s3Config({ chunksize: 5 * MiB });
});

storageDriverSuite('s3 (Ceph RGW)', async () => new S3Driver(config));

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function uid(): string {
  return randomBytes(8).toString('hex');
}

describe('s3 driver', () => {
  it('keeps a short tail across appends, parts across replicas, and commits on a third', async () => {
    const [a, b, c] = [new S3Driver(config), new S3Driver(config), new S3Driver(config)];
    const id = uid();
    await a.uploadCreate(id);
    const chunks = [randomBytes(1000), randomBytes(3 * MiB), randomBytes(7 * MiB + 5), randomBytes(12 * MiB), randomBytes(17)];
    const whole = Buffer.concat(chunks);
    let offset = 0;
    for (const [i, chunk] of chunks.entries()) {
      const d = [a, b][i % 2];
      // each chunk in pieces, as a socket would deliver it
      const pieces = [chunk.subarray(0, 100), chunk.subarray(100, 70_000), chunk.subarray(70_000)].filter((p) => p.length > 0);
      offset = await d.uploadAppend(id, offset, Readable.from(pieces));
      assert.equal(await [b, a][i % 2].uploadSize(id), offset, `size after chunk ${i} seen by the other replica`);
    }
    assert.equal(offset, whole.length);
    const hash = createHash('sha256');
    for await (const x of await b.uploadRead(id)) hash.update(x as Buffer);
    assert.equal(hash.digest('hex'), createHash('sha256').update(whole).digest('hex'));
    // appends still work after a read completed the open multipart upload
    const more = randomBytes(6 * MiB);
    offset = await a.uploadAppend(id, offset, Readable.from([more]));
    const all = Buffer.concat([whole, more]);
    assert.equal(await c.uploadSize(id), all.length);
    const key = `blobs/sha256/aa/${uid()}`;
    await c.uploadCommit(id, key);
    assert.equal(await a.uploadSize(id), null);
    assert.deepEqual(await a.stat(key), { size: all.length });
    assert.ok((await readAll(await b.read(key))).equals(all));
    const leftovers: string[] = [];
    for await (const o of a.list(`uploads/${id}/`)) leftovers.push(o.key);
    assert.deepEqual(leftovers, []);
  });

  it('published bytes that an append moved from the tail into a part are readable again once published', async () => {
    const [writer, reader] = [new S3Driver(config), new S3Driver(config)];
    const id = uid();
    await writer.uploadCreate(id);
    const head = randomBytes(1000);
    await writer.uploadAppend(id, 0, Readable.from([head]));
    assert.equal(await writer.uploadPublish(id), head.length);
    assert.ok((await readAll(await reader.uploadReadFrom(id, { start: 0, end: 999 }))).equals(head), 'read from the tail');
    const more = randomBytes(5 * MiB);
    await writer.uploadAppend(id, head.length, Readable.from([more]));
    // The first 5 MiB are now a part of an open multipart upload, the rest a new tail.
    await assert.rejects(reader.uploadReadFrom(id, { start: 0, end: 999 }), /not readable yet/);
    assert.equal(await writer.uploadPublish(id), head.length + more.length);
    const all = Buffer.concat([head, more]);
    assert.ok((await readAll(await reader.uploadReadFrom(id, { start: 0, end: all.length - 1 }))).equals(all));
    await writer.uploadAbort(id);
  });

  it('deletes many objects in batches', async () => {
    const d = new S3Driver(config);
    const prefix = `blobs/sha512/${uid().slice(0, 2)}/`;
    const keys = Array.from({ length: 1100 }, (_, i) => `${prefix}k${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 100) await Promise.all(keys.slice(i, i + 100).map((k) => d.put(k, Buffer.from(k))));
    await d.deleteMany([...keys.slice(0, 1050), `${prefix}absent`]);
    const left: string[] = [];
    for await (const o of d.list(prefix)) left.push(o.key);
    assert.deepEqual(left.sort(), keys.slice(1050));
    await d.deleteMany(keys);
    for await (const o of d.list(prefix)) assert.fail(`left ${o.key}`);
  });

  it('lists a session whose objects are gone but whose multipart upload is open, and aborting it removes the upload', async () => {
    const d = new S3Driver(config);
    const id = uid();
    await d.uploadCreate(id);
    await d.uploadAppend(id, 0, Readable.from([randomBytes(5 * MiB + 10)])); // a part (open multipart upload) and a tail
    // A crash while removing the session: its objects went, its multipart upload stayed.
    const objects: string[] = [];
    for await (const o of d.list(`uploads/${id}/`)) objects.push(o.key);
    assert.deepEqual(objects.map((k) => k.replace(/\d+$/, 'N')).sort(), [`uploads/${id}/info`, `uploads/${id}/t/N`]);
    await d.deleteMany(objects);
    assert.equal(await d.uploadSize(id), null);
    const listed = async () => {
      const out: string[] = [];
      for await (const u of d.listUploads()) if (u.id === id) out.push(u.id);
      return out;
    };
    assert.deepEqual(await listed(), [id]);
    await d.uploadAbort(id);
    assert.deepEqual(await listed(), []);
  });

  it('reads a long range with ranged GETs of a window each, in order of the bytes', async () => {
    const d = new S3Driver(config);
    const ranges: string[] = [];
    d.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetObjectCommand') ranges.push(String((args.input as { Range?: string }).Range));
        return next(args);
      },
      { step: 'initialize', name: 'testCountGets' },
    );
    const key = `blobs/sha256/ac/${uid()}`;
    const body = randomBytes(40 * MiB + 7);
    await d.put(key, body);
    assert.ok((await readAll(await d.read(key, { start: 3, end: body.length - 1 }))).equals(body.subarray(3)));
    // 8 MiB windows, in order of the bytes.
    const windows: string[] = [];
    for (let at = 3; at < body.length; at += 8 * MiB) windows.push(`bytes=${at}-${Math.min(body.length - 1, at + 8 * MiB - 1)}`);
    assert.equal(windows.length, 6);
    assert.deepEqual(ranges, windows);
  });

  it('presigns GET URLs only when redirects are on', async () => {
    const key = `blobs/sha256/bb/${uid()}`;
    const on = new S3Driver(config, { redirect: true });
    await on.put(key, Buffer.from('presigned body'));
    assert.equal(await new S3Driver(config).redirectUrl(key), null);
    const url = await on.redirectUrl(key);
    assert.ok(url);
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'presigned body');
    const ranged = await fetch(url, { headers: { Range: 'bytes=10-13' } });
    assert.equal(ranged.status, 206);
    assert.equal(await ranged.text(), 'body');
  });
});

// ---------------------------------------------------------------------------------------
// A blob over S3's 5 GiB single-copy limit. Its bytes are a function of their offset: every
// 4 KiB block starts with its own offset (8 bytes, big-endian), then 4,088 bytes of a seeded
// filler, so any range can be regenerated and checked without keeping 6 GiB anywhere.

const BLOCK = 4096;
const BIG = Number(process.env.BERTH_S3_BIG_MIB ?? 6 * 1024) * MiB + 4097; // odd on purpose
const filler = (() => {
  // xorshift32 from a fixed seed: deterministic, but not one repeated byte
  const out = Buffer.alloc(BLOCK - 8);
  let x = 0x9e3779b9;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
})();

/** The pattern's bytes [start, end). */
function pattern(start: number, end: number): Buffer {
  const first = Math.floor(start / BLOCK) * BLOCK;
  const buf = Buffer.allocUnsafe(Math.ceil((end - first) / BLOCK) * BLOCK);
  for (let b = 0; b < buf.length; b += BLOCK) {
    buf.writeBigUInt64BE(BigInt(first + b), b);
    filler.copy(buf, b + 8);
  }
  return buf.subarray(start - first, end - first);
}

/** Streams the pattern's bytes [start, end) in 1 MiB chunks. */
function patternStream(start: number, end: number): Readable {
  let at = start;
  return new Readable({
    read() {
      if (at >= end) return void this.push(null);
      const next = Math.min(end, at + MiB);
      this.push(pattern(at, next));
      at = next;
    },
  });
}

describe('s3 driver: a blob over 5 GiB', () => {
  it(`streams ${(BIG / 1024 / MiB).toFixed(2)} GiB into an upload on two replicas, commits it past the single-copy limit and reads ranges back`, async () => {
    const t0 = performance.now();
    const a = new S3Driver(config);
    const b = new S3Driver({ ...config, chunksize: 16 * MiB });
    const id = uid();
    await a.uploadCreate(id);
    const half = Math.floor(BIG / 2) + 1234; // leaves a short tail between the two appends
    assert.equal(await a.uploadAppend(id, 0, patternStream(0, half)), half);
    assert.equal(await b.uploadAppend(id, half, patternStream(half, BIG)), BIG);
    assert.equal(await a.uploadSize(id), BIG);
    const tUpload = performance.now();
    const key = `blobs/sha256/ff/${uid()}`;
    await b.uploadCommit(id, key);
    const tCommit = performance.now();
    assert.deepEqual(await a.stat(key), { size: BIG });
    const GiB = 1024 * MiB;
    const ranges = [
      [0, 0],
      [0, MiB + 3],
      [half - 5000, half + 5000], // where the second replica took over
      [5 * MiB - 10, 5 * MiB + 10],
      [16 * MiB - 1, 16 * MiB], // a part boundary
      [5 * GiB - 3 * BLOCK - 1, 5 * GiB + 3 * BLOCK + 1], // the single-copy limit
      [BIG - 2 * MiB - 17, BIG - 1], // the end
    ].filter(([_s, e]) => e < BIG);
    for (const [start, end] of ranges) {
      const got = await readAll(await a.read(key, { start, end }));
      assert.equal(got.length, end - start + 1, `length of ${start}-${end}`);
      assert.ok(got.equals(pattern(start, end + 1)), `bytes of ${start}-${end}`);
    }
    await a.delete(key);
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    console.log(
      `# ${BIG} bytes: upload ${s(tUpload - t0)} (${(BIG / MiB / ((tUpload - t0) / 1000)).toFixed(0)} MiB/s), commit ${s(tCommit - tUpload)}, ranges ${s(performance.now() - tCommit)}`,
    );
  });
});
