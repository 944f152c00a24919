// Request body helpers shared by the handlers.
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../errors/catalog.js';

/** Whether the request carries a body (Content-Length > 0 or any Transfer-Encoding). */
export function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return Number(len) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

export function contentLength(req: IncomingMessage): number | undefined {
  const len = req.headers['content-length'];
  if (len === undefined) return undefined;
  const n = Number(len);
  if (!Number.isSafeInteger(n) || n < 0) throw new RegistryError('SIZE_INVALID', 'invalid Content-Length');
  return n;
}

/** Reads a small body (a manifest) into memory, refusing more than `limit` bytes with 413. */
export async function readLimited(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooBig = () => new RegistryError('SIZE_INVALID', `body exceeds the ${limit}-byte limit`, { status: 413 });
  const declared = contentLength(req);
  if (declared !== undefined && declared > limit) {
    req.resume(); // drain so the connection can be reused
    throw tooBig();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  // Not `for await`: leaving that loop early destroys the request, and with it the socket,
  // so the client would see a connection reset instead of the 413.
  return new Promise<Buffer>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        chunks.length = 0;
        req.resume(); // drain (and drop) the rest so the 413 reaches the client
        reject(tooBig());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}
