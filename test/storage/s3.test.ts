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
    for await (const k of a.list(`uploads/${id}/`)) leftovers.push(k);
    assert.deepEqual(leftovers, []);
  });

  it('deletes many objects in batches', async () => {
    const d = new S3Driver(config);
    const prefix = `blobs/sha512/${uid().slice(0, 2)}/`;
    const keys = Array.from({ length: 1100 }, (_, i) => `${prefix}k${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 100) await Promise.all(keys.slice(i, i + 100).map((k) => d.put(k, Buffer.from(k))));
    await d.deleteMany([...keys.slice(0, 1050), `${prefix}absent`]);
    const left: string[] = [];
    for await (const k of d.list(prefix)) left.push(k);
    assert.deepEqual(left.sort(), keys.slice(1050));
    await d.deleteMany(keys);
    for await (const k of d.list(prefix)) assert.fail(`left ${k}`);
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
