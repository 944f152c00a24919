// The pooled pipe() fast path of FileReadStream must give the same bytes as the
// plain Readable path, honour ranges, and close the file on every outcome.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { FileReadStream } from '../../src/storage/file-read-stream.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-frs-'));
const body = randomBytes(5 * 1024 * 1024 + 12345); // several 1 MiB chunks plus a tail
const file = join(dir, 'blob');
writeFileSync(file, body);

async function stream(start: number, end: number) {
  const fh = await open(file, 'r');
  return { fh, s: new FileReadStream(fh, start, end) };
}

function collector(chunks: Buffer[], delayMs = 0): Writable {
  return new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk)); // copy: the stream recycles its buffers after cb
      setTimeout(cb, delayMs);
    },
  });
}

async function isClosed(fh: Awaited<ReturnType<typeof open>>): Promise<boolean> {
  return fh.stat().then(
    () => false,
    (e: NodeJS.ErrnoException) => e.code === 'EBADF',
  );
}

describe('FileReadStream', () => {
  it('pipes the whole file through recycled buffers, byte for byte', async () => {
    const { fh, s } = await stream(0, body.length);
    const chunks: Buffer[] = [];
    await pipeline(s, collector(chunks, 1));
    assert.deepEqual(Buffer.concat(chunks), body);
    assert.ok(await isClosed(fh));
  });

  it('pipes a byte range', async () => {
    const { s } = await stream(1_000_000, 3_500_001);
    const chunks: Buffer[] = [];
    await pipeline(s, collector(chunks));
    assert.deepEqual(Buffer.concat(chunks), body.subarray(1_000_000, 3_500_001));
  });

  it('gives the same bytes to for-await consumers', async () => {
    const { fh, s } = await stream(7, body.length - 7);
    const chunks: Buffer[] = [];
    for await (const c of s) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), body.subarray(7, body.length - 7));
    assert.ok(await isClosed(fh));
  });

  it('stops and closes the file when the destination is destroyed mid-stream', async () => {
    const { fh, s } = await stream(0, body.length);
    const dest = new PassThrough({ highWaterMark: 1 });
    let received = 0;
    dest.on('data', (c: Buffer) => {
      received += c.length;
      if (received >= 1024 * 1024) dest.destroy();
    });
    s.pipe(dest);
    s.on('close', () => {});
    await new Promise((r) => dest.on('close', r));
    s.destroy();
    await new Promise((r) => s.on('close', r));
    assert.ok(received < body.length);
    assert.ok(await isClosed(fh));
  });

  it('fails when the file is shorter than promised', async () => {
    const { s } = await stream(0, body.length + 10);
    await assert.rejects(pipeline(s, collector([])), /ended before the expected length/);
  });
});
