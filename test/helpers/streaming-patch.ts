// A blob upload PATCH whose body the test writes piece by piece, so that something can happen to the
// server (SIGTERM, kill -9) while the request is in flight, as with a large layer from a real client.
import http from 'node:http';

export interface StreamingPatch {
  /** Writes bytes to the body; resolves once they are handed to the socket. */
  write(data: Buffer): Promise<void>;
  /** Ends the body; resolves with the response. */
  end(): Promise<PatchResponse>;
  /** The response, or the error when the connection was cut (settles either way). */
  readonly outcome: Promise<PatchResponse | Error>;
}

export interface PatchResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Starts `PATCH url` with a chunked body (as docker sends it). */
export function streamingPatch(url: string, headers: Record<string, string> = {}): StreamingPatch {
  const req = http.request(url, { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream', ...headers } });
  const outcome = new Promise<PatchResponse | Error>((resolve) => {
    req.on('error', resolve);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', resolve);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
  });
  req.flushHeaders();
  return {
    outcome,
    write: (data) => new Promise((resolve, reject) => req.write(data, (err) => (err ? reject(err) : resolve()))),
    async end() {
      req.end();
      const r = await outcome;
      if (r instanceof Error) throw r;
      return r;
    },
  };
}
