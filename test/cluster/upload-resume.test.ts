// A replica dies (SIGKILL) while it receives an upload's PATCH through nginx (deploy/nginx/berth.conf):
// the client's request fails, as skopeo's and docker's do, but the session lives on in PostgreSQL and the
// shared storage. The client resumes through nginx as docs/deployment.md says: GET the upload URL for
// its Range, PATCH the rest from there (416 while the dead replica's claim holds), PUT with the digest.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';
import { removeTree, sleep, tempDir } from '../helpers/shared.js';
import { streamingPatch } from '../helpers/streaming-patch.js';

const MiB = 1024 * 1024;
let schema: PgSchema;
let work: string;
let replicas: RegistryProcess[] = [];
let lb: Nginx;

before(async () => {
  work = tempDir('upload-resume');
  schema = await freshSchema('resume');
  const env = {
    REGISTRY_LOG_LEVEL: 'warn',
    REGISTRY_HTTP_TRUSTPROXY: '127.0.0.1',
    REGISTRY_METADATA: 'postgres',
    REGISTRY_METADATA_POSTGRES_URL: schema.url,
    REGISTRY_METADATA_POSTGRES_POOLSIZE: '4',
  };
  // One storage directory for both (a shared volume), one database: any replica can continue the session.
  const root = path.join(work, 'storage');
  fs.mkdirSync(root);
  replicas = await Promise.all([1, 2].map((i) => startBerth({ name: `resume-${i}`, root, env, readyTimeoutMs: 60_000 })));
  lb = await startNginx(
    path.join(work, 'nginx'),
    replicas.map((r) => r.port),
  );
});

after(async () => {
  await lb?.stop();
  await Promise.all(replicas.map((r) => r.stop().catch(() => {})));
  await schema?.drop();
  if (work) removeTree(work);
});

const rchar = (r: RegistryProcess) => Number(/rchar: (\d+)/.exec(fs.readFileSync(`/proc/${r.process.pid}/io`, 'utf8'))?.[1] ?? 0);
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('an upload whose replica dies mid-PATCH behind nginx', () => {
  it('fails the client, and resumes through nginx from the Range the session reports; the blob matches its digest', async (t) => {
    const blob = randomBytes(48 * MiB);
    const start = await fetch(`${lb.url}/v2/resume/layer/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const location = new URL(start.headers.get('location')!, lb.url);
    assert.equal(location.host, lb.hostPort, 'Location points at nginx');

    // Stream the first 24 MiB and find the replica that is reading them.
    const before = replicas.map(rchar);
    const patch = streamingPatch(location.href);
    for (let sent = 0; sent < 24 * MiB; sent += MiB) await patch.write(blob.subarray(sent, sent + MiB));
    let victim: RegistryProcess | undefined;
    for (let i = 0; i < 200 && !victim; i++) {
      const grew = replicas.map((r, k) => rchar(r) - before[k]);
      const k = grew.findIndex((g) => g > 16 * MiB);
      if (k >= 0) victim = replicas[k];
      else await sleep(25);
    }
    assert.ok(victim, 'a replica was seen receiving the PATCH');
    await victim.kill9();

    // What a client sees: its PATCH fails (502 from nginx, or the connection cut).
    const failed = await patch.outcome;
    assert.ok(failed instanceof Error || failed.status === 502, `the interrupted PATCH failed: ${failed instanceof Error ? failed.message : failed.status}`);

    // 1. Where to resume: the session, read through nginx (served by the surviving replica).
    const status = await fetch(location);
    assert.equal(status.status, 204);
    const range = /^0-(\d+)$/.exec(status.headers.get('range') ?? '');
    assert.ok(range, `Range: ${status.headers.get('range')}`);
    const next = Number(range[1]) + 1;
    assert.ok(next > 0 && next <= 24 * MiB, `the registry kept ${next} bytes of the 24 MiB sent`);

    // 2. The rest from there; 416 while the dead replica's claim holds (at most 15 s).
    let resumed: Response | undefined;
    let refusals = 0;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      resumed = await fetch(location, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${next}-${blob.length - 1}` },
        body: blob.subarray(next),
      });
      if (resumed.status !== 416) break;
      assert.equal(resumed.headers.get('range'), `0-${next - 1}`, 'a 416 reports the same Range');
      await resumed.arrayBuffer();
      refusals++;
      await sleep(1000);
    }
    assert.equal(resumed?.status, 202, `resumed PATCH: ${resumed?.status} ${await resumed?.text()} after ${refusals} 416s`);
    assert.equal(resumed.headers.get('range'), `0-${blob.length - 1}`);
    t.diagnostic(`resumed at byte ${next} of ${24 * MiB} sent before the kill, after ${refusals} 416 answers (the dead claim)`);

    // 3. Commit, and read it back through nginx.
    const done = new URL(resumed.headers.get('location')!, lb.url);
    done.searchParams.set('digest', sha256(blob));
    const put = await fetch(done, { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    const get = await fetch(`${lb.url}/v2/resume/layer/blobs/${sha256(blob)}`);
    assert.equal(get.status, 200);
    assert.equal(sha256(Buffer.from(await get.arrayBuffer())), sha256(blob), 'the blob is the bytes sent');

    // The dead replica comes back and serves the blob too.
    await victim.restart();
    const again = await fetch(`${victim.url}/v2/resume/layer/blobs/${sha256(blob)}`, { method: 'HEAD' });
    assert.equal(again.status, 200);
  });
});
