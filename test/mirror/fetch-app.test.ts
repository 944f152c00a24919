// Single flight through the registry API: two Berth app instances (replicas) on one PostgreSQL
// schema and one storage directory, each a registry:2-style pull-through cache (proxy.remoteurl) of a
// real docker-registry behind the counting tap. 20 parallel cold blob GETs, split between the two,
// make one upstream download per blob and all get the blob's bytes. Replicas need PostgreSQL, so this
// file always uses it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { digestOf, pushBlob, removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';
import { request } from '../helpers/http.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';
import { type Upstream, startUpstream } from '../helpers/upstream.js';
import { type Tap, startTap } from '../helpers/upstream-tap.js';

const MiB = 1024 * 1024;
const REPO = 'library/app';

let up: Upstream;
let tap: Tap;
let schema: PgSchema;
let dir: string;
let replicas: TestServer[] = [];

before(async () => {
  up = await startUpstream({ name: 'mirror-fetch-app' });
  tap = await startTap(up.url);
  schema = await freshSchema('fetchapp');
  dir = tempDir('berth-fetch-app-');
  const config = { proxy: { remoteurl: tap.url }, metadata: { postgres: { url: schema.url, poolsize: 8 } } };
  // One after the other: the first migrates the schema.
  replicas.push(await startServer({ dir, config }));
  replicas.push(await startServer({ dir, config }));
});

after(async () => {
  for (const r of replicas) await r.close();
  replicas = [];
  await tap?.close();
  await up?.dispose();
  await schema?.drop();
  if (dir) removeDir(dir);
});

describe('blob GETs through two Berth replicas in front of one upstream', () => {
  it('20 parallel cold pulls on two replicas make one upstream download per blob, all with the same bytes', async () => {
    const blobs = [randomBytes(3 * MiB), randomBytes(MiB + 1), randomBytes(1000)].map((bytes) => ({ bytes, digest: digestOf(bytes) }));
    for (const b of blobs) await pushBlob(up.url, REPO, b.bytes);
    tap.reset();
    tap.throttle(4 * MiB);
    let results: { i: number; status: number; body: Buffer; length: string | undefined }[];
    try {
      results = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const r = await request(`${replicas[i % 2].url}/v2/${REPO}/blobs/${blobs[i % 3].digest}`, { timeoutMs: 60_000 });
          return { i, status: r.status, body: r.body, length: r.headers['content-length'] as string | undefined };
        }),
      );
    } finally {
      tap.throttle(null);
    }
    for (const r of results) {
      const b = blobs[r.i % 3];
      assert.equal(r.status, 200, `pull ${r.i} on replica ${r.i % 2}: ${r.body.toString().slice(0, 300)}`);
      assert.equal(r.length, String(b.bytes.length));
      assert.ok(r.body.equals(b.bytes), `pull ${r.i}: ${r.body.length} bytes, identical to the blob`);
    }
    for (const b of blobs) assert.equal(tap.blobDownloads(b.digest), 1, `${b.bytes.length} bytes: ${JSON.stringify(tap.summary())}`);
    // Warm on both replicas: from storage, nothing upstream.
    tap.reset();
    for (const r of replicas) {
      const warm = await request(`${r.url}/v2/${REPO}/blobs/${blobs[0].digest}`);
      assert.equal(warm.status, 200);
      assert.ok(warm.body.equals(blobs[0].bytes));
    }
    assert.equal(tap.count(), 0, JSON.stringify(tap.summary()));
  });
});
