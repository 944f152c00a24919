// The filesystem driver's O_DIRECT upload path: unaligned offsets and sizes, failures, fallbacks.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { acquireStages, DirectWriter, directStats, releaseStages } from '../../src/storage/direct-writer.js';
import { FilesystemDriver } from '../../src/storage/filesystem.js';
import { storageDriverSuite } from './driver-suite.js';

const root = mkdtempSync(join(tmpdir(), 'berth-direct-'));
const MiB = 1024 * 1024;

/** Splits a buffer into pieces of random sizes up to `max`, as a socket would deliver it. */
function pieces(buf: Buffer, max = 200_000): Readable {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; ) {
    const n = 1 + Math.floor(Math.random() * max);
    out.push(buf.subarray(i, i + n));
    i += n;
  }
  return Readable.from(out);
}

storageDriverSuite('filesystem, buffered writes (directio: false)', async () => new FilesystemDriver(join(root, 'buffered'), { directio: false }));

describe('filesystem driver direct writes', () => {
  it('appends at unaligned offsets and sizes byte-exactly, mostly with O_DIRECT', async () => {
    const d = new FilesystemDriver(join(root, 'direct'));
    const id = 'unaligned';
    await d.uploadCreate(id);
    const parts = [1, 4095, 3 * MiB + 17, MiB, 2 * MiB + 4095, 10, 5 * MiB].map((n) => randomBytes(n));
    const before = directStats.bytes;
    let size = 0;
    for (const p of parts) {
      size = await d.uploadAppend(id, size, pieces(p));
      assert.equal(await d.uploadSize(id), size);
    }
    const whole = Buffer.concat(parts);
    assert.equal(size, whole.length);
    const key = 'blobs/sha256/dd/unaligned';
    await d.uploadCommit(id, key);
    assert.ok(readFileSync(join(root, 'direct', key)).equals(whole), 'file content differs from what was appended');
    // Whole stages of the big parts went direct; heads, tails and small parts went buffered.
    assert.ok(directStats.bytes - before >= 8 * MiB, `only ${directStats.bytes - before} bytes written directly`);
  });

  it('with directio off, writes nothing directly', async () => {
    const d = new FilesystemDriver(join(root, 'off'), { directio: false });
    await d.uploadCreate('off');
    const before = directStats.bytes;
    const body = randomBytes(3 * MiB);
    assert.equal(await d.uploadAppend('off', 0, pieces(body)), body.length);
    assert.equal(directStats.bytes, before);
  });

  it('keeps a contiguous prefix when the body fails after several stages', async () => {
    const d = new FilesystemDriver(join(root, 'fail'));
    await d.uploadCreate('fail');
    const body = randomBytes(2 * MiB + 1000);
    const failing = new Readable({ read() {} });
    failing.push(body);
    setTimeout(() => failing.destroy(new Error('client went away')), 30);
    await assert.rejects(d.uploadAppend('fail', 0, failing));
    const size = await d.uploadSize('fail');
    assert.equal(size, body.length, 'every byte that arrived is kept');
    // The session can be continued from there.
    const more = randomBytes(MiB + 3);
    assert.equal(await d.uploadAppend('fail', size!, pieces(more)), body.length + more.length);
    await d.uploadCommit('fail', 'blobs/sha256/dd/fail');
    assert.ok(readFileSync(join(root, 'fail', 'blobs/sha256/dd/fail')).equals(Buffer.concat([body, more])));
  });

  it('writes buffered when every staging buffer is taken', async () => {
    const taken: Buffer[] = [];
    for (let s = acquireStages(); s; s = acquireStages()) taken.push(...s);
    try {
      const d = new FilesystemDriver(join(root, 'exhausted'));
      await d.uploadCreate('x');
      const before = directStats.bytes;
      const body = randomBytes(3 * MiB + 5);
      assert.equal(await d.uploadAppend('x', 0, pieces(body)), body.length);
      assert.equal(directStats.bytes, before);
      await d.uploadCommit('x', 'blobs/sha256/dd/x');
      assert.ok(readFileSync(join(root, 'exhausted', 'blobs/sha256/dd/x')).equals(body));
    } finally {
      releaseStages(taken);
    }
  });

  it('carries on buffered when a direct write is refused with EINVAL', async () => {
    const file = join(root, 'einval.bin');
    const fh = await open(file, 'w+');
    let refused = 0;
    const refusing = {
      write: async () => {
        refused++;
        throw Object.assign(new Error('EINVAL: invalid argument'), { code: 'EINVAL' });
      },
      close: async () => {},
    } as unknown as FileHandle;
    const stages = acquireStages();
    assert.ok(stages);
    const w = new DirectWriter(fh, async () => refusing, 0, stages);
    const body = randomBytes(3 * MiB + 100);
    await pipeline(pieces(body), w);
    await fh.close();
    assert.equal(refused, 1, 'one refusal turns direct writes off for the rest of the stream');
    assert.equal(w.written, body.length);
    assert.ok(readFileSync(file).equals(body));
  });
});
