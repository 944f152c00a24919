// The mirror's blob fetch across processes: two replicas (test/mirror/fetch-worker.ts, each its own
// process) on one database and one storage (a shared directory, and Ceph RGW), in front of a real
// docker-registry behind the counting tap. Parallel cold pulls on both make one upstream download per
// blob; a replica killed while it downloads is taken over by the other, whose client gets the whole blob.
// Metadata in SQLite (one file both processes open), or PostgreSQL with BERTH_TEST_METADATA=postgres.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { S3Config } from '../../src/config/index.js';
import { digestOf, pushBlob, removeDir, tempDir } from '../helpers/api-server.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';
import { s3Config } from '../helpers/s3.js';
import { type Upstream, startUpstream } from '../helpers/upstream.js';
import { type Tap, startTap } from '../helpers/upstream-tap.js';
import { openReplica, type Replica, type ReplicaOptions } from './fetch-replica.js';

const MiB = 1024 * 1024;
const REPO = 'lib/app';
const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fetch-worker.ts');
const pg = process.env.BERTH_TEST_METADATA === 'postgres';
const SETTINGS = { leaseMs: 5000, pollMs: 50, publishMs: 100, batchBytes: 256 * 1024 };

interface Worker {
  url: string;
  proc: ChildProcess;
  stderr: string[];
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

async function startWorker(opts: ReplicaOptions & { upstream: string }): Promise<Worker> {
  const proc = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    env: { ...process.env, FETCH_WORKER: JSON.stringify(opts) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  proc.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`fetch worker exited (${code}): ${stderr.join('')}`)));
  });
  const { port } = JSON.parse(line) as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    proc,
    stderr,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
    async kill9() {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

interface Pulled {
  status: number;
  body: Buffer;
  /** The response arrived whole (Content-Length bytes and a clean end). */
  complete: boolean;
}

/** GETs a blob through a worker; `onData` sees the bytes received so far. */
function pull(w: Worker, digest: string, local: string, onData?: (received: number) => void): Promise<Pulled> {
  const u = new URL('/fetch', w.url);
  u.search = new URLSearchParams({ repo: REPO, local, digest }).toString();
  return new Promise((resolve, reject) => {
    const req = http.get(u, (res) => {
      const chunks: Buffer[] = [];
      let received = 0;
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        received += c.length;
        onData?.(received);
      });
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), complete: res.complete }));
    });
    req.on('error', reject);
  });
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let up: Upstream;
let tap: Tap;

before(async () => {
  up = await startUpstream({ name: 'mirror-fetch-replicas' });
  tap = await startTap(up.url);
});

after(async () => {
  await tap?.close();
  await up?.dispose();
});

async function upstreamBlob(size: number): Promise<{ bytes: Buffer; digest: string }> {
  const bytes = randomBytes(size);
  await pushBlob(up.url, REPO, bytes);
  return { bytes, digest: digestOf(bytes) };
}

for (const kind of ['filesystem', 's3'] as const) {
  describe(`blob fetch on two replica processes (${pg ? 'PostgreSQL' : 'SQLite'}, ${kind === 's3' ? 'Ceph RGW' : 'shared directory'})`, {
    timeout: 300_000,
  }, () => {
    let dir: string;
    let schema: PgSchema | undefined;
    let opts: ReplicaOptions & { upstream: string };
    let observer: Replica;
    let workers: Worker[] = [];
    // S3 publishes in whole parts (5 MiB): blobs of several parts.
    const big = kind === 's3' ? 12 * MiB + 7 : 3 * MiB;

    before(async () => {
      dir = tempDir('berth-fetch-replicas-');
      schema = pg ? await freshSchema('fetchrep') : undefined;
      const storage: { filesystem: string } | { s3: S3Config } =
        kind === 's3' ? { s3: await s3Config({ chunksize: 5 * MiB }) } : { filesystem: path.join(dir, 'storage') };
      opts = { db: schema ? { postgres: schema.url } : { sqlite: path.join(dir, 'berth.db') }, storage, settings: SETTINGS, upstream: tap.url };
      // Migrates the database before the workers open it.
      observer = await openReplica(opts);
      workers = await Promise.all([startWorker(opts), startWorker(opts)]);
    });

    after(async () => {
      for (const w of workers) if (w.stderr.length > 0) console.error(`fetch worker ${w.url}:\n${w.stderr.join('')}`);
      await Promise.all(workers.map((w) => w.stop()));
      await observer?.close();
      await schema?.drop();
      if (dir) removeDir(dir);
    });

    async function state(digest: string) {
      const db = observer.meta.db;
      const blob = await db.selectFrom('blobs').select('state').where('digest', '=', digest).executeTakeFirst();
      const claims = await db.selectFrom('mirror_fetches').select('digest').execute();
      const sessions: string[] = [];
      for await (const u of observer.storage.listUploads()) sessions.push(u.id);
      return { blob: blob?.state ?? null, claims: claims.length, sessions };
    }

    it('20 parallel cold pulls on two replicas make one upstream GET per blob, and all 20 get the same correct bytes', async () => {
      const blobs = [await upstreamBlob(big), await upstreamBlob(MiB + 3), await upstreamBlob(10)];
      tap.reset();
      tap.throttle(4 * MiB);
      let results: (Pulled & { i: number })[];
      try {
        results = await Promise.all(
          Array.from({ length: 20 }, async (_, i) => ({ i, ...(await pull(workers[i % 2], blobs[i % 3].digest, `up/lib/app${i % 4}`)) })),
        );
      } finally {
        tap.throttle(null);
      }
      for (const r of results) {
        const blob = blobs[r.i % 3];
        assert.equal(r.status, 200, `pull ${r.i}: ${r.body.toString().slice(0, 300)}`);
        assert.ok(r.complete && r.body.equals(blob.bytes), `pull ${r.i}: ${r.body.length} of ${blob.bytes.length} bytes, identical`);
      }
      for (const blob of blobs) assert.equal(tap.blobDownloads(blob.digest), 1, `${blob.bytes.length} bytes: ${JSON.stringify(tap.summary())}`);
      for (const blob of blobs) assert.deepEqual(await state(blob.digest), { blob: 'live', claims: 0, sessions: [] });
    });

    it('a replica killed while it downloads is taken over by the other, whose client gets the whole blob', async () => {
      const { bytes, digest } = await upstreamBlob(big + 2 * MiB);
      tap.reset();
      tap.throttle(kind === 's3' ? 4 * MiB : MiB);
      let pulled: Pulled;
      let killedOwner: Pulled;
      try {
        const [owner, waiter] = workers;
        const first = pull(owner, digest, 'up/lib/app');
        await tap.waitFor((reqs) => reqs.some((r) => r.kind === 'blob' && r.bytesOut > 0), 20_000);
        let waiterGot = 0;
        const second = pull(waiter, digest, 'up/lib/other', (n) => {
          waiterGot = n;
        });
        // The waiter streams what the owner published, then the owner dies in the middle.
        await until('the waiting client to receive bytes', () => waiterGot > 0);
        assert.equal(tap.blobDownloads(digest), 1);
        await owner.kill9();
        killedOwner = await first;
        pulled = await second;
      } finally {
        tap.throttle(null);
      }
      assert.equal(killedOwner.complete, false, 'the killed replica never completed its response');
      assert.equal(pulled.status, 200);
      assert.ok(pulled.complete && pulled.body.equals(bytes), `the waiter got ${pulled.body.length} of ${bytes.length} bytes, identical`);
      // One download cut by the death, one by the replica that took over.
      assert.equal(tap.count({ kind: 'blob', method: 'GET', ref: digest }), 2, JSON.stringify(tap.summary()));
      assert.deepEqual(await state(digest), { blob: 'live', claims: 0, sessions: [] });
      // The dead replica's place: a new process on the same database and storage serves it from storage.
      workers[0] = await startWorker(opts);
      const again = await pull(workers[0], digest, 'up/lib/app');
      assert.ok(again.complete && again.body.equals(bytes));
      assert.equal(tap.count({ kind: 'blob', method: 'GET', ref: digest }), 2);
    });
  });
}
