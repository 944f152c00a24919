// The one conformance suite every storage driver passes (filesystem now, S3 later).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { NotFoundError, OffsetMismatchError, type StorageDriver } from '../../src/storage/driver.js';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function uid(): string {
  return randomBytes(8).toString('hex');
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of items) out.push(x);
  return out;
}

const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** A backend's time for a write between `before` and `after` (S3 keeps whole seconds; a gateway's clock may be a little off). */
function assertAround(t: number, before: number, after: number, what: string): void {
  assert.ok(
    t >= before - 2000 && t <= after + 2000,
    `${what}: modified ${new Date(t).toISOString()} outside ${new Date(before).toISOString()}…${new Date(after).toISOString()}`,
  );
}

/** Registers the suite; `make` returns a fresh driver (and may share a backend between calls). */
export function storageDriverSuite(name: string, make: () => Promise<StorageDriver>): void {
  describe(`storage driver conformance: ${name}`, () => {
    it('put, stat, read and delete an object', async () => {
      const d = await make();
      const key = `blobs/sha256/ab/${uid()}`;
      assert.equal(await d.stat(key), null);
      const body = randomBytes(70_000);
      await d.put(key, body);
      assert.deepEqual(await d.stat(key), { size: body.length });
      assert.deepEqual(await readAll(await d.read(key)), body);
      await d.delete(key);
      assert.equal(await d.stat(key), null);
      await d.delete(key); // idempotent
    });

    it('reads inclusive byte ranges', async () => {
      const d = await make();
      const key = `blobs/sha256/cd/${uid()}`;
      const body = randomBytes(10_000);
      await d.put(key, body);
      assert.deepEqual(await readAll(await d.read(key, { start: 0, end: 0 })), body.subarray(0, 1));
      assert.deepEqual(await readAll(await d.read(key, { start: 100, end: 9999 })), body.subarray(100));
      assert.deepEqual(await readAll(await d.read(key, { start: 5000, end: 5099 })), body.subarray(5000, 5100));
    });

    it('rejects reads of missing objects with NotFoundError', async () => {
      const d = await make();
      await assert.rejects(d.read(`blobs/sha256/ef/${uid()}`), NotFoundError);
      // A long range too (S3 reads it with several requests at once): the error comes from read(), not the body.
      await assert.rejects(d.read(`blobs/sha256/ef/${uid()}`, { start: 0, end: 40 * 1024 * 1024 }), NotFoundError);
    });

    it('reads large objects and ranges byte for byte (a blob GET names its range)', async () => {
      const d = await make();
      const key = `blobs/sha256/ce/${uid()}`;
      const body = randomBytes(21 * 1024 * 1024 + 4321);
      await d.put(key, body);
      const end = body.length - 1;
      assert.ok((await readAll(await d.read(key, { start: 0, end }))).equals(body));
      assert.ok((await readAll(await d.read(key, { start: 8 * 1024 * 1024 - 3, end: end - 5 }))).equals(body.subarray(8 * 1024 * 1024 - 3, end - 4)));
      // A range past the end is cut to the object.
      assert.ok((await readAll(await d.read(key, { start: 1000, end: end + 30 * 1024 * 1024 }))).equals(body.subarray(1000)));
    });

    it('overwrites an object atomically', async () => {
      const d = await make();
      const key = `blobs/sha256/01/${uid()}`;
      await d.put(key, Buffer.from('first'));
      await d.put(key, Buffer.from('second version'));
      assert.equal((await readAll(await d.read(key))).toString(), 'second version');
    });

    it('lists objects under a prefix with their sizes and times', async () => {
      const d = await make();
      const prefix = `blobs/sha512/${uid().slice(0, 2)}/`;
      const before = Date.now();
      const objects = [
        { key: `${prefix}${uid()}`, size: 3 },
        { key: `${prefix}${uid()}`, size: 70_001 },
        { key: `${prefix}${uid()}`, size: 0 },
      ];
      for (const o of objects) await d.put(o.key, randomBytes(o.size));
      const after = Date.now();
      const listed = await collect(d.list(prefix));
      assert.deepEqual(listed.map(({ key, size }) => ({ key, size })).sort(byKey), [...objects].sort(byKey));
      for (const o of listed) assertAround(o.modified, before, after, o.key);
      assert.deepEqual(await collect(d.list(`blobs/none-${uid()}/`)), []);
    });

    it('lists past a page of 1,000 objects, and a listing may stop early', async () => {
      const d = await make();
      const prefix = `blobs/sha512/${uid().slice(0, 2)}/${uid()}/`;
      const keys = Array.from({ length: 1005 }, (_, i) => `${prefix}k${String(i).padStart(5, '0')}`);
      for (let i = 0; i < keys.length; i += 100) await Promise.all(keys.slice(i, i + 100).map((k) => d.put(k, Buffer.from(k))));
      const listed = await collect(d.list(prefix));
      assert.deepEqual(listed.map((o) => o.key).sort(), keys);
      assert.ok(listed.every((o) => o.size === o.key.length));
      let seen = 0;
      for await (const _ of d.list(prefix)) if (++seen === 3) break;
      assert.equal(seen, 3);
      if (d.deleteMany) await d.deleteMany(keys);
      else for (const k of keys) await d.delete(k);
      assert.deepEqual(await collect(d.list(prefix)), []);
    });

    it('lists upload sessions until they are committed or aborted', async () => {
      const d = await make();
      const [a, b, c] = [uid(), uid(), uid()];
      const before = Date.now();
      for (const id of [a, b, c]) {
        await d.uploadCreate(id);
        await d.uploadAppend(id, 0, Readable.from([Buffer.from(`bytes of ${id}`)]));
      }
      const after = Date.now();
      const mine = async () => (await collect(d.listUploads())).filter((u) => [a, b, c].includes(u.id));
      const listed = await mine();
      assert.deepEqual([...new Set(listed.map((u) => u.id))].sort(), [a, b, c].sort());
      for (const u of listed) assertAround(u.modified, before, after, u.id);
      await d.uploadCommit(a, `blobs/sha256/77/${uid()}`);
      await d.uploadAbort(b);
      assert.deepEqual(
        (await mine()).map((u) => u.id),
        [c],
      );
      await d.uploadAbort(c);
      assert.deepEqual(await mine(), []);
    });

    it('appends chunks to an upload and commits it as an object', async () => {
      const d = await make();
      const id = uid();
      await d.uploadCreate(id);
      assert.equal(await d.uploadSize(id), 0);
      const a = randomBytes(d.minChunkLength || 4096);
      const b = randomBytes(1234);
      assert.equal(await d.uploadAppend(id, 0, Readable.from([a])), a.length);
      assert.equal(await d.uploadSize(id), a.length);
      assert.equal(await d.uploadAppend(id, a.length, Readable.from([b.subarray(0, 1000), b.subarray(1000)])), a.length + b.length);
      const whole = Buffer.concat([a, b]);
      const rehash = createHash('sha256');
      for await (const c of await d.uploadRead(id)) rehash.update(c as Buffer);
      assert.equal(rehash.digest('hex'), createHash('sha256').update(whole).digest('hex'));
      const key = `blobs/sha256/99/${uid()}`;
      await d.uploadCommit(id, key);
      assert.deepEqual(await readAll(await d.read(key)), whole);
      assert.equal(await d.uploadSize(id), null);
    });

    it('publishes appended bytes, which any instance reads by range while the upload goes on', async () => {
      const [writer, reader] = [await make(), await make()];
      const id = uid();
      await writer.uploadCreate(id);
      await assert.rejects(writer.uploadPublish(uid()), NotFoundError);
      assert.equal(await writer.uploadPublish(id), 0);
      const a = randomBytes(writer.minChunkLength || 4096);
      const b = randomBytes(1234);
      const c = randomBytes(writer.minChunkLength || 5000);
      await writer.uploadAppend(id, 0, Readable.from([a]));
      await writer.uploadAppend(id, a.length, Readable.from([b]));
      assert.equal(await writer.uploadPublish(id), a.length + b.length);
      const ab = Buffer.concat([a, b]);
      const range = async (start: number, end: number) => readAll(await reader.uploadReadFrom(id, { start, end }));
      assert.deepEqual(await range(0, ab.length - 1), ab);
      assert.deepEqual(await range(a.length - 10, a.length + 9), ab.subarray(a.length - 10, a.length + 10), 'across the pieces');
      assert.deepEqual(await range(a.length + 1000, a.length + 1000), ab.subarray(a.length + 1000, a.length + 1001));
      await assert.rejects(range(0, ab.length), 'bytes past the end are refused, not cut short');
      // The upload goes on after a publication; the new bytes are readable once published.
      await writer.uploadAppend(id, ab.length, Readable.from([c]));
      assert.equal(await writer.uploadPublish(id), ab.length + c.length);
      const whole = Buffer.concat([ab, c]);
      assert.deepEqual(await range(ab.length - 5, whole.length - 1), whole.subarray(ab.length - 5));
      assert.equal(await reader.uploadSize(id), whole.length);
      const key = `blobs/sha256/98/${uid()}`;
      await writer.uploadCommit(id, key);
      assert.deepEqual(await readAll(await reader.read(key)), whole);
      await assert.rejects(reader.uploadReadFrom(id, { start: 0, end: 0 }), NotFoundError);
      await assert.rejects(reader.uploadPublish(id), NotFoundError);
    });

    it('refuses an append at the wrong offset and keeps the data', async () => {
      const d = await make();
      const id = uid();
      await d.uploadCreate(id);
      await d.uploadAppend(id, 0, Readable.from([Buffer.from('abc')]));
      await assert.rejects(d.uploadAppend(id, 10, Readable.from([Buffer.from('x')])), OffsetMismatchError);
      assert.equal(await d.uploadSize(id), 3);
    });

    it('keeps the bytes that arrived before a body stream failed', async () => {
      const d = await make();
      const id = uid();
      await d.uploadCreate(id);
      const failing = new Readable({ read() {} });
      failing.push(Buffer.alloc(2048, 1));
      setTimeout(() => failing.destroy(new Error('client went away')), 20);
      await assert.rejects(d.uploadAppend(id, 0, failing));
      const size = await d.uploadSize(id);
      assert.ok(size !== null && size <= 2048, `size after failure ${size}`);
    });

    it('aborts uploads, and aborting twice is fine', async () => {
      const d = await make();
      const id = uid();
      await d.uploadCreate(id);
      await d.uploadAppend(id, 0, Readable.from([Buffer.from('data')]));
      await d.uploadAbort(id);
      assert.equal(await d.uploadSize(id), null);
      await d.uploadAbort(id);
      await assert.rejects(d.uploadAppend(id, 0, Readable.from([Buffer.from('x')])), NotFoundError);
    });

    it('refuses keys that could escape the store', async () => {
      const d = await make();
      await assert.rejects(d.put('../escape', Buffer.from('x')));
      await assert.rejects(d.put('blobs/../../escape', Buffer.from('x')));
    });
  });
}
