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

/** One more staging buffer if the pool has one free (none is made for it), else null. */
export function acquireStage(): Buffer | null {
  return free.pop() ?? null;
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
 * next stages fill; everything else through `buffered`. A writer that can borrow two more stages
 * from the pool writes two at a time (one pwritev of 2 MiB): on the test VM a direct write costs
 * ~1.8 ms per MiB inside the server against ~0.8 ms back to back (the wake-ups between writes), and
 * ext4 runs direct writes that extend a file one at a time, so larger writes, not more, go faster.
 * Bytes received before a failure or an abort are still written, in order, so `written` is always
 * a contiguous prefix.
 */
export class DirectWriter extends Writable {
  written = 0;
  private direct: FileHandle | null = null;
  private directFailed = false;
  private stage: Buffer;
  /** Stages held and not in use. */
  private readonly idle: Buffer[];
  /** Every stage held, released together at the end. */
  private readonly owned: Buffer[];
  /** Full stages waiting to be written together, and how many make a write. */
  private batch: Buffer[] = [];
  private group = 0;
  private fill = 0;
  /** File position of batch[0] (or of stage[0] when the batch is empty). */
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
    this.owned = [...stages];
    [this.stage, ...this.idle] = this.owned;
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
        await this.writeBuffered([chunk.subarray(off, off + n)], this.stageAt);
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

  /** Queues the full stage; a full batch starts writing once the previous write is done. */
  private async sendStage(): Promise<void> {
    if (this.group === 0) {
      // The first full stage: a large upload. Borrowed only now, so small ones never hold more than two.
      for (let i = 0; i < 2; i++) {
        const more = acquireStage();
        if (!more) break;
        this.owned.push(more);
        this.idle.push(more);
      }
      this.group = this.owned.length >> 1;
    }
    this.batch.push(this.stage);
    this.fill = 0;
    if (this.batch.length === this.group) {
      await this.inflight;
      const bufs = this.batch;
      const at = this.stageAt;
      this.batch = [];
      this.stageAt += bufs.length * STAGE;
      // Awaited by the next write or finish; a failure surfaces there.
      this.inflight = this.writeBlocks(bufs, at).then(() => void this.idle.push(...bufs));
      this.inflight.catch(() => {});
    }
    this.stage = this.idle.pop() ?? (await this.inflight.then(() => this.idle.pop()!));
  }

  private async finish(): Promise<void> {
    try {
      await this.inflight;
      if (this.stage.length) {
        const whole = this.fill - (this.fill % BLOCK);
        const bufs = whole > 0 ? [...this.batch, this.stage.subarray(0, whole)] : this.batch;
        this.batch = [];
        if (bufs.length) await this.writeBlocks(bufs, this.stageAt);
        this.stageAt += bufs.reduce((n, b) => n + b.length, 0);
        if (this.fill > whole) await this.writeBuffered([this.stage.subarray(whole, this.fill)], this.stageAt);
        this.stageAt += this.fill - whole;
        this.fill = 0;
      }
    } finally {
      await this.direct?.close().catch(() => {});
      this.direct = null;
      if (this.owned.length) {
        releaseStages(this.owned.splice(0));
        this.stage = Buffer.alloc(0);
      }
    }
  }

  private async writeBlocks(bufs: Buffer[], at: number): Promise<void> {
    if (!this.direct && !this.directFailed) {
      this.direct = await this.openDirect();
      this.directFailed = !this.direct;
    }
    if (this.direct) {
      try {
        const n = await writeAll(this.direct, bufs, at);
        this.written += n;
        directStats.bytes += n;
        return;
      } catch (err) {
        // EINVAL: this filesystem or device takes no direct writes after all; carry on buffered.
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
        this.directFailed = true;
        await this.direct.close().catch(() => {});
        this.direct = null;
      }
    }
    await this.writeBuffered(bufs, at);
  }

  private async writeBuffered(bufs: Buffer[], at: number): Promise<void> {
    this.written += await writeAll(this.buffered, bufs, at);
  }
}

/** Writes all of `bufs` at `at` (one pwritev unless the kernel takes less); resolves to the bytes written. */
async function writeAll(fh: FileHandle, bufs: Buffer[], at: number): Promise<number> {
  let done = (await fh.writev(bufs, at)).bytesWritten;
  // A short write (rare): the rest buffer by buffer, from the same (aligned) memory.
  let start = 0;
  for (const b of bufs) {
    while (done < start + b.length) {
      const off = done - start;
      done += (await fh.write(b, off, b.length - off, at + done)).bytesWritten;
    }
    start += b.length;
  }
  return done;
}
