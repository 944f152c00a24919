// Reading image layers as streams: the compression is sniffed from the first bytes (gzip, zstd or none,
// whatever the media type claims), the tar is walked entry by entry, and no entry is held in memory
// unless the caller reads it. Whiteouts are reported as such; applying them is the caller's business.
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { Decompress } from 'fzstd';
import tar from 'tar-stream';

export class LayerFormatError extends Error {}

const GZIP = Buffer.from([0x1f, 0x8b]);
const ZSTD = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** A zstd skippable frame (magic 0x184D2A50-5F, little endian) may open a stream too. */
function isSkippableFrame(head: Buffer): boolean {
  return head.length === 4 && (head[0] & 0xf0) === 0x50 && head[1] === 0x2a && head[2] === 0x4d && head[3] === 0x18;
}

class ZstdDecompress extends Transform {
  private readonly d = new Decompress((chunk) => {
    this.push(Buffer.from(chunk));
  });
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.d.push(chunk);
      cb();
    } catch (err) {
      cb(new LayerFormatError(`zstd: ${(err as Error).message}`));
    }
  }
  override _flush(cb: TransformCallback): void {
    try {
      this.d.push(new Uint8Array(0), true);
      cb();
    } catch (err) {
      cb(new LayerFormatError(`zstd: ${(err as Error).message}`));
    }
  }
}

/** The stream with its first bytes put back, and those bytes. */
async function peek(src: Readable, n: number): Promise<{ head: Buffer; stream: AsyncIterable<Buffer> }> {
  const it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const pending: Buffer[] = [];
  let have = 0;
  while (have < n) {
    const r = await it.next();
    if (r.done) break;
    pending.push(r.value);
    have += r.value.length;
  }
  async function* rest() {
    yield* pending;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  return { head: Buffer.concat(pending).subarray(0, n), stream: rest() };
}

export type EntryKind = 'file' | 'directory' | 'symlink' | 'link' | 'whiteout' | 'opaque' | 'other';

export interface LayerEntry {
  /** Path relative to the root, without a leading `./` or `/`; for a whiteout, the path it deletes. */
  path: string;
  kind: EntryKind;
  size: number;
  mode: number;
  linkname?: string;
}

export function normalizePath(name: string): string {
  const parts: string[] = [];
  for (const p of name.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return parts.join('/');
}

function entryOf(h: tar.Header): LayerEntry {
  const path = normalizePath(h.name);
  const slash = path.lastIndexOf('/');
  const dir = slash < 0 ? '' : path.slice(0, slash);
  const base = path.slice(slash + 1);
  const size = h.size ?? 0;
  const mode = h.mode ?? 0;
  if (base === '.wh..wh..opq') return { path: dir, kind: 'opaque', size, mode };
  if (base.startsWith('.wh.')) return { path: dir ? `${dir}/${base.slice(4)}` : base.slice(4), kind: 'whiteout', size, mode };
  const t = h.type;
  const kind: EntryKind =
    t === 'file' || t === 'contiguous-file' ? 'file' : t === 'directory' ? 'directory' : t === 'symlink' ? 'symlink' : t === 'link' ? 'link' : 'other';
  return { path, kind, size, mode, ...(h.linkname ? { linkname: normalizePath(h.linkname) } : {}) };
}

/**
 * Walks the tar entries of one layer blob. `visit` may read `body` (to the end or not); what it leaves
 * unread is skipped without buffering.
 */
export async function walkLayer(src: Readable, visit: (entry: LayerEntry, body: AsyncIterable<Buffer>) => Promise<void>): Promise<void> {
  const { head, stream } = await peek(src, 4);
  const extract = tar.extract();
  const source = Readable.from(stream, { objectMode: false });
  const decoder = head.subarray(0, 2).equals(GZIP) ? zlib.createGunzip() : head.equals(ZSTD) || isSkippableFrame(head) ? new ZstdDecompress() : null;
  // tar-stream's extract is a streamx Writable, which node's pipeline drives like its own
  const sink = extract as unknown as NodeJS.WritableStream;
  const feeding = decoder ? pipeline(source, decoder, sink) : pipeline(source, sink);
  let feedError: unknown;
  feeding.catch((err) => {
    feedError = err;
  });
  try {
    for await (const entry of extract) {
      await visit(entryOf(entry.header), entry as AsyncIterable<Buffer>);
      entry.resume();
    }
    await feeding;
  } catch (err) {
    throw asLayerError(feedError ?? err);
  } finally {
    src.destroy();
  }
}

function asLayerError(err: unknown): Error {
  if (err instanceof LayerFormatError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.code?.startsWith('Z_') || /tar|header|gzip|unexpected end/i.test(e?.message ?? '')) return new LayerFormatError(e.message);
  return e instanceof Error ? e : new Error(String(err));
}

/** Reads a body to the end, keeping at most `max` bytes; null when it was longer. */
export async function readCapped(body: AsyncIterable<Buffer>, max: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  for await (const chunk of body) {
    if (over) continue;
    size += chunk.length;
    if (size > max) {
      over = true;
      chunks.length = 0;
      continue;
    }
    chunks.push(chunk);
  }
  return over ? null : Buffer.concat(chunks);
}
