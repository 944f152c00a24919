// A file (or byte range of one) as a Readable, with a fast path for pipe().
//
// Node has no sendfile. fs.ReadStream allocates a fresh buffer per chunk, so a
// 1 GiB pull touches 1 GiB of new memory (page faults, GC of external memory).
// When piped (Fastify pipes reply bodies), this stream instead reads into a
// few recycled 1 MiB buffers and writes each straight to the destination,
// taking a buffer back when the destination's write callback says the kernel
// has it. Measured on loopback with curl: 4.7 GB/s against 2.5 GB/s for
// fs.createReadStream with 4 MiB chunks. Other consumers (for await, on('data'))
// get the ordinary Readable path with fresh buffers.
import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';

const CHUNK = 1024 * 1024;
/** Writes in flight per stream: enough to overlap the next read with the socket. */
const DEPTH = 4;
/** Recycled buffers kept process-wide (32 MiB); more are allocated under load and dropped. */
const POOL_MAX = 32;
const pool: Buffer[] = [];

function acquire(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
}

function release(buf: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(buf);
}

export class FileReadStream extends Readable {
  private pos: number;
  private pumping = false;
  private wake: (() => void) | null = null;

  /** Streams bytes [start, end) of the open file, closing it when done or destroyed. */
  constructor(
    private readonly fh: FileHandle,
    start: number,
    private readonly end: number,
  ) {
    super({ highWaterMark: CHUNK });
    this.pos = start;
  }

  override _read(): void {
    const len = Math.min(CHUNK, this.end - this.pos);
    if (len <= 0) return void this.push(null);
    const buf = Buffer.allocUnsafe(len);
    this.fh.read(buf, 0, len, this.pos).then(
      ({ bytesRead }) => {
        if (bytesRead === 0) return void this.destroy(new Error('file ended before the expected length'));
        this.pos += bytesRead;
        this.push(bytesRead === len ? buf : buf.subarray(0, bytesRead));
      },
      (err: Error) => this.destroy(err),
    );
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.wake?.();
    this.fh.close().then(
      () => cb(err),
      (closeErr: Error) => cb(err ?? closeErr),
    );
  }

  override pipe<T extends NodeJS.WritableStream>(dest: T, opts?: { end?: boolean }): T {
    // Only the first, sole consumer takes the fast path; anything else is a plain Readable.
    if (this.pumping || this.listenerCount('data') > 0 || this.readableFlowing !== null) return super.pipe(dest, opts);
    this.pumping = true;
    this.pump(dest as unknown as Writable, opts?.end !== false).catch((err: Error) => this.destroy(err));
    return dest;
  }

  private async pump(dest: Writable, endDest: boolean): Promise<void> {
    let inflight = 0;
    let failed: Error | null = null;
    while (this.pos < this.end && !this.destroyed && !failed) {
      const buf = acquire();
      const len = Math.min(CHUNK, this.end - this.pos);
      const { bytesRead } = await this.fh.read(buf, 0, len, this.pos);
      if (this.destroyed) return release(buf);
      if (bytesRead === 0) throw new Error('file ended before the expected length');
      this.pos += bytesRead;
      inflight++;
      dest.write(bytesRead === CHUNK ? buf : buf.subarray(0, bytesRead), (err) => {
        inflight--;
        // A buffer whose write failed may still be referenced by the destination: drop it.
        if (err) failed = err;
        else release(buf);
        this.wake?.();
      });
      while (inflight >= DEPTH && !this.destroyed && !failed) await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
    if (failed) throw failed;
    if (this.destroyed) return;
    if (endDest) dest.end();
    // Finish the Readable side so listeners (Fastify's end-of-stream) see 'end' and the file closes.
    this.push(null);
    this.resume();
  }
}
