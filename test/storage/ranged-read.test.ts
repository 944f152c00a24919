// Parallel ranged reads (storage/ranged-read.ts): parts answered out of order come out in order,
// no more than `ahead` requests run at once, and a failure or a consumer that goes away aborts every
// request in flight and starts no more.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { RangedRead, splitParts, type Part } from '../../src/storage/ranged-read.js';

const objects: Record<string, Buffer> = { a: randomBytes(300_001), b: randomBytes(70_000) };

/** A fake object store: each GET answers after `delay(part)` ticks, in chunks of up to 7,000 bytes. */
function store(opts: { delay?: (p: Part) => number; fail?: (p: Part) => Error | null; short?: (p: Part) => boolean } = {}) {
  const s = { started: [] as Part[], active: 0, maxActive: 0, aborted: 0, finished: 0 };
  const fetchPart = async (p: Part, signal: AbortSignal): Promise<Readable> => {
    s.started.push(p);
    s.active++;
    s.maxActive = Math.max(s.maxActive, s.active);
    let done = false;
    const settle = (how: 'aborted' | 'finished') => {
      if (done) return;
      done = true;
      s.active--;
      s[how]++;
    };
    signal.addEventListener('abort', () => settle('aborted'));
    const bytes = objects[p.key].subarray(p.start, p.end + 1 - (opts.short?.(p) ? 1 : 0));
    const failure = opts.fail?.(p) ?? null;
    const body = new Readable({ read() {} });
    body.on('end', () => settle('finished'));
    body.on('close', () => settle('aborted'));
    void (async () => {
      for (let i = 0; i < (opts.delay?.(p) ?? 0); i++) await tick();
      for (let off = 0; off < bytes.length && !body.destroyed; ) {
        const n = 1 + Math.floor(Math.random() * 7000);
        body.push(bytes.subarray(off, off + n));
        off += n;
        await tick();
        if (failure && off > bytes.length / 2) return void body.destroy(failure);
      }
      if (!body.destroyed) body.push(null);
    })();
    return body;
  };
  return { s, fetchPart };
}

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('RangedRead', () => {
  it('splits ranges of several objects into windows, in order', () => {
    assert.deepEqual(
      splitParts(
        [
          { key: 'a', start: 5, end: 24 },
          { key: 'b', start: 0, end: 9 },
        ],
        10,
      ),
      [
        { key: 'a', start: 5, end: 14 },
        { key: 'a', start: 15, end: 24 },
        { key: 'b', start: 0, end: 9 },
      ],
    );
  });

  it('reassembles parts answered in reverse order, with at most `ahead` requests at once', async () => {
    // Later parts answer first: part i waits (40 - i) ticks.
    const { s, fetchPart } = store({ delay: (p) => 40 - Math.floor(p.start / 20_000) });
    const parts = splitParts(
      [
        { key: 'a', start: 3, end: 300_000 },
        { key: 'b', start: 0, end: 69_999 },
      ],
      20_000,
    );
    const got = await collect(new RangedRead(fetchPart, parts, 4));
    assert.deepEqual(got, Buffer.concat([objects.a.subarray(3), objects.b]));
    assert.equal(s.started.length, parts.length);
    assert.equal(s.maxActive, 4);
    assert.equal(s.aborted, 0);
  });

  it('streams through a slow consumer with the same bytes', async () => {
    const { fetchPart } = store();
    const parts = splitParts([{ key: 'a', start: 0, end: 300_000 }], 64_000);
    const chunks: Buffer[] = [];
    const slow = new Writable({
      highWaterMark: 1,
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        setImmediate(cb);
      },
    });
    await pipeline(new RangedRead(fetchPart, parts, 3), slow);
    assert.deepEqual(Buffer.concat(chunks), objects.a);
  });

  it('fails when a part fails, aborting the requests in flight and starting no more', async () => {
    const { s, fetchPart } = store({ fail: (p) => (p.start === 40_000 ? new Error('connection reset') : null), delay: (p) => (p.start === 40_000 ? 0 : 30) });
    const parts = splitParts([{ key: 'a', start: 0, end: 300_000 }], 20_000);
    await assert.rejects(collect(new RangedRead(fetchPart, parts, 4)), /connection reset/);
    await tick();
    assert.equal(s.started.length, 4, 'no part is requested after the failure');
    assert.equal(s.active, 0, 'every request in flight was aborted');
    assert.ok(s.aborted >= 3);
  });

  it('fails when a part is shorter than asked', async () => {
    const { fetchPart } = store({ short: (p) => p.start === 100_000 });
    const parts = splitParts([{ key: 'a', start: 0, end: 300_000 }], 50_000);
    await assert.rejects(collect(new RangedRead(fetchPart, parts, 2)), /a bytes 100000-149999: got 49999 bytes/);
  });

  it('a consumer that goes away mid-stream aborts every request in flight and starts no more', async () => {
    const { s, fetchPart } = store({ delay: () => 5 });
    const parts = splitParts([{ key: 'a', start: 0, end: 300_000 }], 10_000);
    const r = new RangedRead(fetchPart, parts, 4);
    let received = 0;
    r.on('data', (c: Buffer) => {
      received += c.length;
      if (received > 50_000) r.destroy();
    });
    await once(r, 'close');
    await tick();
    const started = s.started.length;
    assert.ok(started < parts.length, `${started} of ${parts.length} parts requested`);
    assert.equal(s.active, 0, 'every request in flight was aborted');
    for (let i = 0; i < 50; i++) await tick();
    assert.equal(s.started.length, started, 'nothing was requested after the stream was destroyed');
  });

  it('uses an already answered first part without asking for it again', async () => {
    const { s, fetchPart } = store();
    const parts = splitParts([{ key: 'b', start: 0, end: 69_999 }], 30_000);
    const abort = new AbortController();
    const first = await fetchPart(parts[0], abort.signal);
    const got = await collect(new RangedRead(fetchPart, parts, 2, { body: first, abort }));
    assert.deepEqual(got, objects.b);
    assert.equal(s.started.length, parts.length);
  });

  it('an empty list of parts is an empty stream', async () => {
    const { fetchPart } = store();
    assert.equal((await collect(new RangedRead(fetchPart, [], 4))).length, 0);
  });
});
