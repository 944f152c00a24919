// Pulls' lookup cache across processes (src/registry/lookup-cache.ts): a tag moved or a manifest
// deleted through one process is served correctly by the others.
//   PostgreSQL: two replicas (child processes) on one schema; the other replica hears the change
//   through LISTEN/NOTIFY (polled with a generous deadline; no timing asserted).
//   SQLite: one server with two workers (http.workers 2) on one file: the worker that made the change
//   serves it at once, the other within 100 ms (PRAGMA data_version; polled here too).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { MT, pushImage, pushManifest } from '../helpers/api-server.js';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';
import { sleep, tempDir } from '../helpers/shared.js';

const ACCEPT = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');
/** Generous: the mechanism is a notice within milliseconds; a loaded test machine may be slow. */
const DEADLINE_MS = 15_000;

/** A manifest GET or HEAD on a new connection (a cluster's primary hands each to the next worker). */
function pull(base: string, repo: string, ref: string, method = 'GET'): Promise<{ status: number; digest: string | null }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/v2/${repo}/manifests/${ref}`, { method, agent: false, headers: { accept: ACCEPT } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, digest: (res.headers['docker-content-digest'] as string | undefined) ?? null }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls until `ok` holds for what `base` serves; returns the ms it took. */
async function until(
  what: string,
  probe: () => Promise<{ status: number; digest: string | null }>,
  ok: (r: { status: number; digest: string | null }) => boolean,
) {
  const start = Date.now();
  for (;;) {
    const r = await probe();
    if (ok(r)) return Date.now() - start;
    assert.ok(Date.now() - start < DEADLINE_MS, `${what}: still ${r.status} ${r.digest} after ${DEADLINE_MS} ms`);
    await sleep(5);
  }
}

describe('PostgreSQL: two replicas', () => {
  let schema: PgSchema;
  let a: RegistryProcess;
  let b: RegistryProcess;

  before(async () => {
    schema = await freshSchema('pullcache');
    const root = tempDir('pull-cache-pg');
    const env = { REGISTRY_METADATA: 'postgres', REGISTRY_METADATA_POSTGRES_URL: schema.url, REGISTRY_METADATA_POSTGRES_POOLSIZE: '4' };
    a = await startBerth({ root, env, name: 'pull-cache-a' });
    b = await startBerth({ root, env, name: 'pull-cache-b' });
  });

  after(async () => {
    await b?.stop();
    await a?.dispose();
    await schema?.drop();
  });

  it('a tag moved on one replica is served by the other', async () => {
    const repo = 'cache/moved';
    const first = await pushImage(a.url, repo, { ref: 'latest' });
    // B serves it (and keeps the lookup) before the move.
    await until(
      'B before the move',
      () => pull(b.url, repo, 'latest'),
      (r) => r.digest === first.manifest.digest,
    );
    for (let i = 0; i < 5; i++) assert.equal((await pull(b.url, repo, 'latest')).digest, first.manifest.digest);
    const times: number[] = [];
    let current = first;
    for (let i = 0; i < 3; i++) {
      const next = await pushImage(a.url, repo, { ref: 'latest' });
      // A, which made the change, serves it at once.
      assert.equal((await pull(a.url, repo, 'latest')).digest, next.manifest.digest);
      times.push(
        await until(
          'B after the move',
          () => pull(b.url, repo, 'latest'),
          (r) => r.digest === next.manifest.digest,
        ),
      );
      assert.equal((await pull(b.url, repo, 'latest', 'HEAD')).digest, next.manifest.digest);
      current = next;
    }
    assert.notEqual(current.manifest.digest, first.manifest.digest);
    console.log(`# tag move seen by the other replica after ${times.join(', ')} ms (polled)`);
  });

  it('a manifest deleted on one replica is unknown on the other', async () => {
    const repo = 'cache/deleted';
    const img = await pushImage(a.url, repo, { ref: 'v1' });
    await pushManifest(a.url, repo, img.manifest.bytes, { ref: 'v2', mediaType: img.manifest.mediaType });
    for (const ref of ['v1', 'v2', img.manifest.digest])
      await until(
        `B serves ${ref}`,
        () => pull(b.url, repo, ref),
        (r) => r.status === 200,
      );
    const del = await fetch(`${a.url}/v2/${repo}/manifests/${img.manifest.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    assert.equal((await pull(a.url, repo, 'v1')).status, 404);
    for (const ref of ['v1', 'v2', img.manifest.digest])
      await until(
        `B after the delete, ${ref}`,
        () => pull(b.url, repo, ref),
        (r) => r.status === 404,
      );
  });
});

describe('SQLite: two workers on one file', () => {
  let s: RegistryProcess;

  before(async () => {
    s = await startBerth({ root: tempDir('pull-cache-sqlite'), env: { REGISTRY_HTTP_WORKERS: '2' }, name: 'pull-cache-workers' });
  });

  after(async () => {
    await s?.dispose();
  });

  it('a tag moved or deleted through one worker is served by every worker', async () => {
    const repo = 'cache/workers';
    const first = await pushImage(s.url, repo, { ref: 'latest' });
    // Each new connection goes to the next worker: both keep the lookup.
    for (let i = 0; i < 6; i++) assert.equal((await pull(s.url, repo, 'latest')).digest, first.manifest.digest);
    for (let round = 0; round < 3; round++) {
      const next = await pushImage(s.url, repo, { ref: 'latest' });
      // Until both workers serve it on consecutive connections; then neither goes back.
      await until(
        `move ${round + 1}`,
        () => pullTwice(repo, 'latest'),
        (r) => r.digest === next.manifest.digest,
      );
      for (let i = 0; i < 6; i++)
        assert.equal((await pull(s.url, repo, 'latest')).digest, next.manifest.digest, `after move ${round + 1}, connection ${i + 1}`);
    }
    const del = await fetch(`${s.url}/v2/${repo}/manifests/latest`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    await until(
      'the delete',
      () => pullTwice(repo, 'latest'),
      (r) => r.status === 404,
    );
    for (let i = 0; i < 6; i++) assert.equal((await pull(s.url, repo, 'latest')).status, 404, `after the delete, connection ${i + 1}`);
  });

  /** Two GETs on new connections (one per worker); a mixed answer counts as neither. */
  async function pullTwice(repo: string, ref: string): Promise<{ status: number; digest: string | null }> {
    const [x, y] = [await pull(s.url, repo, ref), await pull(s.url, repo, ref)];
    return x.status === y.status && x.digest === y.digest ? x : { status: -1, digest: `${x.digest} / ${y.digest}` };
  }
});
