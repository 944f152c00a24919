// kill -9 while pushes are in flight, restart on the same storage, and check that
//  - everything committed before is intact (same bytes, digests verify),
//  - nothing half-written is visible (in-flight blobs/manifests: 404, or complete and verified),
//  - an interrupted upload session is either gone or resumes to exactly the right blob,
//  - clients can push again.
// The kill happens at different moments: in the middle of streaming PATCHes, right after
// the final PUTs (blob commit + manifest writes) were sent, and in the middle of a real
// client's (skopeo) push of the big multi-layer image.
import assert from 'node:assert/strict';
import { before } from 'node:test';
import { Skopeo } from '../helpers/clients.js';
import { registrySuite } from '../helpers/e2e.js';
import { request } from '../helpers/http.js';
import { Layout, MT, assertRegistryHasLayout, verifyRegistryImage } from '../helpers/oci.js';
import { startRecordingProxy } from '../helpers/proxy.js';
import { sha256, sleep, testImages, type TestImages } from '../helpers/shared.js';
import { RandomBlob, pushBlob, putManifest, startUpload, streamBody, withDigest, type StreamingRequest } from '../helpers/upload.js';

const s = registrySuite('crash');
let imgs: TestImages;
let skopeo: Skopeo;

/** What was committed before any crash: must survive every kill. */
interface Committed {
  repo: string;
  tag: string;
  digest: string;
  body: Buffer;
  blobs: { digest: string; size: number }[];
}
const committed: Committed[] = [];
const MiB = 1024 * 1024;

before(async () => {
  imgs = await testImages();
  skopeo = new Skopeo('crash-skopeo');
});

async function assertCommittedIntact(when: string) {
  assert.ok(committed.length > 0);
  for (const c of committed) {
    const byTag = await s.api.getManifest(c.repo, c.tag);
    assert.ok(byTag.body.equals(c.body), `${when}: ${c.repo}:${c.tag} manifest bytes changed`);
    const byDigest = await s.api.getManifest(c.repo, c.digest);
    assert.ok(byDigest.body.equals(c.body), `${when}: ${c.repo}@${c.digest} manifest bytes changed`);
    for (const b of c.blobs) {
      const body = await s.api.getBlob(c.repo, b.digest);
      assert.equal(body.length, b.size, `${when}: size of ${b.digest} in ${c.repo}`);
      assert.equal(sha256(body), b.digest, `${when}: content of ${b.digest} in ${c.repo}`);
    }
  }
}

/** A raw image: random config-ish JSON + layers of the given sizes, pushed monolithically. */
async function pushRawImage(repo: string, tag: string, seed: string, layerSizes: number[]): Promise<Committed> {
  const blobs: { digest: string; size: number }[] = [];
  const layers = [];
  for (const [i, size] of layerSizes.entries()) {
    const data = new RandomBlob(`${seed}-layer-${i}`, size).bytes();
    const digest = await pushBlob(s.reg.url, repo, data);
    blobs.push({ digest, size });
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size });
  }
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, config: { Labels: { seed } } }),
  );
  const cd = await pushBlob(s.reg.url, repo, config);
  blobs.push({ digest: cd, size: config.length });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cd, size: config.length },
      layers,
    }),
  );
  assert.equal(await putManifest(s.reg.url, repo, tag, manifest, MT.ociManifest), 201);
  return { repo, tag, digest: sha256(manifest), body: manifest, blobs };
}

/** Record every manifest of a pushed layout (children by digest) and its blobs. */
async function recordLayout(repo: string, tag: string, layout: Layout) {
  const top = layout.top();
  const closure = layout.closure();
  const blobs = closure.filter((d) => !/manifest|index/.test(d.mediaType)).map((d) => ({ digest: d.digest, size: d.size }));
  for (const d of closure.filter((d) => /manifest|index/.test(d.mediaType))) {
    const m = await s.api.getManifest(repo, d.digest);
    assert.ok(m.body.equals(layout.blob(d.digest)), `${repo}@${d.digest} as pushed`);
    const isTop = d.digest === top.digest;
    committed.push({ repo, tag: isTop ? tag : d.digest, digest: d.digest, body: m.body, blobs: isTop ? blobs : [] });
  }
}

async function killAndRestart(when: string) {
  const pid = s.reg.process.pid;
  await s.reg.kill9();
  assert.equal(s.reg.process.signalCode, 'SIGKILL', `${when}: server pid ${pid} was killed`);
  await s.reg.restart();
}

/** After a crash an upload session must be gone, or resume to exactly the right blob. */
async function checkOldSession(location: string, blob: RandomBlob, repo: string, when: string): Promise<string> {
  const st = await request(location, { timeoutMs: 30_000 });
  if (st.status === 404) {
    // the spec says BLOB_UPLOAD_UNKNOWN; distribution 2.8 answers BLOB_UPLOAD_INVALID here
    assert.match(st.body.toString(), /BLOB_UPLOAD_UNKNOWN|BLOB_UPLOAD_INVALID/, `${when}: 404 body of a dead session`);
    return 'gone';
  }
  assert.equal(st.status, 204, `${when}: GET of an interrupted upload session → ${st.status} ${st.body.toString()}`);
  const range = String(st.headers.range ?? '');
  const m = /^(?:bytes=)?0-(\d+)$/.exec(range);
  // "0-0" is what registries send for an empty session (it cannot mean 1 byte after MiBs)
  const have = m && range !== '0-0' ? Number(m[1]) + 1 : 0;
  assert.ok(have <= blob.size, `${when}: session claims ${have} bytes of ${blob.size}`);
  // resume from what the server says it has
  const from = have;
  let loc = location;
  if (from < blob.size) {
    const up = streamBody('PATCH', loc, blob, {
      start: from,
      headers: { 'Content-Range': `${from}-${blob.size - 1}`, 'Content-Length': blob.size - from },
    });
    const r = await up.result;
    assert.equal(r.status, 202, `${when}: resuming PATCH → ${r.status ?? r.error?.message} ${r.body ?? ''}`);
    loc = new URL(String(r.headers!.location), loc).toString();
  }
  const put = await request(withDigest(loc, blob.digest()), { method: 'PUT', headers: { 'Content-Length': 0 }, timeoutMs: 60_000 });
  assert.equal(put.status, 201, `${when}: completing a resumed session → ${put.status} ${put.body.toString()}`);
  const body = await s.api.getBlob(repo, blob.digest());
  assert.equal(sha256(body), blob.digest(), `${when}: resumed blob content`);
  return `resumed at ${(have / MiB).toFixed(1)} MiB`;
}

s.step('setup: commit images with skopeo and raw API pushes', async () => {
  const tiny = new Layout(imgs.layout('tiny'));
  const multi = new Layout(imgs.layout('multiarch'));
  await skopeo.run(['copy', '--quiet', '--dest-tls-verify=false', `oci:${imgs.layout('tiny')}:latest`, `docker://${s.reg.hostPort}/crash/tiny:v1`]);
  await skopeo.run([
    'copy',
    '--quiet',
    '--all',
    '--dest-tls-verify=false',
    `oci:${imgs.layout('multiarch')}:latest`,
    `docker://${s.reg.hostPort}/crash/multiarch:v1`,
  ]);
  await recordLayout('crash/tiny', 'v1', tiny);
  await recordLayout('crash/multiarch', 'v1', multi);
  committed.push(await pushRawImage('crash/raw', 'v1', 'committed-a', [3 * MiB, 512 * 1024, 1]));
  committed.push(await pushRawImage('crash/raw', 'v2', 'committed-b', [8 * MiB + 13]));
  await assertCommittedIntact('before any crash');
});

s.step('kill -9 in the middle of concurrent streaming PATCH uploads', async () => {
  const N = 3;
  const blobs = Array.from({ length: N }, (_, i) => new RandomBlob(`inflight-patch-${i}`, 64 * MiB));
  const sessions: { repo: string; loc: string; up: StreamingRequest }[] = [];
  for (const [i, b] of blobs.entries()) {
    const repo = `crash/inflight${i}`;
    const loc = await startUpload(s.reg.url, repo);
    // ~40 MiB/s each: the kill comes long before any finishes
    sessions.push({ repo, loc, up: streamBody('PATCH', loc, b, { chunkSize: 256 * 1024, paceMs: 6 }) });
  }
  const deadline = Date.now() + 30_000;
  while (sessions.some((x) => x.up.sent < 8 * MiB) && Date.now() < deadline) await sleep(10);
  assert.ok(
    sessions.every((x) => x.up.sent >= 8 * MiB && !x.up.finished),
    `uploads progressed: ${sessions.map((x) => x.up.sent)}`,
  );
  await killAndRestart('mid-PATCH');
  for (const x of sessions) assert.ok((await x.up.result).error || (await x.up.result).status !== 202, 'interrupted PATCH did not succeed');

  await assertCommittedIntact('after kill mid-PATCH');
  for (const [i, b] of blobs.entries()) {
    const repo = sessions[i].repo;
    assert.equal(await s.api.blobStatus(repo, b.digest()), 404, `HEAD of never-finished blob ${i}`);
    assert.equal(await s.api.blobStatus(repo, b.digest(), 'GET'), 404, `GET of never-finished blob ${i}`);
    assert.equal(await s.api.blobStatus('crash/raw', b.digest()), 404, `never-finished blob ${i} in another repository`);
  }
  // the interrupted sessions: dead, or resumable to the exact blob
  const outcomes = [];
  for (const [i, b] of blobs.entries()) outcomes.push(await checkOldSession(sessions[i].loc, b, sessions[i].repo, `session ${i}`));
  process.stderr.write(`# ${s.reg.kind}: interrupted upload sessions after restart: ${outcomes.join(', ')}\n`);
  // and a fresh upload of the same content works
  const again = blobs[0];
  const loc = await startUpload(s.reg.url, 'crash/inflight0');
  const r = await streamBody('PATCH', loc, again).result;
  assert.equal(r.status, 202, `fresh PATCH after restart: ${r.status ?? r.error?.message} ${r.body ?? ''}`);
  const put = await request(withDigest(new URL(String(r.headers!.location), loc).toString(), again.digest()), {
    method: 'PUT',
    headers: { 'Content-Length': 0 },
  });
  assert.equal(put.status, 201, put.body.toString());
  assert.equal(sha256(await s.api.getBlob('crash/inflight0', again.digest())), again.digest());
});

s.step('kill -9 right after the final PUTs (blob commits, monolithic uploads, manifest writes)', async () => {
  const N = 3;
  // (a) chunked uploads whose data is all in: kill while the closing PUT ?digest= is processed
  const patched = Array.from({ length: N }, (_, i) => new RandomBlob(`commit-patch-${i}`, 24 * MiB + 7 * i));
  const locs: string[] = [];
  for (const [i, b] of patched.entries()) {
    const loc = await startUpload(s.reg.url, `crash/commit${i}`);
    const r = await streamBody('PATCH', loc, b).result;
    assert.equal(r.status, 202, `PATCH ${i}: ${r.status ?? r.error?.message}`);
    locs.push(new URL(String(r.headers!.location), loc).toString());
  }
  // (b) containerd-style: POST, then one PUT ?digest= carrying the whole blob
  const mono = Array.from({ length: N }, (_, i) => new RandomBlob(`commit-mono-${i}`, 16 * MiB + 3 * i));
  const monoLocs: string[] = [];
  for (let i = 0; i < N; i++) monoLocs.push(await startUpload(s.reg.url, `crash/mono${i}`));
  // (c) manifests of an already-committed image under new tags
  const base = committed.find((c) => c.repo === 'crash/raw' && c.tag === 'v1')!;
  const tags = Array.from({ length: 8 }, (_, i) => `crashtag${i}`);

  const closing = patched.map((b, i) => request(withDigest(locs[i], b.digest()), { method: 'PUT', headers: { 'Content-Length': 0 } }).catch((e: Error) => e));
  const monos = mono.map((b, i) => streamBody('PUT', withDigest(monoLocs[i], b.digest()), b, { headers: { 'Content-Length': b.size } }));
  const manifests = tags.map((t) => putManifest(s.reg.url, 'crash/raw', t, base.body, MT.ociManifest).catch((e: Error) => e));
  // kill as soon as the monolithic bodies are on the wire
  const deadline = Date.now() + 30_000;
  while (monos.some((m) => !m.finished) && Date.now() < deadline) await sleep(2);
  await killAndRestart('right after the final PUTs');
  await Promise.all([...closing, ...monos.map((m) => m.result), ...manifests]);

  await assertCommittedIntact('after kill at commit');
  let visible = 0;
  const inFlight = [...patched.map((blob, i) => ({ blob, repo: `crash/commit${i}` })), ...mono.map((blob, i) => ({ blob, repo: `crash/mono${i}` }))];
  for (const { blob, repo } of inFlight) {
    const st = await s.api.blobStatus(repo, blob.digest());
    if (st === 404) continue;
    assert.equal(st, 200, `HEAD ${blob.digest()} in ${repo} after the crash`);
    visible++;
    const head = await s.api.req('HEAD', `/v2/${repo}/blobs/${blob.digest()}`);
    assert.equal(Number(head.headers['content-length']), blob.size, `HEAD Content-Length of a committed blob in ${repo}`);
    const body = await s.api.getBlob(repo, blob.digest());
    assert.equal(body.length, blob.size, `a visible blob is complete (${repo})`);
    assert.equal(sha256(body), blob.digest(), `a visible blob has the right content (${repo})`);
  }
  let tagged = 0;
  for (const t of tags) {
    const st = await s.api.manifestStatus('crash/raw', t);
    if (st === 404) continue;
    assert.equal(st, 200);
    tagged++;
    const m = await s.api.getManifest('crash/raw', t);
    assert.ok(m.body.equals(base.body), `tag ${t} points at exactly the pushed manifest`);
  }
  process.stderr.write(`# ${s.reg.kind}: after the commit-time kill ${visible}/${2 * N} blobs and ${tagged}/${tags.length} tags had committed\n`);
  // everything can be pushed again
  for (const [i, b] of mono.entries()) {
    const loc = await startUpload(s.reg.url, `crash/mono${i}`);
    const r = await streamBody('PUT', withDigest(loc, b.digest()), b, { headers: { 'Content-Length': b.size } }).result;
    assert.equal(r.status, 201, `re-push of mono ${i}: ${r.status ?? r.error?.message} ${r.body ?? ''}`);
    assert.equal(sha256(await s.api.getBlob(`crash/mono${i}`, b.digest())), b.digest());
  }
  for (const t of tags) assert.equal(await putManifest(s.reg.url, 'crash/raw', t, base.body, MT.ociManifest), 201);
  assert.deepEqual((await s.api.tags('crash/raw')).sort(), ['v1', 'v2', ...tags].sort());
});

s.step('kill -9 a few milliseconds into a burst of manifest writes', async () => {
  const base = committed.find((c) => c.repo === 'crash/raw' && c.tag === 'v1')!;
  const doc = JSON.parse(base.body.toString()) as Record<string, unknown>;
  const REPO = 'crash/raw'; // where the blobs are
  // 40 distinct manifests (same blobs, different annotations) under 40 new tags
  const items = Array.from({ length: 40 }, (_, i) => {
    const body = Buffer.from(JSON.stringify({ ...doc, annotations: { 'dev.berth.e2e.burst': String(i) } }));
    return { tag: `burst${i}`, body, digest: sha256(body) };
  });
  // all 40 go out at once on their own connections; the kill comes when the first is
  // acknowledged, so the others are caught at various stages
  const acked: string[] = [];
  const writes = items.map((it) =>
    putManifest(s.reg.url, REPO, it.tag, it.body, MT.ociManifest).then(
      (st) => {
        if (st === 201) acked.push(it.tag);
        return st;
      },
      (e: Error) => e,
    ),
  );
  const deadline = Date.now() + 10_000;
  while (acked.length === 0 && Date.now() < deadline) await sleep(1);
  await killAndRestart('burst of manifest writes');
  await Promise.all(writes);
  const acknowledged = new Set(acked);

  await assertCommittedIntact('after kill during manifest writes');
  let present = 0;
  for (const it of items) {
    const st = await s.api.manifestStatus(REPO, it.tag);
    // a write the server acknowledged with 201 must have survived
    if (acknowledged.has(it.tag)) assert.equal(st, 200, `acknowledged tag ${it.tag} lost after kill -9`);
    if (st === 404) continue;
    assert.equal(st, 200, `tag ${it.tag}`);
    present++;
    const m = await s.api.getManifest(REPO, it.tag);
    assert.ok(m.body.equals(it.body), `tag ${it.tag} resolves to exactly its manifest`);
    const byDigest = await s.api.getManifest(REPO, it.digest);
    assert.ok(byDigest.body.equals(it.body), `a tagged manifest is readable by digest (${it.digest})`);
  }
  process.stderr.write(`# ${s.reg.kind}: ${acknowledged.size} manifest writes acknowledged before the kill, ${present}/${items.length} tags present after\n`);
  for (const it of items) assert.equal(await putManifest(s.reg.url, REPO, it.tag, it.body, MT.ociManifest), 201);
  assert.equal((await s.api.tags(REPO)).filter((t) => t.startsWith('burst')).length, items.length);
});

s.step('kill -9 in the middle of a skopeo push of the big multi-layer image, then push again', async () => {
  const layout = new Layout(imgs.layout('multilayer'));
  const big = layout.images()[0].manifest.layers!.reduce((a, l) => (l.size > a.size ? l : a));
  const proxy = await startRecordingProxy(s.reg.url);
  try {
    const push = skopeo.runMayFail([
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      '--retry-times',
      '0',
      `oci:${imgs.layout('multilayer')}:latest`,
      `docker://${proxy.hostPort}/crash/big:v1`,
    ]);
    const deadline = Date.now() + 60_000;
    const bigUploadBytes = () => proxy.requests.filter((r) => r.method === 'PATCH' || r.method === 'PUT').reduce((a, r) => Math.max(a, r.bytesIn), 0);
    while (bigUploadBytes() < big.size / 3 && Date.now() < deadline) await sleep(5);
    assert.ok(bigUploadBytes() >= big.size / 3, `skopeo upload progressed to ${bigUploadBytes()} bytes`);
    assert.ok(bigUploadBytes() < big.size, 'the kill came before the big layer was fully sent');
    await s.reg.kill9();
    const r = await push;
    assert.notEqual(r.code, 0, 'skopeo must notice the crash');
  } finally {
    await proxy.close();
  }
  await s.reg.restart();
  await assertCommittedIntact('after kill during skopeo push');
  assert.equal(await s.api.manifestStatus('crash/big', 'v1'), 404, 'the interrupted image is not tagged');
  assert.equal(await s.api.blobStatus('crash/big', big.digest), 404, 'the half-sent big layer is not visible');
  for (const d of layout.closure()) {
    const st = await s.api.blobStatus('crash/big', d.digest);
    if (st === 200) assert.equal(sha256(await s.api.getBlob('crash/big', d.digest)), d.digest, `a visible blob ${d.digest} is complete`);
  }
  await skopeo.run(['copy', '--quiet', '--dest-tls-verify=false', `oci:${imgs.layout('multilayer')}:latest`, `docker://${s.reg.hostPort}/crash/big:v1`]);
  await assertRegistryHasLayout(s.api, 'crash/big', 'v1', layout);
  const v = await verifyRegistryImage(s.api, 'crash/big', 'v1');
  assert.equal(v.images[0].configDigest, layout.images()[0].manifest.config!.digest);
});

s.step('a clean restart keeps everything and the server still accepts pushes', async () => {
  await s.reg.restart();
  await assertCommittedIntact('after a clean restart');
  await skopeo.run(['copy', '--quiet', '--dest-tls-verify=false', `oci:${imgs.layout('tiny')}:latest`, `docker://${s.reg.hostPort}/crash/after:v1`]);
  await assertRegistryHasLayout(s.api, 'crash/after', 'v1', new Layout(imgs.layout('tiny')));
});
