// Handlers for /v2/<name>/blobs/... : blob reads with ranges, deletes, mounts and uploads.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { RegistryError } from '../errors/catalog.js';
import { RETRY_AFTER_S } from '../errors/unavailable.js';
import { isDigest, parseDigest, type Digest } from '../oci/digest.js';
import { isValidRepositoryName } from '../oci/names.js';
import { parseContentRange, parseRangeHeader, type ByteRange } from '../oci/range.js';
import { contentLength, hasBody } from './body.js';
import { absoluteUrl, type RegistryContext, type V2Request } from './context.js';

export function digestParam(value: string | null): Digest {
  if (!value) throw new RegistryError('DIGEST_INVALID', 'digest is required');
  try {
    return parseDigest(value);
  } catch (err) {
    throw new RegistryError('DIGEST_INVALID', (err as Error).message);
  }
}

export async function getBlob(ctx: RegistryContext, r: V2Request, head: boolean): Promise<void> {
  const digest = digestParam(r.param);
  const { reply } = r;
  let size: number;
  try {
    size = await ctx.blobs.size(r.name, digest);
  } catch (err) {
    if (!(r.mirror && ctx.mirror && err instanceof RegistryError && err.code === 'BLOB_UNKNOWN')) throw err;
    // Not cached yet: from the upstream (HEAD asks it; GET streams the download), whole (a Range is ignored).
    const fetched = await ctx.mirror.blob(r.mirror, digest, head);
    if (fetched === null) size = await ctx.blobs.size(r.name, digest);
    else {
      reply.header('Docker-Content-Digest', digest.value).header('Content-Type', 'application/octet-stream').header('Content-Length', fetched.size);
      return void reply.code(200).send(head ? undefined : fetched.body);
    }
  }
  // What was just found readable, for pulls while the database is down (registry/outage-cache.ts).
  ctx.outage?.cache.rememberBlob(r.name, digest.value, size);
  return sendBlob(ctx, r, digest, size, head);
}

/** The answer to a blob GET or HEAD once its size is known: whole, one range, several, or a redirect. */
export async function sendBlob(ctx: RegistryContext, r: V2Request, digest: Digest, size: number, head: boolean): Promise<void> {
  const { reply } = r;
  reply.header('Docker-Content-Digest', digest.value);
  reply.header('ETag', `"${digest.value}"`);
  reply.header('Accept-Ranges', 'bytes');
  reply.header('Cache-Control', 'max-age=31536000');

  const rangeHeader = r.req.headers.range;
  const ranges = rangeHeader && !head ? parseRangeHeader(rangeHeader, size) : null;
  if (ranges === 'unsatisfiable') {
    reply.header('Content-Range', `bytes */${size}`);
    throw new RegistryError('RANGE_INVALID', 'requested range not satisfiable', { status: 416 });
  }
  // Storage that can serve the bytes itself (S3 with presigned URLs) gets the GET; clients follow
  // the 307 with the same Range. Multi-range requests stay here: object stores answer one range.
  if (!head && (!ranges || ranges.length === 1)) {
    // A store that is failing: a redirect to it would fail the client; so would reading from it.
    if (ctx.storageHealth && !(await ctx.storageHealth.usable()))
      throw new RegistryError('UNAVAILABLE', 'the storage is unavailable; try again later', { headers: { 'Retry-After': String(RETRY_AFTER_S.storage) } });
    const url = await ctx.blobs.redirectUrl(digest);
    if (url) {
      // The URL expires: nothing about this answer may be cached like the blob itself.
      for (const h of ['ETag', 'Accept-Ranges', 'Cache-Control']) reply.removeHeader(h);
      return void reply.code(307).header('Location', url).header('Cache-Control', 'no-store').header('Content-Length', 0).send();
    }
  }
  if (!ranges) {
    reply.header('Content-Type', 'application/octet-stream');
    reply.header('Content-Length', size);
    if (head) return void reply.code(200).send();
    // Exactly the recorded size: bytes a misbehaving client appended to a session after its
    // commit was verified can never be served.
    return void reply.code(200).send(await ctx.blobs.read(digest, size > 0 ? { start: 0, end: size - 1 } : undefined));
  }
  reply.code(206);
  if (ranges.length === 1) {
    const [range] = ranges;
    reply.header('Content-Type', 'application/octet-stream');
    reply.header('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    reply.header('Content-Length', range.end - range.start + 1);
    return void reply.send(await ctx.blobs.read(digest, range));
  }
  const boundary = randomBytes(12).toString('hex');
  const heads = ranges.map(
    (range, i) =>
      `${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes ${range.start}-${range.end}/${size}\r\n\r\n`,
  );
  const tail = `\r\n--${boundary}--\r\n`;
  const length = heads.reduce((n, h, i) => n + Buffer.byteLength(h) + ranges[i].end - ranges[i].start + 1, 0) + tail.length;
  reply.header('Content-Type', `multipart/byteranges; boundary=${boundary}`);
  reply.header('Content-Length', length);
  return void reply.send(Readable.from(multipart(ctx, digest, ranges, heads, tail)));
}

async function* multipart(ctx: RegistryContext, digest: Digest, ranges: ByteRange[], heads: string[], tail: string) {
  for (let i = 0; i < ranges.length; i++) {
    yield Buffer.from(heads[i]);
    for await (const chunk of await ctx.blobs.read(digest, ranges[i])) yield chunk as Buffer;
  }
  yield Buffer.from(tail);
}

export async function deleteBlob(ctx: RegistryContext, r: V2Request): Promise<void> {
  if (!ctx.deleteEnabled) throw new RegistryError('UNSUPPORTED', 'deletes are disabled on this registry');
  const digest = digestParam(r.param);
  await ctx.blobs.delete(r.name, digest);
  await ctx.audit?.({ actor: r.req.user ?? null, action: 'blob.delete', target: `${r.name}@${digest.value}`, address: r.req.ip });
  r.reply.code(202).header('Content-Length', 0).send();
}

/** POST /v2/<name>/blobs/uploads/ : mount, monolithic upload, or a new session. */
export async function startUpload(ctx: RegistryContext, r: V2Request): Promise<void> {
  const { query, reply, req, name } = r;
  const mount = query.get('mount');
  const from = query.get('from');
  // The spec: a mount with invalid repository or digest arguments falls back to a new session.
  if (mount && from && isValidRepositoryName(from) && isDigest(mount)) {
    const digest = digestParam(mount);
    // Mounting needs pull on the source; without it this is an ordinary upload (nothing is revealed).
    if ((await ctx.access.mayPull(req, from)) && (await ctx.blobs.mount(name, from, digest))) return blobCreated(ctx, r, digest);
  }
  const digestValue = query.get('digest');
  if (digestValue !== null) {
    const digest = digestParam(digestValue);
    const id = await ctx.uploads.start(name);
    try {
      await ctx.uploads.commit(name, id, digest, hasBody(req.raw) ? req.raw : undefined, undefined, contentLength(req.raw));
    } catch (err) {
      // The client never learns this session's id, so nobody can resume it: drop it now.
      await ctx.uploads.cancel(name, id).catch(() => {});
      throw err;
    }
    return blobCreated(ctx, r, digest);
  }
  const id = await ctx.uploads.start(name);
  if (ctx.uploads.minChunkLength > 0) reply.header('OCI-Chunk-Min-Length', ctx.uploads.minChunkLength);
  uploadAccepted(ctx, r, id, 0);
}

/** PATCH: append a chunk (with Content-Range) or stream the whole blob (without). */
export async function patchUpload(ctx: RegistryContext, r: V2Request): Promise<void> {
  const range = contentRange(r);
  let size: number;
  try {
    size = await ctx.uploads.append(r.name, r.param, r.req.raw, range, contentLength(r.req.raw));
  } catch (err) {
    // The spec's 416 carries the upload's current Range (and Location) so the client can resume.
    const current = err instanceof RegistryError && err.status === 416 ? (err.detail as { size?: number } | undefined)?.size : undefined;
    if (current !== undefined) {
      r.reply
        .header('Location', absoluteUrl(ctx, r.req, `/v2/${r.name}/blobs/uploads/${r.param}`))
        .header('Range', `0-${Math.max(0, current - 1)}`)
        .header('Docker-Upload-UUID', r.param);
    }
    throw err;
  }
  uploadAccepted(ctx, r, r.param, size);
}

export async function uploadStatus(ctx: RegistryContext, r: V2Request): Promise<void> {
  const size = await ctx.uploads.status(r.name, r.param);
  r.reply.code(204);
  setUploadHeaders(ctx, r, r.param, size);
  r.reply.send();
}

/** PUT ?digest= : finish, with or without a last chunk in the body. */
export async function finishUpload(ctx: RegistryContext, r: V2Request): Promise<void> {
  const digest = digestParam(r.query.get('digest'));
  const body = hasBody(r.req.raw) ? r.req.raw : undefined;
  await ctx.uploads.commit(r.name, r.param, digest, body, body ? contentRange(r) : undefined, contentLength(r.req.raw));
  blobCreated(ctx, r, digest);
}

export async function cancelUpload(ctx: RegistryContext, r: V2Request): Promise<void> {
  await ctx.uploads.cancel(r.name, r.param);
  r.reply.code(204).header('Content-Length', 0).send();
}

function contentRange(r: V2Request): ByteRange | undefined {
  const header = r.req.headers['content-range'];
  if (header === undefined) return undefined;
  const range = parseContentRange(header);
  if (!range) throw new RegistryError('RANGE_INVALID', `invalid Content-Range "${header.slice(0, 60)}"`);
  return range;
}

function blobCreated(ctx: RegistryContext, r: V2Request, digest: Digest): void {
  r.reply
    .code(201)
    .header('Location', absoluteUrl(ctx, r.req, `/v2/${r.name}/blobs/${digest.value}`))
    .header('Docker-Content-Digest', digest.value)
    .header('Content-Length', 0)
    .send();
}

function uploadAccepted(ctx: RegistryContext, r: V2Request, id: string, size: number): void {
  r.reply.code(202);
  setUploadHeaders(ctx, r, id, size);
  r.reply.send();
}

function setUploadHeaders(ctx: RegistryContext, r: V2Request, id: string, size: number): void {
  r.reply
    .header('Location', absoluteUrl(ctx, r.req, `/v2/${r.name}/blobs/uploads/${id}`))
    // Inclusive end; "0-0" for an empty upload is what clients expect.
    .header('Range', `0-${Math.max(0, size - 1)}`)
    .header('Docker-Upload-UUID', id)
    .header('Content-Length', 0);
}
