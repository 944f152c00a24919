// The mirror's blob fetch (src/mirror/blob-fetch.ts) against a real docker-registry upstream behind the
// counting tap, with two "replicas" (each its own database connection, storage driver and BlobFetcher)
// on one database and one storage directory. Metadata in SQLite, or PostgreSQL with
// BERTH_TEST_METADATA=postgres. Separate processes and a killed owner: fetch-replicas.test.ts.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { LeftoverSweep } from '../../src/gc/sweep.js';
import { GcStore } from '../../src/metadata/gc-store.js';
import { SweepStore } from '../../src/metadata/sweep-store.js';
import { parseDigest } from '../../src/oci/digest.js';
import { UpstreamClient } from '../../src/upstream/index.js';
import type { BlobSource } from '../../src/mirror/blob-fetch.js';
import { digestOf, pushBlob, removeDir, tempDir } from '../helpers/api-server.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';
import { type Upstream, startUpstream } from '../helpers/upstream.js';
import { type Tap, startTap } from '../helpers/upstream-tap.js';
import { openReplica, type Replica } from './fetch-replica.js';

const MiB = 1024 * 1024;
const REPO = 'lib/app';
const pg = process.env.BERTH_TEST_METADATA === 'postgres';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Every file under a directory (relative paths), sorted. */
function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

let up: Upstream;
let tap: Tap;
let dir: string;
let schema: PgSchema | undefined;
let a: Replica;
let b: Replica;
/** A replica that publishes nothing before the end: what its first client gets early came from the live feed. */
let c: Replica;
let source: BlobSource;

before(async () => {
  up = await startUpstream({ name: 'mirror-fetch' });
  tap = await startTap(up.url);
  dir = tempDir('berth-fetch-');
  schema = pg ? await freshSchema('fetch') : undefined;
  const db = schema ? { postgres: schema.url } : { sqlite: path.join(dir, 'meta', 'berth.db') };
  const settings = { pollMs: 20, publishMs: 50, batchBytes: 256 * 1024 };
  a = await openReplica({ db, storage: { filesystem: path.join(dir, 'storage') }, settings });
  b = await openReplica({ db, storage: { filesystem: path.join(dir, 'storage') }, settings });
  c = await openReplica({ db, storage: { filesystem: path.join(dir, 'storage') }, settings: { ...settings, batchBytes: 1 << 30, publishMs: 1e9 } });
  source = { upstream: new UpstreamClient({ url: tap.url }, { guard: null }), upstreamName: 'up', repository: REPO };
});

after(async () => {
  await a?.close();
  await b?.close();
  await c?.close();
  await tap?.close();
  await up?.dispose();
  await schema?.drop();
  if (dir) removeDir(dir);
});

/** A random blob pushed upstream. */
async function upstreamBlob(size: number): Promise<{ bytes: Buffer; digest: string }> {
  const bytes = randomBytes(size);
  await pushBlob(up.url, REPO, bytes);
  return { bytes, digest: digestOf(bytes) };
}

/** What the database knows about a digest: its blob row, repository links, claim. */
async function dbState(r: Replica, digest: string) {
  const db = r.meta.db;
  const blob = await db.selectFrom('blobs').select(['size', 'state']).where('digest', '=', digest).executeTakeFirst();
  const links = await db
    .selectFrom('repository_blobs as rb')
    .innerJoin('repositories as r', 'r.id', 'rb.repository_id')
    .select('r.name')
    .where('rb.digest', '=', digest)
    .orderBy('r.name')
    .execute();
  const claims = await db.selectFrom('mirror_fetches').selectAll().execute();
  return { blob: blob ? { size: Number(blob.size), state: blob.state } : null, links: links.map((l) => l.name), claims: claims.length };
}

async function sessions(r: Replica): Promise<string[]> {
  const out: string[] = [];
  for await (const u of r.storage.listUploads()) out.push(u.id);
  return out;
}

describe(`mirror blob fetch (${pg ? 'PostgreSQL' : 'SQLite'}, filesystem)`, () => {
  it('streams a cold blob with its bytes and digest, stores and links it, and serves it again without the upstream', async () => {
    const { bytes, digest } = await upstreamBlob(3 * MiB + 17);
    tap.reset();
    const got = await a.fetcher.fetch(source, 'up/lib/app', parseDigest(digest));
    assert.equal(got.size, bytes.length);
    const body = await readAll(got.body);
    assert.equal(digestOf(body), digest);
    assert.ok(body.equals(bytes));
    assert.equal(tap.blobDownloads(digest), 1, JSON.stringify(tap.summary()));
    // Stored before the last byte went out: the blob, its link, no claim, no session.
    assert.deepEqual(await dbState(a, digest), { blob: { size: bytes.length, state: 'live' }, links: ['up/lib/app'], claims: 0 });
    assert.deepEqual(await sessions(a), []);
    // Warm, on the other replica and for another local repository: from storage, linked there too.
    const again = await b.fetcher.fetch(source, 'up/other', parseDigest(digest));
    assert.ok((await readAll(again.body)).equals(bytes));
    assert.equal(tap.blobDownloads(digest), 1, 'no second upstream download');
    assert.deepEqual((await dbState(b, digest)).links, ['up/lib/app', 'up/other']);
  });

  it('gives the first client bytes as they arrive, while the upstream transfer is still open', async () => {
    const { bytes, digest } = await upstreamBlob(2 * MiB);
    tap.reset();
    tap.throttle(512 * 1024);
    try {
      const got = await c.fetcher.fetch(source, 'up/lib/app', parseDigest(digest));
      const it = got.body[Symbol.asyncIterator]();
      const first = (await it.next()).value as Buffer;
      assert.ok(first.length > 0);
      const [transfer] = tap.list({ kind: 'blob', method: 'GET' });
      assert.equal(transfer.done, false, 'the upstream transfer is still open');
      assert.ok(transfer.bytesOut < bytes.length, `the tap sent ${transfer.bytesOut} of ${bytes.length} bytes`);
      assert.ok(first.equals(bytes.subarray(0, first.length)));
      const rest: Buffer[] = [first];
      for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value as Buffer);
      assert.ok(Buffer.concat(rest).equals(bytes));
    } finally {
      tap.throttle(null);
    }
  });

  it('20 parallel cold pulls on two replicas make one upstream download, and every client streams before it ends', async () => {
    const blobs = [await upstreamBlob(3 * MiB), await upstreamBlob(1 * MiB + 5), await upstreamBlob(0)];
    tap.reset();
    tap.throttle(MiB);
    try {
      const pulls = Array.from({ length: 20 }, (_, i) => {
        const r = i % 2 === 0 ? a : b;
        const blob = blobs[i % blobs.length];
        return (async () => {
          const got = await r.fetcher.fetch(source, `up/lib/app${i % 3}`, parseDigest(blob.digest));
          assert.equal(got.size, blob.bytes.length);
          const chunks: Buffer[] = [];
          let early = false;
          for await (const c of got.body) {
            if (chunks.length === 0 && !tap.list({ kind: 'blob', ref: blob.digest }).every((t) => t.done)) early = true;
            chunks.push(c as Buffer);
          }
          return { i, blob, body: Buffer.concat(chunks), early };
        })();
      });
      const results = await Promise.all(pulls);
      for (const { i, blob, body } of results) assert.ok(body.equals(blob.bytes), `pull ${i}: ${body.length} bytes, identical to the blob`);
      for (const blob of blobs) assert.equal(tap.blobDownloads(blob.digest), 1, `${blob.bytes.length} bytes: ${JSON.stringify(tap.summary())}`);
      // The 3 MiB blob takes 3 s upstream: its clients on both replicas had bytes before the download ended.
      const big = results.filter((r) => r.blob === blobs[0]);
      assert.ok(
        big.every((r) => r.early),
        `clients that streamed early: ${big.filter((r) => r.early).map((r) => r.i)}`,
      );
      for (const blob of blobs) assert.equal((await dbState(a, blob.digest)).blob?.state, 'live');
      assert.deepEqual(await sessions(a), []);
    } finally {
      tap.throttle(null);
    }
  });

  it('an upstream transfer cut in the middle stores nothing, and every client sees a broken transfer', async () => {
    const { bytes, digest } = await upstreamBlob(2 * MiB);
    const before = files(path.join(dir, 'storage'));
    tap.reset();
    await tap.setMode('cut', { kinds: ['blob'], cutAfter: MiB });
    try {
      tap.throttle(MiB);
      const owner = await a.fetcher.fetch(source, 'up/lib/app', parseDigest(digest));
      const waiter = await b.fetcher.fetch(source, 'up/lib/app', parseDigest(digest));
      const [o, w] = await Promise.allSettled([readAll(owner.body), readAll(waiter.body)]);
      assert.equal(o.status, 'rejected', 'the first client sees an error');
      assert.equal(w.status, 'rejected', 'the waiting client sees an error');
    } finally {
      tap.throttle(null);
      await tap.setMode('pass');
    }
    assert.equal(tap.count({ kind: 'blob', method: 'GET' }), 1);
    assert.deepEqual(await dbState(a, digest), { blob: null, links: [], claims: 0 });
    assert.deepEqual(await sessions(a), []);
    assert.deepEqual(files(path.join(dir, 'storage')), before, 'storage unchanged');
    // The next pull downloads it again, whole.
    const again = await a.fetcher.fetch(source, 'up/lib/app', parseDigest(digest));
    assert.ok((await readAll(again.body)).equals(bytes));
  });

  it('content that does not match its digest stores nothing and never reaches a client complete', async () => {
    const good = randomBytes(MiB);
    const digest = digestOf(good);
    const wrong = Buffer.from(good);
    wrong[wrong.length - 1] ^= 1;
    let gets = 0;
    // An upstream that lies (docker-registry verifies what it stores, and the upstream client verifies too).
    const liar: BlobSource = {
      upstream: {
        async getBlob() {
          gets++;
          return { size: wrong.length, body: Readable.from([wrong.subarray(0, 300_000), wrong.subarray(300_000)]) };
        },
      },
      upstreamName: 'liar',
      repository: REPO,
    };
    const before = files(path.join(dir, 'storage'));
    const owner = await a.fetcher.fetch(liar, 'up/lib/app', parseDigest(digest));
    const received: Buffer[] = [];
    await assert.rejects(
      (async () => {
        for await (const c of owner.body) received.push(c as Buffer);
      })(),
    );
    const got = Buffer.concat(received);
    assert.ok(got.length < good.length, `the client got ${got.length} of ${good.length} bytes, not a complete blob`);
    assert.ok(got.equals(wrong.subarray(0, got.length)));
    assert.equal(gets, 1);
    assert.deepEqual(await dbState(a, digest), { blob: null, links: [], claims: 0 });
    assert.deepEqual(await sessions(a), []);
    assert.deepEqual(files(path.join(dir, 'storage')), before, 'storage unchanged');
  });

  it('the leftover sweep keeps the sessions of downloads; a claim whose download died is reaped with its bytes', async () => {
    const claim = async (leaseUntil: number) => {
      const c = { digest: digestOf(randomBytes(8)), uploadId: randomUUID() };
      await a.storage.uploadCreate(c.uploadId);
      await a.storage.uploadAppend(c.uploadId, 0, Readable.from([Buffer.from('the first bytes of a download')]));
      await a.meta.db
        .insertInto('mirror_fetches')
        .values({ digest: c.digest, owner: randomUUID(), lease_until: leaseUntil, upload_id: c.uploadId, size: 100, published: 10, started_at: Date.now() })
        .execute();
      return c;
    };
    const dead = await claim(Date.now() - 60_000);
    const live = await claim(Date.now() + 60_000);
    // Every session counts as old (a negative grace period): those a download names stay.
    const sweep = new LeftoverSweep(a.storage, new SweepStore(a.meta), new GcStore(a.meta), Date.now);
    assert.equal((await sweep.run({ graceMs: -1000 })).uploads, 0);
    assert.deepEqual((await sessions(a)).sort(), [dead.uploadId, live.uploadId].sort());
    // Reaped: claims expired before the cutoff, with their sessions; a renewed claim stays.
    assert.equal(await a.fetcher.reapExpired(Date.now() - 30_000), 1);
    assert.deepEqual(await sessions(a), [live.uploadId]);
    const rows = await a.meta.db.selectFrom('mirror_fetches').select('digest').execute();
    assert.deepEqual(
      rows.map((r) => r.digest),
      [live.digest],
    );
    await a.meta.db.deleteFrom('mirror_fetches').execute();
    assert.equal((await sweep.run({ graceMs: -1000 })).uploads, 1, 'without its claim the session is a leftover');
    assert.deepEqual(await sessions(a), []);
  });
});
