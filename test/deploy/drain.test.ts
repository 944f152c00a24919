// SIGTERM as Kubernetes sends it in a rollout (after preStop): Berth stops accepting connections, lets
// in-flight uploads run for http.draintimeout, then closes what is left and exits. An upload cut there
// keeps its session: the client resumes it (here on the restarted process, in a cluster on another replica).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { sleep } from '../helpers/shared.js';
import { streamingPatch } from '../helpers/streaming-patch.js';

const DRAIN_MS = 2000;
let berth: RegistryProcess;

before(async () => {
  berth = await startBerth({ name: 'drain', env: { REGISTRY_HTTP_DRAINTIMEOUT: `${DRAIN_MS / 1000}s` } });
});
after(async () => {
  await berth?.dispose();
});

async function startUpload(repo: string): Promise<string> {
  const res = await fetch(`${berth.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  assert.equal(res.status, 202);
  return new URL(res.headers.get('location')!, berth.url).href;
}

/** Resolves once the listener refuses new connections (the server has begun to close). */
async function listenerClosed(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const refused = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(false);
      });
      s.once('error', () => resolve(true));
    });
    if (refused) return;
    await sleep(25);
  }
  assert.fail('the listener still accepts connections after SIGTERM');
}

describe('draining on SIGTERM', () => {
  it('finishes an upload in flight, cuts one still running at http.draintimeout, and the cut one resumes', async () => {
    const finishing = await startUpload('drain/finishing');
    const stuck = await startUpload('drain/stuck');
    const a = streamingPatch(finishing);
    const b = streamingPatch(stuck);
    const partA = randomBytes(1024 * 1024);
    const partB = randomBytes(3 * 1024 * 1024);
    await a.write(partA);
    await b.write(partB);

    const exited = new Promise<number>((resolve) => berth.process.once('exit', () => resolve(Date.now())));
    const termAt = Date.now();
    berth.process.kill('SIGTERM');
    await listenerClosed(berth.port);

    // In flight when the signal came: it may still send, and completes.
    const restA = randomBytes(512 * 1024);
    await a.write(restA);
    const resA = await a.end();
    assert.equal(resA.status, 202, resA.body);
    assert.equal(resA.headers.range, `0-${partA.length + restA.length - 1}`);

    // Still sending at the deadline: its connection is closed and the process exits then, not 10 s later.
    const exitAt = await exited;
    const outcomeB = await b.outcome;
    assert.ok(outcomeB instanceof Error || outcomeB.status >= 400, 'the stuck upload was cut');
    const drained = exitAt - termAt;
    assert.ok(drained >= DRAIN_MS - 100 && drained < DRAIN_MS + 3000, `exited ${drained} ms after SIGTERM with http.draintimeout ${DRAIN_MS} ms`);

    // The cut upload's session survives: its status says where to resume, and the blob completes.
    await berth.restart();
    const status = await fetch(stuck);
    assert.equal(status.status, 204);
    const have = Number(/^0-(\d+)$/.exec(status.headers.get('range') ?? '')?.[1] ?? -1) + 1;
    assert.ok(have >= 0 && have <= partB.length, `resumes from ${have}`);
    const rest = randomBytes(256 * 1024);
    const blob = Buffer.concat([partB.subarray(0, have), rest]);
    const patch = await fetch(stuck, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${have}-${blob.length - 1}` },
      body: blob.subarray(have),
    });
    assert.equal(patch.status, 202, await patch.text());
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const done = new URL(patch.headers.get('location')!, berth.url);
    done.searchParams.set('digest', digest);
    const put = await fetch(done, { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    const get = await fetch(`${berth.url}/v2/drain/stuck/blobs/${digest}`);
    assert.equal(
      `sha256:${createHash('sha256')
        .update(Buffer.from(await get.arrayBuffer()))
        .digest('hex')}`,
      digest,
    );
  });
});
