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
    });

    it('overwrites an object atomically', async () => {
      const d = await make();
      const key = `blobs/sha256/01/${uid()}`;
      await d.put(key, Buffer.from('first'));
      await d.put(key, Buffer.from('second version'));
      assert.equal((await readAll(await d.read(key))).toString(), 'second version');
    });

    it('lists keys under a prefix', async () => {
      const d = await make();
      const prefix = `blobs/sha512/${uid().slice(0, 2)}/`;
      const keys = [`${prefix}${uid()}`, `${prefix}${uid()}`];
      for (const k of keys) await d.put(k, Buffer.from(k));
      const listed: string[] = [];
      for await (const k of d.list(prefix)) listed.push(k);
      assert.deepEqual(listed.sort(), keys.sort());
      const none: string[] = [];
      for await (const k of d.list(`blobs/none-${uid()}/`)) none.push(k);
      assert.deepEqual(none, []);
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
