// A recording HTTP reverse proxy placed between a client and the registry under test, so a
// test can assert what the client actually asked (e.g. a cross-repository mount POST, and
// no blob upload). The Host header is passed through unchanged, so a registry that builds
// absolute Location URLs from Host keeps the client talking to the proxy.
import http from 'node:http';

export interface RecordedRequest {
  method: string;
  url: string;
  status: number;
  /** bytes of request body seen */
  bytesIn: number;
  /** bytes of response body sent back */
  bytesOut: number;
  /** request headers of interest */
  range?: string;
  contentType?: string;
  /** response Content-Type */
  responseType?: string;
}

export interface RecordingProxy {
  hostPort: string;
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const t = new URL(target);
  if (t.protocol !== 'http:') throw new Error('recording proxy only fronts plain-HTTP registries');
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const rec: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      status: 0,
      bytesIn: 0,
      bytesOut: 0,
      range: req.headers.range,
      contentType: req.headers['content-type'],
    };
    requests.push(rec);
    const up = http.request(
      {
        hostname: t.hostname,
        port: t.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (upRes) => {
        rec.status = upRes.statusCode ?? 0;
        rec.responseType = upRes.headers['content-type'];
        upRes.on('data', (c: Buffer) => {
          rec.bytesOut += c.length;
        });
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', (e) => {
      rec.status = 502;
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(`proxy: ${e.message}`);
    });
    req.on('data', (c: Buffer) => {
      rec.bytesIn += c.length;
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    hostPort: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
