// Garbage collection racing the registry: two replicas on one database (SQLite: two processes on
// one file; PostgreSQL with BERTH_TEST_METADATA=postgres), delay 0, both collecting all the time
// (the child replica on its 1 s timer, this process in a loop) while clients push images whose
// blobs are candidates, HEAD them, mount them, upload them again and PUT manifests that use them,
// and delete images so their blobs become candidates again. Clients behave like docker: a blob
// that HEADs 200 is not uploaded, and a push whose manifest PUT finds a blob gone (collected
// between the HEAD and the PUT) uploads it again. Afterwards every acknowledged manifest that was
// not deleted pulls completely, with matching digests, from both replicas.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { backgroundOf } from '../../src/app.js';
import type { CollectResult } from '../../src/gc/collector.js';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { MT, removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';

const postgres = process.env.BERTH_TEST_METADATA === 'postgres';
const WORKERS = 8;
const OPS_PER_WORKER = 40;
const POOL = 24;

let a: RegistryProcess; // a replica in its own process, collecting on its timer
let b: TestServer; // a replica in this process, collected in a loop by the test
let schema: PgSchema | undefined;
let root: string;

before(async () => {
  root = tempDir('berth-gc-race-');
  schema = postgres ? await freshSchema('gcrace') : undefined;
  a = await startBerth({
    root,
    name: 'gc-race-a',
    env: {
      REGISTRY_STORAGE_GC_DELAY: '0s',
      REGISTRY_STORAGE_GC_INTERVAL: '1s',
      ...(schema ? { REGISTRY_METADATA: 'postgres', REGISTRY_METADATA_POSTGRES_URL: schema.url, REGISTRY_METADATA_POSTGRES_POOLSIZE: '8' } : {}),
    },
  });
  b = await startServer({
    dir: root,
    config: { log: { level: 'error' }, storage: { gc: { delay: 0 } }, ...(schema ? { metadata: { postgres: { url: schema.url, poolsize: 8 } } } : {}) },
  });
});

after(async () => {
  await b?.close();
  await a?.stop();
  if (root) removeDir(root);
  await schema?.drop();
});

const sha = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

interface Acked {
  repo: string;
  digest: string;
  blobs: string[];
}

/** A blob body by digest: the pool's layers and every config pushed. */
const bodies = new Map<string, Buffer>();
function remember(data: Buffer): string {
  const d = sha(data);
  bodies.set(d, data);
  return d;
}

async function upload(base: string, repo: string, data: Buffer): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202, `POST upload: ${await start.text()}`);
    const url = new URL(start.headers.get('location')!, base);
    url.searchParams.set('digest', sha(data));
    const put = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: data as unknown as BodyInit });
    const text = await put.text();
    // 503: a deletion of this digest outlasted the writer's wait; clients retry.
    if (put.status === 503 && attempt < 5) continue;
    assert.equal(put.status, 201, `PUT upload ${sha(data)}: ${put.status} ${text}`);
    return;
  }
}

/** Pushes like docker: HEAD each blob, upload the missing, PUT the manifest, and upload again what it finds gone. */
async function push(base: string, repo: string, layers: string[], mountFrom?: string): Promise<Acked | null> {
  const config = remember(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') })));
  const blobs = [config, ...layers];
  const doc = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: config, size: bodies.get(config)!.length },
    layers: layers.map((d) => ({ mediaType: MT.ociLayer, digest: d, size: bodies.get(d)!.length })),
  };
  const body = Buffer.from(JSON.stringify(doc));
  for (let attempt = 0; attempt < 8; attempt++) {
    for (const d of blobs) {
      const head = await fetch(`${base}/v2/${repo}/blobs/${d}`, { method: 'HEAD' });
      if (head.status === 200) continue;
      assert.equal(head.status, 404, `HEAD ${repo} ${d}`);
      if (mountFrom) {
        const m = await fetch(`${base}/v2/${repo}/blobs/uploads/?mount=${d}&from=${mountFrom}`, { method: 'POST' });
        await m.text();
        if (m.status === 201) continue;
      }
      await upload(base, repo, bodies.get(d)!);
    }
    const res = await fetch(`${base}/v2/${repo}/manifests/${sha(body)}`, {
      method: 'PUT',
      headers: { 'content-type': MT.ociManifest },
      body: body as unknown as BodyInit,
    });
    const text = await res.text();
    if (res.status === 201) return { repo, digest: sha(body), blobs };
    assert.equal(res.status, 400, `PUT manifest: ${res.status} ${text}`);
    assert.match(text, /MANIFEST_BLOB_UNKNOWN/, 'the only refusal: a blob collected between its HEAD and the PUT');
  }
  return null;
}

async function pullsCompletely(base: string, m: Acked, where: string): Promise<void> {
  const res = await fetch(`${base}/v2/${m.repo}/manifests/${m.digest}`, { headers: { accept: MT.ociManifest } });
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `${where}: GET manifest ${m.repo}@${m.digest}`);
  assert.equal(sha(body), m.digest, `${where}: manifest digest`);
  for (const d of m.blobs) {
    const r = await fetch(`${base}/v2/${m.repo}/blobs/${d}`);
    const bytes = Buffer.from(await r.arrayBuffer());
    assert.equal(r.status, 200, `${where}: GET blob ${d} of ${m.repo}@${m.digest}: ${bytes.toString('utf8').slice(0, 200)}`);
    assert.equal(sha(bytes), d, `${where}: blob ${d} of ${m.repo}@${m.digest}`);
  }
}

describe(`garbage collection racing pushes on two replicas (${postgres ? 'PostgreSQL' : 'SQLite, two processes on one file'}), delay 0`, () => {
  test('every acknowledged manifest pulls completely, and the collectors took what nothing used', async () => {
    const pool = Array.from({ length: POOL }, () => remember(randomBytes(2048)));
    // Candidates from the start: uploaded, used by no manifest.
    for (const d of pool) await upload(b.url, 'race/base', bodies.get(d)!);

    const collector = backgroundOf(b.app).collector;
    const collected: CollectResult[] = [];
    let racing = true;
    const collecting = (async () => {
      while (racing) {
        collected.push(await collector.collect());
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const acked: Acked[] = [];
    const deleted = new Set<Acked>();
    const stats = { pushes: 0, gaveUp: 0, mounts: 0, heads: 0, deletes: 0, reseeds: 0 };
    const pick = () => pool[Math.floor(Math.random() * pool.length)];
    const worker = async (w: number) => {
      for (let i = 0; i < OPS_PER_WORKER; i++) {
        const base = (w + i) % 2 === 0 ? a.url : b.url;
        const op = Math.random();
        if (op < 0.45) {
          const m = await push(base, `race/r${w % 4}`, [pick(), pick()]);
          if (m) acked.push(m);
          else stats.gaveUp++;
          stats.pushes++;
        } else if (op < 0.6) {
          const m = await push(base, `race/m${w % 3}`, [pick()], 'race/base');
          if (m) acked.push(m);
          else stats.gaveUp++;
          stats.mounts++;
        } else if (op < 0.7) {
          const r = await fetch(`${base}/v2/race/base/blobs/${pick()}`, { method: 'HEAD' });
          assert.ok(r.status === 200 || r.status === 404, `HEAD: ${r.status}`);
          stats.heads++;
        } else if (op < 0.85) {
          const live = acked.filter((m) => !deleted.has(m));
          const m = live[Math.floor(Math.random() * live.length)];
          if (!m) continue;
          deleted.add(m);
          const r = await fetch(`${base}/v2/${m.repo}/manifests/${m.digest}`, { method: 'DELETE' });
          assert.ok(r.status === 202, `DELETE ${m.repo}@${m.digest}: ${r.status} ${await r.text()}`);
          stats.deletes++;
        } else {
          await upload(base, 'race/base', bodies.get(pick())!);
          stats.reseeds++;
        }
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    racing = false;
    await collecting;

    const during = collected.reduce((n, r) => n + r.blobs, 0);
    console.log(`# ${JSON.stringify(stats)}; ${acked.length} acknowledged, ${deleted.size} deleted; this replica collected ${during} blobs`);
    assert.ok(stats.pushes + stats.mounts > 100, `hundreds of operations: ${JSON.stringify(stats)}`);
    assert.ok(during > 0, `the collector in this process took blobs while clients pushed (${JSON.stringify(stats)})`);
    assert.ok(acked.length - deleted.size > 20, `enough images stay to check (${acked.length} acknowledged, ${deleted.size} deleted)`);

    for (const m of acked) if (!deleted.has(m)) await pullsCompletely(a.url, m, 'replica a, right after the race');
    // Quiet now: one more collection takes everything unused, and nothing that is used.
    const last = await collector.collect();
    for (const m of acked) {
      if (deleted.has(m)) continue;
      await pullsCompletely(a.url, m, 'replica a, after a final collection');
      await pullsCompletely(b.url, m, 'replica b, after a final collection');
    }
    // Deleted images whose blobs nothing else uses are gone from both replicas.
    const used = new Set(acked.filter((m) => !deleted.has(m)).flatMap((m) => m.blobs));
    const unused = [...deleted].flatMap((m) => m.blobs).filter((d) => !used.has(d));
    assert.ok(unused.length > 0, 'some deleted images had blobs nothing else uses');
    // The other replica may hold a claim on some of them for a moment: collect until they are gone.
    const stored = () => unused.filter((d) => existsSync(path.join(root, 'blobs', 'sha256', d.slice(7, 9), d.slice(7))));
    for (const deadline = Date.now() + 30_000; stored().length > 0 && Date.now() < deadline; ) {
      await collector.collect();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(stored(), [], `unused blobs left in storage (collected ${during} during the race, ${last.blobs} after)`);
  });
});
