// Byte ranges of objects fetched with several requests in flight and streamed in order.
//
// One GET stream from an object store is limited by the store (a Ceph RGW on this project's test
// machine gives ~110 MiB/s per stream, ~170 with four). Each part is a ranged GET of its own; the
// first in order streams straight through, the ones after it are held in memory until their turn,
// so at most `ahead` parts (of a window each) are buffered. Destroying the stream, or any part
// failing, aborts every request in flight and starts no more.
import { Readable } from 'node:stream';

/** Bytes [start, end] (inclusive) of one object: a ranged GET. */
export interface Part {
  key: string;
  start: number;
  end: number;
}

/** Starts a ranged GET; the body must hold exactly the part's bytes. Rejects (or the body errors) on failure. */
export type FetchPart = (part: Part, signal: AbortSignal) => Promise<Readable>;

interface Job {
  part: Part;
  abort: AbortController;
  body: Readable | null;
  chunks: Buffer[];
  received: number;
  ended: boolean;
}

/** Cuts [start, end] of each object into parts of at most `window` bytes, in order. */
export function splitParts(ranges: readonly Part[], window: number): Part[] {
  const parts: Part[] = [];
  for (const r of ranges) for (let s = r.start; s <= r.end; s += window) parts.push({ key: r.key, start: s, end: Math.min(r.end, s + window - 1) });
  return parts;
}

export class RangedRead extends Readable {
  private readonly jobs: Job[] = [];
  private next = 0;
  /** The consumer asked for more than has been pushed. */
  private wanted = false;
  private finished = false;

  constructor(
    private readonly fetchPart: FetchPart,
    private readonly parts: readonly Part[],
    private readonly ahead: number,
    /** The first part's GET, already answered (the caller checked that the object exists). */
    first?: { body: Readable; abort: AbortController },
  ) {
    super();
    if (first) {
      this.next = 1;
      this.attach(this.track(parts[0], first.abort), first.body);
    }
    this.fill();
  }

  override _read(): void {
    this.wanted = true;
    this.deliver();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.next = this.parts.length;
    for (const job of this.jobs.splice(0)) this.stop(job);
    cb(err);
  }

  private fill(): void {
    while (this.jobs.length < this.ahead && this.next < this.parts.length && !this.destroyed) this.start(this.parts[this.next++]);
  }

  private start(part: Part): void {
    const job = this.track(part, new AbortController());
    this.fetchPart(part, job.abort.signal).then(
      (body) => this.attach(job, body),
      (err: Error) => {
        if (!job.abort.signal.aborted) this.destroy(err);
      },
    );
  }

  private track(part: Part, abort: AbortController): Job {
    const job: Job = { part, abort, body: null, chunks: [], received: 0, ended: false };
    this.jobs.push(job);
    return job;
  }

  private attach(job: Job, body: Readable): void {
    if (job.abort.signal.aborted) return void body.destroy();
    job.body = body;
    body.on('data', (c: Buffer) => {
      job.chunks.push(c);
      job.received += c.length;
      if (job === this.jobs[0]) this.deliver();
    });
    body.on('end', () => {
      job.ended = true;
      const { key, start, end } = job.part;
      if (job.received !== end - start + 1) return void this.destroy(new Error(`storage: ${key} bytes ${start}-${end}: got ${job.received} bytes`));
      if (job === this.jobs[0]) this.deliver();
    });
    body.on('error', (err) => this.destroy(err));
  }

  /** Pushes the head part's bytes while the consumer wants them; moves on when it is done. */
  private deliver(): void {
    while (this.wanted && !this.destroyed) {
      const head = this.jobs[0];
      if (!head) {
        if (this.next >= this.parts.length && !this.finished) {
          this.finished = true;
          this.push(null);
        }
        return;
      }
      const chunk = head.chunks.shift();
      if (chunk) {
        this.wanted = this.push(chunk);
        continue;
      }
      if (!head.ended) return;
      this.jobs.shift();
      this.fill();
    }
  }

  private stop(job: Job): void {
    job.abort.abort();
    job.body?.destroy();
    job.chunks = [];
  }
}
