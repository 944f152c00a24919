// S3-compatible storage driver (AWS S3, Ceph RGW, MinIO, Aliyun OSS) on the AWS SDK v3.
//
// Objects map 1:1 to S3 objects under `rootdirectory`. Upload sessions live entirely in the
// bucket, so any replica can continue or commit any session (see docs/storage.md):
//
//   uploads/<id>/info            marker: the session exists
//   uploads/<id>/s/<offset>      a segment: a multipart upload (open) or its completed object
//   uploads/<id>/t/<offset>      the tail: bytes after the segments, shorter than a part (< 5 MiB)
//
// The names carry the byte offset where each piece starts, and the session's bytes are the
// chain that starts at offset 0: segments, then the open multipart upload's consecutive parts,
// then the tail. A piece that does not continue the chain (a tail whose bytes already went
// into a part before a crash) is ignored, so every single write leaves a consistent session.
// An append reads the tail back (at most one part is buffered per request), cuts the body
// into parts of `chunksize`, and leaves a new tail when the rest is shorter than 5 MiB.
// Reading a session (to hash it when no hash state survived) completes the open multipart
// upload into its segment object first, and so does publishing it (uploadPublish: a blob fetched
// from an upstream registry is read by other clients, on any replica, while it arrives; the next
// append opens a new multipart upload); commit completes it with the tail as its last part
// and copies the result to the blob's key (CopyObject, or UploadPartCopy above the threshold
// and always above 5 GiB).
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type ServerSideEncryption,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ConfigError, type S3Config } from '../config/index.js';
import { rethrowFull } from '../errors/storage-full.js';
import { RangedRead, splitParts, type Part } from './ranged-read.js';
import { NotFoundError, OffsetMismatchError, type ByteRange, type StorageDriver, type StoredObject, type StoredUpload } from './driver.js';

const KEY_RE = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;
const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const MiB = 1024 * 1024;
/** S3's smallest part (all but the last part of a multipart upload). */
export const MIN_PART = 5 * MiB;
/** S3's largest single CopyObject (and part). */
export const MAX_SINGLE_COPY = 5 * 1024 * MiB;
const MAX_PARTS = 10_000;
/** Reads longer than this go out as ranged GETs of this size, READ_AHEAD at a time (ranged-read.ts). */
const READ_WINDOW = 8 * MiB;
const READ_AHEAD = 4;
const OFFSET_DIGITS = 16;

export interface S3DriverOptions {
  /** Answer redirectUrl() with presigned GET URLs (storage.redirect.disable = false). */
  redirect?: boolean;
  /** Override the part limit (tests); S3 allows 10,000 parts per multipart upload. */
  maxParts?: number;
}

interface Piece {
  key: string;
  start: number;
  size: number;
}

interface MultipartInfo {
  key: string;
  uploadId: string;
  initiated: number;
}

interface OpenMultipart {
  key: string;
  uploadId: string;
  start: number;
  parts: { PartNumber: number; ETag: string; size: number }[];
  size: number;
}

interface Session {
  size: number;
  /** Completed segment objects, contiguous from offset 0. */
  segments: Piece[];
  /** The open multipart upload that continues the segments, if any. */
  mpu?: OpenMultipart;
  /** The tail object at the end of the chain, if any. */
  tail?: Piece;
}

export class S3Driver implements StorageDriver {
  readonly name = 's3';
  readonly minChunkLength: number;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly root: string;
  private readonly write: { ServerSideEncryption?: ServerSideEncryption; SSEKMSKeyId?: string; StorageClass?: StorageClass };
  private readonly maxParts: number;

  constructor(
    private readonly config: S3Config,
    private readonly options: S3DriverOptions = {},
  ) {
    if (!config.v4auth) throw new ConfigError('storage.s3.v4auth: false is not supported (the AWS SDK v3 signs with SigV4 only)');
    if (config.chunksize < MIN_PART || config.chunksize > MAX_SINGLE_COPY) throw new ConfigError('storage.s3.chunksize: must be between 5 MiB and 5 GiB');
    this.bucket = config.bucket;
    const root = config.rootdirectory.replace(/^\/+|\/+$/g, '');
    this.root = root ? `${root}/` : '';
    this.minChunkLength = config.chunksize;
    this.maxParts = options.maxParts ?? MAX_PARTS;
    this.write = {};
    if (config.encrypt) {
      this.write.ServerSideEncryption = config.keyid ? 'aws:kms' : 'AES256';
      if (config.keyid) this.write.SSEKMSKeyId = config.keyid;
    }
    if (config.storageclass && !['STANDARD', 'NONE'].includes(config.storageclass.toUpperCase())) {
      this.write.StorageClass = config.storageclass as StorageClass;
    }
    let endpoint = config.regionendpoint || undefined;
    if (endpoint && !/^https?:\/\//.test(endpoint)) endpoint = `${config.secure ? 'https' : 'http'}://${endpoint}`;
    // Aliyun OSS refuses path-style requests (SecondLevelDomainForbidden) on every call: say so at start-up.
    if (endpoint && config.forcepathstyle && /(^|\.)aliyuncs\.com$/i.test(hostOf(endpoint)))
      throw new ConfigError('storage.s3.forcepathstyle: Aliyun OSS accepts only virtual-hosted requests (bucket.endpoint): set it to false');
    const agentOptions = { keepAlive: true, maxSockets: 256 };
    this.client = new S3Client({
      region: config.region,
      endpoint,
      forcePathStyle: config.forcepathstyle,
      credentials: config.accesskey ? { accessKeyId: config.accesskey, secretAccessKey: config.secretkey } : undefined,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 4,
      requestHandler: {
        httpAgent: new http.Agent(agentOptions),
        httpsAgent: new https.Agent({ ...agentOptions, rejectUnauthorized: !config.skipverify }),
        connectionTimeout: 10_000,
      },
    });
    // Every call: a bucket or cluster without room (RGW's QuotaExceeded, MinIO's free-space
    // threshold, HTTP 507) becomes the registry's StorageFullError (507 to the client).
    this.client.middlewareStack.add(
      (next) => async (args) => {
        try {
          return await next(args);
        } catch (err) {
          rethrowFull(err, 'storage');
        }
      },
      { step: 'initialize', name: 'berthStorageFull' },
    );
    // DeleteObjects must carry a checksum of its body. The SDK sends CRC32 (x-amz-checksum-crc32), which
    // Aliyun OSS rejects: it requires Content-MD5, as AWS S3 did before 2025 (AWS, RGW and MinIO accept it).
    // Low priority in the build step: after the SDK's checksum middleware, before signing.
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'DeleteObjectsCommand') contentMd5Instead(args.request);
        return next(args);
      },
      { step: 'build', priority: 'low', name: 'berthDeleteObjectsContentMd5' },
    );
  }

  // ------------------------------------------------------------------------------------
  // Objects

  async stat(key: string): Promise<{ size: number } | null> {
    return this.head(this.k(key));
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    // A range longer than one window (a blob GET always names its range): several ranged GETs at once.
    if (range && range.end - range.start + 1 > READ_WINDOW) return this.readParts([{ key: this.k(key), start: range.start, end: range.end }], key);
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.k(key), Range: range ? `bytes=${range.start}-${range.end}` : undefined }),
      );
      return res.Body as Readable;
    } catch (err) {
      if (isS3NotFound(err)) throw new NotFoundError(key);
      // A range that starts at or past the end: nothing to read (as the filesystem driver).
      if (statusOf(err) === 416) return Readable.from([]);
      throw err;
    }
  }

  async put(key: string, body: Buffer): Promise<void> {
    await this.putRaw(this.k(key), body);
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
  }

  /** Removes several objects with DeleteObjects (1,000 per request); absent keys are fine. */
  async deleteMany(keys: readonly string[]): Promise<void> {
    await this.deleteRaw(keys.map((k) => this.k(k)));
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    for await (const o of this.listRaw(this.root + prefix)) yield { ...o, key: o.key.slice(this.root.length) };
  }

  /**
   * Sessions by their objects (the `info` marker, segments, tail; keys come sorted, so one session's objects
   * are adjacent), then multipart uploads whose session has no objects left (a crash while removing it).
   */
  async *listUploads(): AsyncIterable<StoredUpload> {
    const base = `${this.root}uploads/`;
    const idOf = (key: string) => /^([A-Za-z0-9_-]{1,64})\//.exec(key.slice(base.length))?.[1];
    let current: StoredUpload | undefined;
    for await (const o of this.listRaw(base)) {
      const id = idOf(o.key);
      if (!id) continue;
      if (current && current.id !== id) yield current;
      if (current?.id === id) current.modified = Math.max(current.modified, o.modified);
      else current = { id, modified: o.modified };
    }
    if (current) yield current;
    for await (const u of this.listMultipartPages(base)) {
      const id = idOf(u.key);
      if (id && !(await this.head(this.u(id, 'info')))) yield { id, modified: u.initiated };
    }
  }

  /** Multipart uploads under blobs/: a commit's UploadPartCopy that a crash left open (its parts take space). */
  async removeDebris(before: number, dryRun = false): Promise<{ pieces: number; bytes: number }> {
    const found = { pieces: 0, bytes: 0 };
    for await (const u of this.listMultipartPages(`${this.root}blobs/`)) {
      if (u.initiated >= before) continue;
      if (!dryRun) await this.abort(u.key, u.uploadId);
      found.pieces++;
    }
    return found;
  }

  /** A presigned GET URL for the object, or null when redirects are disabled. */
  async redirectUrl(key: string): Promise<string | null> {
    if (!this.options.redirect) return null;
    const expiresIn = Math.max(1, Math.min(7 * 24 * 3600, Math.floor(this.config.redirectexpiry / 1000)));
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.k(key) }), { expiresIn });
  }

  // ------------------------------------------------------------------------------------
  // Upload sessions

  async uploadCreate(id: string): Promise<void> {
    await this.putRaw(this.u(id, 'info'), Buffer.alloc(0));
  }

  async uploadSize(id: string): Promise<number | null> {
    return (await this.session(id))?.size ?? null;
  }

  async uploadAppend(id: string, offset: number, body: Readable): Promise<number> {
    // The body may fail while we look the session up; the loop below reports it (body.errored).
    body.on('error', () => {});
    const s = await this.session(id);
    if (!s) throw new NotFoundError(`upload ${id}`);
    if (s.size !== offset) throw new OffsetMismatchError(s.size, offset);

    const chunk = this.config.chunksize;
    let buf: Buffer | undefined;
    let fill = 0;
    let start = offset; // offset of buf[0]
    let received = 0;
    // The tail's bytes go first into the buffer; its object stays until they are stored again.
    let oldTail = s.tail;
    if (oldTail) {
      buf = Buffer.allocUnsafe(chunk);
      fill = (await this.readInto(oldTail.key, buf)) as number;
      if (fill !== oldTail.size) throw new Error(`s3: tail of upload ${id} changed while reading it`);
      start = oldTail.start;
    }
    const flush = async (): Promise<void> => {
      await this.appendPart(id, s, buf!.subarray(0, fill), start);
      start += fill;
      fill = 0;
      if (oldTail) {
        await this.deleteRaw([oldTail.key]).catch(() => {}); // stale once its bytes are in a part
        oldTail = undefined;
      }
    };
    const finish = async (): Promise<void> => {
      if (received === 0) return; // an empty body changes nothing (the tail is still stored)
      if (fill >= MIN_PART) await flush();
      else if (fill > 0) {
        await this.putRaw(this.u(id, `t/${pad(start)}`), buf!.subarray(0, fill));
        if (oldTail && oldTail.start !== start) await this.deleteRaw([oldTail.key]).catch(() => {});
      }
    };
    try {
      // Awaiting inside the loop pauses the body while a part uploads: backpressure.
      for await (const c of body) {
        let data = c as Buffer;
        received += data.length;
        while (data.length > 0) {
          buf ??= Buffer.allocUnsafe(chunk);
          const n = Math.min(data.length, chunk - fill);
          data.copy(buf, fill, 0, n);
          fill += n;
          data = data.subarray(n);
          if (fill === chunk) await flush();
        }
      }
    } catch (err) {
      // Keep what arrived, as the filesystem driver does: the client may resume from there.
      await finish().catch(() => {});
      throw err;
    }
    await finish();
    return offset + received;
  }

  async uploadRead(id: string): Promise<Readable> {
    let s = await this.session(id);
    if (!s) throw new NotFoundError(`upload ${id}`);
    if (s.mpu) {
      // Parts of an open multipart upload cannot be read: complete it into its segment object.
      await this.complete(s.mpu, s.mpu.parts);
      s = { ...s, segments: [...s.segments, { key: s.mpu.key, start: s.mpu.start, size: s.mpu.size }], mpu: undefined };
    }
    const pieces = s.tail ? [...s.segments, s.tail] : s.segments;
    return this.readRanges(pieces.map((p) => ({ key: p.key, from: 0, to: p.size })));
  }

  /** Completes the open multipart upload into its segment object: parts of one cannot be read. */
  async uploadPublish(id: string): Promise<number> {
    const s = await this.session(id);
    if (!s) throw new NotFoundError(`upload ${id}`);
    if (s.mpu) await this.complete(s.mpu, s.mpu.parts);
    return s.size;
  }

  /**
   * Reads from the segments and the tail. Bytes an append moved from a published tail into a part of a new
   * multipart upload are unreadable until the writer publishes again: the caller retries.
   */
  async uploadReadFrom(id: string, range: ByteRange): Promise<Readable> {
    const s = await this.session(id);
    if (!s) throw new NotFoundError(`upload ${id}`);
    const pieces = s.tail ? [...s.segments, s.tail] : [...s.segments];
    const ranges: { key: string; from: number; to: number }[] = [];
    let covered = range.start;
    for (const p of pieces) {
      if (p.start + p.size <= covered || p.start > range.end) continue;
      if (p.start > covered) break;
      const to = Math.min(p.size, range.end + 1 - p.start);
      ranges.push({ key: p.key, from: covered - p.start, to });
      covered = p.start + to;
    }
    if (covered <= range.end) throw new Error(`s3: bytes ${covered}-${range.end} of upload ${id} are not readable yet`);
    return this.readRanges(ranges);
  }

  async uploadCommit(id: string, key: string): Promise<void> {
    const s = await this.session(id);
    if (!s) throw new NotFoundError(`upload ${id}`);
    const pieces = [...s.segments];
    if (s.mpu) {
      const parts = [...s.mpu.parts];
      let size = s.mpu.size;
      if (s.tail) {
        // The tail becomes the last part (a last part may be shorter than 5 MiB).
        const bytes = Buffer.allocUnsafe(s.tail.size);
        await this.readInto(s.tail.key, bytes);
        parts.push(await this.uploadPart(s.mpu, parts.length + 1, bytes));
        size += bytes.length;
      }
      await this.complete(s.mpu, parts);
      pieces.push({ key: s.mpu.key, start: s.mpu.start, size });
    } else if (s.tail) {
      pieces.push(s.tail);
    }
    const target = this.k(key);
    if (pieces.length === 0) await this.putRaw(target, Buffer.alloc(0));
    else await this.copyPieces(pieces, target);
    await this.removeSession(id);
  }

  async uploadAbort(id: string): Promise<void> {
    this.u(id, '');
    await this.removeSession(id);
  }

  // ------------------------------------------------------------------------------------
  // Session state

  /** Reads the session's state from the bucket; null when it does not exist. */
  private async session(id: string): Promise<Session | null> {
    const prefix = this.u(id, '');
    const [objects, uploads] = await Promise.all([this.listAll(prefix), this.listMultipart(`${prefix}s/`)]);
    if (!objects.some((o) => o.key === `${prefix}info`)) return null;
    const segments = new Map<number, Piece>();
    const tails = new Map<number, Piece>();
    for (const o of objects) {
      const m = /^(s|t)\/(\d+)$/.exec(o.key.slice(prefix.length));
      if (!m) continue;
      const piece = { key: o.key, start: Number(m[2]), size: o.size };
      (m[1] === 's' ? segments : tails).set(piece.start, piece);
    }
    const s: Session = { size: 0, segments: [] };
    for (let p = segments.get(0); p && p.size > 0; p = segments.get(s.size)) {
      s.segments.push(p);
      s.size += p.size;
    }
    // The open multipart upload continuing the chain (the oldest one, should a race have made two).
    const open = uploads.filter((u) => u.key === `${prefix}s/${pad(s.size)}` && !segments.has(s.size));
    if (open.length > 0) {
      const { key, uploadId } = open[0];
      const parts = await this.listParts(key, uploadId);
      const mpu: OpenMultipart = { key, uploadId, start: s.size, parts: [], size: 0 };
      // Only consecutive parts from 1 count.
      for (const p of parts) {
        if (p.PartNumber !== mpu.parts.length + 1) break;
        mpu.parts.push(p);
        mpu.size += p.size;
      }
      if (mpu.parts.length > 0) {
        s.mpu = mpu;
        s.size += mpu.size;
      }
    }
    const tail = tails.get(s.size);
    if (tail && tail.size > 0) {
      s.tail = tail;
      s.size += tail.size;
    }
    return s;
  }

  /** Uploads one part (≥ 5 MiB) at `start`, opening a multipart upload when none continues the chain. */
  private async appendPart(id: string, s: Session, bytes: Buffer, start: number): Promise<void> {
    if (s.mpu && s.mpu.parts.length >= this.maxParts) {
      // Part limit reached: the multipart upload becomes a finished segment, a new one continues.
      await this.complete(s.mpu, s.mpu.parts);
      s.segments.push({ key: s.mpu.key, start: s.mpu.start, size: s.mpu.size });
      s.mpu = undefined;
    }
    if (!s.mpu) {
      const key = this.u(id, `s/${pad(start)}`);
      const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, ...this.write }));
      // Two appends racing on one session: the oldest multipart upload wins, the other backs off.
      const uploads = (await this.listMultipart(key)).filter((u) => u.key === key);
      if (uploads[0]?.uploadId !== created.UploadId) {
        await this.abort(key, created.UploadId!);
        throw new OffsetMismatchError(s.size, start);
      }
      s.mpu = { key, uploadId: created.UploadId!, start, parts: [], size: 0 };
    }
    const mpu = s.mpu;
    if (mpu.start + mpu.size !== start) throw new Error(`s3: part at ${start} does not continue upload ${id} at ${mpu.start + mpu.size}`);
    mpu.parts.push(await this.uploadPart(mpu, mpu.parts.length + 1, bytes));
    mpu.size += bytes.length;
  }

  private async uploadPart(mpu: OpenMultipart, partNumber: number, bytes: Buffer): Promise<OpenMultipart['parts'][number]> {
    const res = await this.client.send(
      new UploadPartCommand({
        Bucket: this.bucket,
        Key: mpu.key,
        UploadId: mpu.uploadId,
        PartNumber: partNumber,
        Body: bytes,
        ContentLength: bytes.length,
      }),
    );
    return { PartNumber: partNumber, ETag: res.ETag ?? '', size: bytes.length };
  }

  private async complete(mpu: { key: string; uploadId: string }, parts: { PartNumber: number; ETag: string }[]): Promise<void> {
    await this.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: mpu.key,
        UploadId: mpu.uploadId,
        MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.PartNumber, ETag: p.ETag })) },
      }),
    );
  }

  private async removeSession(id: string): Promise<void> {
    const prefix = this.u(id, '');
    const [objects, uploads] = await Promise.all([this.listAll(prefix), this.listMultipart(prefix)]);
    await Promise.all(uploads.map((u) => this.abort(u.key, u.uploadId)));
    // One DeleteObjects for the marker and every piece (the marker even if the listing missed it).
    await this.deleteRaw([`${prefix}info`, ...objects.map((o) => o.key).filter((k) => k !== `${prefix}info`)]);
  }

  private async abort(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
    } catch (err) {
      if (!isS3NotFound(err)) throw err;
    }
  }

  // ------------------------------------------------------------------------------------
  // Copies

  /**
   * Copies the concatenation of `pieces` to `target` inside the bucket: CopyObject for one
   * piece up to the threshold (never above 5 GiB), otherwise a multipart upload of
   * UploadPartCopy ranges, `multipartcopymaxconcurrency` at a time.
   */
  private async copyPieces(pieces: Piece[], target: string): Promise<void> {
    const total = pieces.reduce((n, p) => n + p.size, 0);
    if (pieces.length === 1 && total <= Math.min(this.config.multipartcopythresholdsize, MAX_SINGLE_COPY)) {
      await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: target, CopySource: this.copySource(pieces[0].key), ...this.write }));
      return;
    }
    // Part size: the configured chunk, grown to stay within 10,000 parts.
    const step = Math.min(MAX_SINGLE_COPY - MIN_PART, Math.max(this.config.multipartcopychunksize, MIN_PART, Math.ceil(total / MAX_PARTS)));
    const ranges: { key: string; from: number; to: number }[] = [];
    for (const p of pieces) {
      let from = 0;
      while (from < p.size) {
        let to = Math.min(p.size, from + step);
        // Never leave a piece's remainder shorter than 5 MiB as a part of its own.
        if (p.size - to < MIN_PART) to = p.size;
        ranges.push({ key: p.key, from, to });
        from = to;
      }
    }
    for (let i = 0; i < ranges.length - 1; i++) {
      if (ranges[i].to - ranges[i].from < MIN_PART) throw new Error('s3: cannot copy a piece shorter than 5 MiB into the middle of an object');
    }
    const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: target, ...this.write }));
    const mpu = { key: target, uploadId: created.UploadId! };
    try {
      const parts = await mapLimit(ranges, this.config.multipartcopymaxconcurrency, async (r, i) => {
        const res = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: target,
            UploadId: mpu.uploadId,
            PartNumber: i + 1,
            CopySource: this.copySource(r.key),
            CopySourceRange: `bytes=${r.from}-${r.to - 1}`,
          }),
        );
        return { PartNumber: i + 1, ETag: res.CopyPartResult?.ETag ?? '' };
      });
      await this.complete(mpu, parts);
    } catch (err) {
      await this.abort(mpu.key, mpu.uploadId).catch(() => {});
      throw err;
    }
  }

  private copySource(key: string): string {
    return `${this.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  // ------------------------------------------------------------------------------------
  // Low-level helpers (raw keys, root prefix included)

  /**
   * Streams byte ranges [from, to) of objects in order, READ_AHEAD ranged GETs of READ_WINDOW in flight
   * (ranged-read.ts). `key` (an object's own key, for a blob read) turns a first GET that finds nothing into
   * NotFoundError, and one that starts past the object's end into no bytes, as a single GET would.
   */
  private readParts(ranges: Part[], key?: string): Promise<Readable> {
    const get = (p: Part, signal: AbortSignal) =>
      this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: p.key, Range: `bytes=${p.start}-${p.end}` }), { abortSignal: signal });
    const fetchPart = async (p: Part, signal: AbortSignal): Promise<Readable> => (await get(p, signal)).Body as Readable;
    if (key === undefined) return Promise.resolve(new RangedRead(fetchPart, splitParts(ranges, READ_WINDOW), READ_AHEAD));
    // A blob read: the first part is asked for before the stream exists, so an absent object is an error
    // read() rejects with (not a body failing after a 200 went out), and a range past the object's end
    // is cut to it, as a single GET would.
    const [range] = ranges;
    const first = { key: range.key, start: range.start, end: Math.min(range.end, range.start + READ_WINDOW - 1) };
    const abort = new AbortController();
    return get(first, abort.signal).then(
      (res) => {
        const total = Number(/\/(\d+)$/.exec(res.ContentRange ?? '')?.[1] ?? Number.NaN);
        const end = Number.isFinite(total) ? Math.min(range.end, total - 1) : range.end;
        const parts = splitParts([{ ...range, end }], READ_WINDOW);
        return new RangedRead(fetchPart, parts, READ_AHEAD, { body: res.Body as Readable, abort });
      },
      (err: unknown) => {
        if (isS3NotFound(err)) throw new NotFoundError(key);
        if (statusOf(err) === 416) return Readable.from([]);
        throw err;
      },
    );
  }

  private readRanges(ranges: { key: string; from: number; to: number }[]): Promise<Readable> {
    return this.readParts(ranges.filter((r) => r.to > r.from).map((r) => ({ key: r.key, start: r.from, end: r.to - 1 })));
  }

  /** Reads a whole (small) object into `buf`; resolves to its length. */
  private async readInto(key: string, buf: Buffer): Promise<number> {
    const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    let n = 0;
    for await (const c of res.Body as Readable) {
      const b = c as Buffer;
      if (n + b.length > buf.length) throw new Error(`s3: ${key} is larger than expected`);
      b.copy(buf, n);
      n += b.length;
    }
    return n;
  }

  private async head(key: string): Promise<{ size: number } | null> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: res.ContentLength ?? 0 };
    } catch (err) {
      if (isS3NotFound(err)) return null;
      throw err;
    }
  }

  private async putRaw(key: string, body: Buffer): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentLength: body.length, ...this.write }));
  }

  private async deleteRaw(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const res = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
      const errors = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (errors.length > 0)
        throw new Error(`s3: DeleteObjects failed for ${errors.length} keys: ${errors[0].Key}: ${errors[0].Code} ${errors[0].Message ?? ''}`);
    }
  }

  /** Pages of 1,000 keys; the next page is requested while the caller works through this one. */
  private async *listRaw(prefix: string): AsyncGenerator<StoredObject> {
    const page = (token?: string) => {
      const p = this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      p.catch(() => {}); // reported when awaited; a caller that stops early leaves no unhandled rejection
      return p;
    };
    let next: ReturnType<typeof page> | undefined = page();
    while (next) {
      const res: Awaited<ReturnType<typeof page>> = await next;
      next = res.IsTruncated && res.NextContinuationToken ? page(res.NextContinuationToken) : undefined;
      for (const o of res.Contents ?? []) if (o.Key) yield { key: o.Key, size: o.Size ?? 0, modified: o.LastModified?.getTime() ?? 0 };
    }
  }

  private async listAll(prefix: string): Promise<StoredObject[]> {
    const out = [];
    for await (const o of this.listRaw(prefix)) out.push(o);
    return out;
  }

  /** Open multipart uploads under a prefix, oldest first. */
  private async listMultipart(prefix: string): Promise<MultipartInfo[]> {
    const out: MultipartInfo[] = [];
    for await (const u of this.listMultipartPages(prefix)) out.push(u);
    return out.sort((a, b) => a.initiated - b.initiated || (a.uploadId < b.uploadId ? -1 : 1));
  }

  private async *listMultipartPages(prefix: string): AsyncGenerator<MultipartInfo> {
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    for (;;) {
      const res = await this.client.send(
        new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: idMarker }),
      );
      for (const u of res.Uploads ?? []) {
        if (u.Key && u.UploadId) yield { key: u.Key, uploadId: u.UploadId, initiated: u.Initiated?.getTime() ?? 0 };
      }
      if (!res.IsTruncated) break;
      keyMarker = res.NextKeyMarker;
      idMarker = res.NextUploadIdMarker;
    }
  }

  private async listParts(key: string, uploadId: string): Promise<OpenMultipart['parts']> {
    const out: OpenMultipart['parts'] = [];
    let marker: string | undefined;
    for (;;) {
      const res = await this.client.send(new ListPartsCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker }));
      for (const p of res.Parts ?? []) out.push({ PartNumber: p.PartNumber ?? 0, ETag: p.ETag ?? '', size: p.Size ?? 0 });
      if (!res.IsTruncated) break;
      marker = res.NextPartNumberMarker;
    }
    return out.sort((a, b) => a.PartNumber - b.PartNumber);
  }

  private k(key: string): string {
    if (!KEY_RE.test(key) || key.split('/').some((p) => p === '..' || p === '.')) throw new Error(`storage: invalid key "${key}"`);
    return this.root + key;
  }

  private u(id: string, rest: string): string {
    if (!ID_RE.test(id)) throw new Error(`storage: invalid upload id "${id}"`);
    return `${this.root}uploads/${id}/${rest}`;
  }
}

/** Replaces the SDK's flexible checksum headers of a request with Content-MD5 of its (string or bytes) body. */
function contentMd5Instead(request: unknown): void {
  const req = request as { headers?: Record<string, string>; body?: unknown } | undefined;
  if (!req?.headers || !(typeof req.body === 'string' || req.body instanceof Uint8Array)) return;
  for (const name of Object.keys(req.headers)) {
    const lower = name.toLowerCase();
    if (lower.startsWith('x-amz-checksum-') || lower === 'x-amz-sdk-checksum-algorithm' || lower === 'content-md5') delete req.headers[name];
  }
  req.headers['content-md5'] = createHash('md5').update(req.body).digest('base64');
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return '';
  }
}

function pad(n: number): string {
  return String(n).padStart(OFFSET_DIGITS, '0');
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** The S3 API's "no such object" (or upload), whatever the SDK calls it. */
export function isS3NotFound(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchUpload' || statusOf(err) === 404;
}

/** Maps with at most `limit` calls in flight; results in input order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i], i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
