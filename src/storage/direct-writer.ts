// Upload bytes written with O_DIRECT: straight from our buffer to the disk, not through the page cache.
//
// Every blob is fdatasynced before it is committed, so a buffered write copies each byte into the page
// cache only to write it out again moments later. Writing directly skips the copy and the page
// allocation. On the 2-core VM of docs/benchmarks.md a 1 GiB buffered write plus fdatasync took
// 1.3–2.7 s (most of it the kernel providing fresh pages), a direct one 0.4–0.5 s.
//
// O_DIRECT needs the memory address, the length and the file position of each write aligned to the
// device's logical block. Node cannot align a Buffer, but a WebAssembly.Memory is mmap'ed, so it
// starts on a page boundary; it is cut into 1 MiB staging buffers. The unaligned head (an append
// that starts mid-block) and tail (the last partial block) go through the ordinary, buffered handle.
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

/** Alignment for position and length: a page covers every logical block size in use. */
const BLOCK = 4096;
export const STAGE = 1024 * 1024;
/** Staging buffers per WebAssembly.Memory (64 KiB wasm pages). */
const SLAB_BUFFERS = 8;
/** At most this many staging buffers exist (32 MiB); an upload that finds none writes buffered. */
const MAX_BUFFERS = 32;
/** The pool is made on the first upload and dropped (for the GC to unmap) once it has sat unused this long. */
export const IDLE_RELEASE_MS = 30_000;

let free: Buffer[] = [];
let created = 0;
let idleTimer: ReturnType<typeof setTimeout> | undefined;

/** Bytes written with O_DIRECT by this process (tests check that the path is taken). */
export const directStats = { bytes: 0 };

/** Staging bytes this process holds now (in use or free); 0 before the first upload and after an idle spell. */
export function stagingBytes(): number {
  return created * STAGE;
}

/** Two aligned staging buffers, or null when the pool is exhausted. */
export function acquireStages(): [Buffer, Buffer] | null {
  clearTimeout(idleTimer);
  idleTimer = undefined;
  while (free.length < 2 && created < MAX_BUFFERS) {
    const mem = new WebAssembly.Memory({ initial: (SLAB_BUFFERS * STAGE) >> 16, maximum: (SLAB_BUFFERS * STAGE) >> 16 });
    const slab = Buffer.from(mem.buffer);
    for (let i = 0; i < SLAB_BUFFERS; i++) free.push(slab.subarray(i * STAGE, (i + 1) * STAGE));
    created += SLAB_BUFFERS;
  }
  if (free.length < 2) return null;
  return [free.pop()!, free.pop()!];
}

export function releaseStages(stages: readonly Buffer[]): void {
  free.push(...stages);
  // All back: nobody is uploading. An idle registry should not keep the slabs resident.
  if (free.length === created && !idleTimer) {
    idleTimer = setTimeout(() => {
      idleTimer = undefined;
      if (free.length !== created) return;
      free = [];
      created = 0;
    }, IDLE_RELEASE_MS);
    idleTimer.unref();
  }
}

/**
 * Writes a stream to a file from `position` on. Whole 1 MiB stages go out through `openDirect()`
 * (opened on the first full stage, so small uploads never open it), one write in flight while the
 * next stage fills; everything else through `buffered`. Bytes received before a failure or an
 * abort are still written, in order, so `written` is always a contiguous prefix.
 */
export class DirectWriter extends Writable {
  written = 0;
  private direct: FileHandle | null = null;
  private directFailed = false;
  private stage: Buffer;
  private spare: Buffer;
  private fill = 0;
  /** File position of stage[0]. */
  private stageAt: number;
  /** Bytes still to go to `buffered` before the position is block-aligned. */
  private head: number;
  private inflight: Promise<void> = Promise.resolve();
  /** Serialises _write, _final and _destroy: destroy() does not wait for a pending _write. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly buffered: FileHandle,
    private readonly openDirect: () => Promise<FileHandle | null>,
    position: number,
    stages: [Buffer, Buffer],
  ) {
    super({ highWaterMark: STAGE });
    [this.stage, this.spare] = stages;
    this.head = (BLOCK - (position % BLOCK)) % BLOCK;
    this.stageAt = position;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.run(() => this.add(chunk)).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.run(() => this.finish()).then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Keep what arrived: a client resuming a chunked upload asks where it ended.
    this.run(() => this.finish()).then(
      () => cb(err),
      () => cb(err),
    );
  }

  private run(op: () => Promise<void>): Promise<void> {
    const next = this.chain.then(op);
    this.chain = next.catch(() => {});
    return next;
  }

  private async add(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      if (this.head > 0) {
        // Until aligned, bytes go straight to the buffered handle (at most one block).
        const n = Math.min(this.head, chunk.length - off);
        await this.writeBuffered(chunk.subarray(off, off + n), this.stageAt);
        this.stageAt += n;
        this.head -= n;
        off += n;
        continue;
      }
      const n = chunk.copy(this.stage, this.fill, off, Math.min(chunk.length, off + STAGE - this.fill));
      this.fill += n;
      off += n;
      if (this.fill === STAGE) await this.sendStage();
    }
  }

  /** Starts writing the full stage and swaps in the spare, once the previous write is done. */
  private async sendStage(): Promise<void> {
    await this.inflight;
    const buf = this.stage;
    const at = this.stageAt;
    this.stage = this.spare;
    this.spare = buf;
    this.stageAt += STAGE;
    this.fill = 0;
    // Awaited by the next sendStage or finish; a failure surfaces there.
    this.inflight = this.writeBlocks(buf, STAGE, at);
    this.inflight.catch(() => {});
  }

  private async finish(): Promise<void> {
    try {
      await this.inflight;
      const whole = this.fill - (this.fill % BLOCK);
      if (whole > 0) await this.writeBlocks(this.stage, whole, this.stageAt);
      if (this.fill > whole) await this.writeBuffered(this.stage.subarray(whole, this.fill), this.stageAt + whole);
      this.stageAt += this.fill;
      this.fill = 0;
    } finally {
      await this.direct?.close().catch(() => {});
      this.direct = null;
      if (this.stage.length) {
        releaseStages([this.stage, this.spare]);
        this.stage = this.spare = Buffer.alloc(0);
      }
    }
  }

  private async writeBlocks(buf: Buffer, length: number, at: number): Promise<void> {
    if (!this.direct && !this.directFailed) {
      this.direct = await this.openDirect();
      this.directFailed = !this.direct;
    }
    if (this.direct) {
      try {
        await writeAll(this.direct, buf.subarray(0, length), at);
        this.written += length;
        directStats.bytes += length;
        return;
      } catch (err) {
        // EINVAL: this filesystem or device takes no direct writes after all; carry on buffered.
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
        this.directFailed = true;
        await this.direct.close().catch(() => {});
        this.direct = null;
      }
    }
    await this.writeBuffered(buf.subarray(0, length), at);
  }

  private async writeBuffered(buf: Buffer, at: number): Promise<void> {
    await writeAll(this.buffered, buf, at);
    this.written += buf.length;
  }
}

async function writeAll(fh: FileHandle, buf: Buffer, at: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, at + done);
    done += bytesWritten;
  }
}
