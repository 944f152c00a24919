// A blob-fetch replica in its own process, for test/mirror/fetch-replicas.test.ts: serves
// GET /fetch?repo=<upstream repo>&local=<local repo>&digest=<digest> by BlobFetcher.fetch, streaming the
// body (a broken download cuts the response short). Settings come as JSON in FETCH_WORKER; it prints
// {"port": N} on its first line of output once it listens.
import http from 'node:http';
import { parseDigest } from '../../src/oci/digest.js';
import { UpstreamClient } from '../../src/upstream/index.js';
import { openReplica, type ReplicaOptions } from './fetch-replica.js';

const opts = JSON.parse(process.env.FETCH_WORKER ?? '{}') as ReplicaOptions & { upstream: string };
const replica = await openReplica(opts);
const upstream = new UpstreamClient({ url: opts.upstream }, { guard: null });

const server = http.createServer((req, res) => {
  const u = new URL(req.url ?? '/', 'http://worker');
  const repo = u.searchParams.get('repo') ?? '';
  const local = u.searchParams.get('local') ?? '';
  const digest = u.searchParams.get('digest') ?? '';
  replica.fetcher.fetch({ upstream, upstreamName: 'up', repository: repo }, local, parseDigest(digest)).then(
    ({ size, body }) => {
      res.writeHead(200, { 'Content-Length': size, 'Content-Type': 'application/octet-stream' });
      body.on('error', () => res.destroy());
      res.on('close', () => body.destroy());
      body.pipe(res);
    },
    (err: Error) => {
      res.writeHead(502, { 'Content-Type': 'text/plain' });
      res.end(err.message);
    },
  );
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void replica.close().finally(() => process.exit(0));
});
