// A full disk: Berth (a real process) with its storage root and SQLite database on a small
// tmpfs that the test fills to the last page. Writes must answer 507 STORAGE_FULL with an OCI
// body, the log must name the real error (ENOSPC, SQLITE_FULL), reads must keep working with
// the right bytes, nothing half-written may become visible, and once space is freed pushes
// work again without a restart.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { MT, api, asBody, digestOf, pushBlob, pushImage, putManifest, randomBlob, withQuery, type PushedImage } from '../helpers/api-server.js';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.js';

const MiB = 1024 * 1024;
const REPO = 'full/disk';

describe('a full disk (storage root and SQLite database on a 24 MiB tmpfs)', () => {
  let disk: Tmpfs;
  let reg: RegistryProcess;
  let v1: PushedImage;
  let v2: PushedImage;
  let spare: { digest: string; bytes: Buffer };
  /** Upload sessions started while there was room: one for a chunked push, one for a monolithic PUT. */
  let chunked: URL;
  let monolithic: URL;
  const firstChunk = randomBlob(100_000);
  const big = randomBlob(2 * MiB);

  before(async () => {
    disk = mountTmpfs(24);
    reg = await startBerth({ root: disk.dir, name: 'full-disk', env: { REGISTRY_STORAGE_DELETE_ENABLED: 'true', REGISTRY_LOG_LEVEL: 'info' } });
    v1 = await pushImage(reg.url, REPO, { ref: 'v1', layers: 2 });
    v2 = await pushImage(reg.url, REPO, { ref: 'v2' });
    spare = await pushBlob(reg.url, REPO, randomBlob(5000));
    const start = async () => {
      const res = await api(reg.url, `/v2/${REPO}/blobs/uploads/`, { method: 'POST' });
      assert.equal(res.status, 202);
      return new URL(res.headers.get('location')!, reg.url);
    };
    chunked = await start();
    const patch = await fetch(chunked, { method: 'PATCH', headers: { 'Content-Range': `0-${firstChunk.length - 1}` }, body: asBody(firstChunk) });
    assert.equal(patch.status, 202, await patch.text());
    chunked = new URL(patch.headers.get('location')!, reg.url);
    monolithic = await start();
    const filled = disk.fill();
    assert.ok(filled > 10 * MiB, `the filler took ${filled} bytes`);
  });

  after(async () => {
    await reg?.stop();
    disk?.unmount();
  });

  /** 507 with the OCI body that says storage is full. */
  async function expectFull(res: Response, what: string): Promise<void> {
    const text = await res.text();
    assert.equal(res.status, 507, `${what}: ${res.status} ${text}`);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/, what);
    const body = JSON.parse(text) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0].code, 'STORAGE_FULL', what);
    assert.match(body.errors[0].message, /out of storage space/, what);
  }

  async function assertServes(img: PushedImage, ref: string): Promise<void> {
    const m = await api(reg.url, `/v2/${REPO}/manifests/${ref}`, { headers: { Accept: MT.ociManifest } });
    assert.equal(m.status, 200, `manifest ${ref}`);
    assert.ok(Buffer.from(await m.arrayBuffer()).equals(img.manifest.bytes), `manifest ${ref} bytes`);
    for (const b of [img.config, ...img.layers]) {
      const res = await api(reg.url, `/v2/${REPO}/blobs/${b.digest}`);
      assert.equal(res.status, 200, `blob ${b.digest}`);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(b.bytes), `blob ${b.digest} bytes`);
    }
  }

  describe('storage full, the database still has a little room (512 KiB left)', () => {
    before(() => disk.leave(512 * 1024));

    it('a monolithic push answers 507 STORAGE_FULL (POST ?digest= and POST then PUT with the body)', async () => {
      await expectFull(
        await api(reg.url, `/v2/${REPO}/blobs/uploads/?digest=${digestOf(big)}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/octet-stream' },
          body: asBody(big),
        }),
        'POST ?digest=',
      );
      await expectFull(
        await fetch(withQuery(monolithic.href, { digest: digestOf(big) }), {
          method: 'PUT',
          headers: { 'Content-Type': 'application/octet-stream' },
          body: asBody(big),
        }),
        'PUT ?digest=',
      );
      assert.equal((await api(reg.url, `/v2/${REPO}/blobs/${digestOf(big)}`, { method: 'HEAD' })).status, 404, 'no blob appeared');
      const status = await fetch(monolithic);
      assert.equal(status.status, 204, 'the session is still there');
      assert.equal(status.headers.get('range'), '0-0', 'and empty: the bytes that fitted were dropped');
      // Only the two sessions the client knows are left (the POST ?digest= one was dropped).
      const sessions = readdirSync(path.join(disk.dir, 'uploads')).sort();
      assert.deepEqual(sessions, [chunked, monolithic].map((u) => u.pathname.split('/').pop()!).sort());
      assert.equal(statSync(path.join(disk.dir, 'uploads', sessions[0])).size + statSync(path.join(disk.dir, 'uploads', sessions[1])).size, firstChunk.length);
    });

    it('a chunked push answers 507 and the upload keeps exactly what it had (the failed chunk is undone)', async () => {
      const chunk = randomBlob(MiB);
      const res = await fetch(chunked, {
        method: 'PATCH',
        headers: { 'Content-Range': `${firstChunk.length}-${firstChunk.length + chunk.length - 1}` },
        body: asBody(chunk),
      });
      await expectFull(res, 'PATCH');
      const status = await fetch(chunked);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), `0-${firstChunk.length - 1}`);
    });

    it('the log names ENOSPC', () => {
      assert.match(readFileSync(reg.logFile, 'utf8'), /"code":"ENOSPC"/);
    });
  });

  describe('completely full', () => {
    before(() => {
      disk.fill();
    });

    it('a push answers 507 at its first write, to the database or to storage', async () => {
      await expectFull(await api(reg.url, `/v2/${REPO}/blobs/uploads/`, { method: 'POST' }), 'POST');
      await expectFull(await api(reg.url, `/v2/${REPO}/blobs/uploads/?digest=${digestOf(big)}`, { method: 'POST', body: asBody(big) }), 'POST ?digest=');
      const chunk = randomBlob(1000);
      await expectFull(
        await fetch(chunked, {
          method: 'PATCH',
          headers: { 'Content-Range': `${firstChunk.length}-${firstChunk.length + chunk.length - 1}` },
          body: asBody(chunk),
        }),
        'PATCH',
      );
    });

    it('a manifest push answers 507 and creates no tag', async () => {
      const doc = { ...v1.doc, annotations: { pushed: 'while full' } };
      const r = await putManifest(reg.url, REPO, doc, { ref: 'v3' });
      assert.equal(r.status, 507, r.text);
      assert.equal(JSON.parse(r.text).errors[0].code, 'STORAGE_FULL');
      assert.equal((await api(reg.url, `/v2/${REPO}/manifests/v3`, { method: 'HEAD' })).status, 404);
    });

    it('deletes answer 507 and change nothing (a delete writes to the database: tag history, review queue, events)', async () => {
      await expectFull(await api(reg.url, `/v2/${REPO}/manifests/v2`, { method: 'DELETE' }), 'DELETE manifest');
      await expectFull(await api(reg.url, `/v2/${REPO}/blobs/${spare.digest}`, { method: 'DELETE' }), 'DELETE blob');
      await assertServes(v2, 'v2');
      assert.equal((await api(reg.url, `/v2/${REPO}/blobs/${spare.digest}`, { method: 'HEAD' })).status, 200);
    });

    it('the log names SQLITE_FULL', () => {
      assert.match(readFileSync(reg.logFile, 'utf8'), /"code":"SQLITE_FULL"/);
    });
  });

  it('reads keep working with the right bytes: manifests, blobs, ranges, tag list, catalog', async () => {
    await assertServes(v1, 'v1');
    await assertServes(v1, v1.manifest.digest);
    const layer = v1.layers[1];
    const range = await api(reg.url, `/v2/${REPO}/blobs/${layer.digest}`, { headers: { Range: 'bytes=10-19' } });
    assert.equal(range.status, 206);
    assert.ok(Buffer.from(await range.arrayBuffer()).equals(layer.bytes.subarray(10, 20)));
    const tags = await api(reg.url, `/v2/${REPO}/tags/list`);
    assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, ['v1', 'v2']);
    const catalog = await api(reg.url, '/v2/_catalog');
    assert.deepEqual(((await catalog.json()) as { repositories: string[] }).repositories, [REPO]);
  });

  it('no request answered 500 and no failed rollback hid an error', () => {
    const log = readFileSync(reg.logFile, 'utf8');
    assert.doesNotMatch(log, /cannot rollback/);
    assert.doesNotMatch(log, /"status":500/);
    assert.match(log, /"status":507/);
  });

  it('once space is freed, pushes work again without a restart, and nothing half-written is visible', async () => {
    const pid = reg.process.pid;
    disk.free();
    // The interrupted chunked upload resumes where it was and commits.
    const rest = randomBlob(300_000);
    const patch = await fetch(chunked, {
      method: 'PATCH',
      headers: { 'Content-Range': `${firstChunk.length}-${firstChunk.length + rest.length - 1}` },
      body: asBody(rest),
    });
    assert.equal(patch.status, 202, await patch.text());
    const whole = Buffer.concat([firstChunk, rest]);
    const done = await fetch(withQuery(new URL(patch.headers.get('location')!, reg.url).href, { digest: digestOf(whole) }), { method: 'PUT' });
    assert.equal(done.status, 201, await done.text());
    // The monolithic session takes its body now; a fresh image pushes and tags.
    const put = await fetch(withQuery(monolithic.href, { digest: digestOf(big) }), {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: asBody(big),
    });
    assert.equal(put.status, 201, await put.text());
    const v3 = await pushImage(reg.url, REPO, { ref: 'v3' });
    await assertServes(v3, 'v3');
    assert.equal((await api(reg.url, `/v2/${REPO}/manifests/v2`, { method: 'DELETE' })).status, 202);
    assert.equal(reg.process.pid, pid, 'the same process');
    // Every tag points at a manifest that is served whole.
    const tags = ((await (await api(reg.url, `/v2/${REPO}/tags/list`)).json()) as { tags: string[] }).tags;
    assert.deepEqual(tags, ['v1', 'v3']);
    await assertServes(v1, 'v1');
    for (const [d, bytes] of [
      [digestOf(whole), whole],
      [digestOf(big), big],
    ] as const) {
      const res = await api(reg.url, `/v2/${REPO}/blobs/${d}`);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));
    }
  });
});
