// The crash-leftover sweep where operators meet it: `berth gc` (the built command) sweeps stored bytes the
// database does not know once older than --grace (default 1h), `--dry-run` lists them and changes nothing;
// and every server runs it as the background job `gc-sweep`.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { backgroundOf, createStorage } from '../../src/app.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { api, digestOf, pushImage, removeDir, serverPerFile, startServer } from '../helpers/api-server.js';
import { TestClock } from '../helpers/clock.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { berthCommandOn } from '../helpers/berth-process.js';

const _MAIN = path.join(REPO_ROOT, 'dist', 'main.js');
const s = serverPerFile();

const berth = (args: string[]) => berthCommandOn(s, args);

/** A blob object with no database row (a crash between its bytes and its transaction); returns its key. */
async function leftoverBlob(storage: StorageDriver, size: number): Promise<{ key: string; file: (root: string) => string }> {
  const body = randomBytes(size);
  const hex = digestOf(body).slice(7);
  const key = `blobs/sha256/${hex.slice(0, 2)}/${hex}`;
  await storage.put(key, body);
  return { key, file: (root) => path.join(root, key) };
}

/** An upload session in storage with no row (a crash between its bytes and its row). */
async function leftoverUpload(storage: StorageDriver): Promise<string> {
  const id = randomUUID();
  await storage.uploadCreate(id);
  await storage.uploadAppend(id, 0, Readable.from([Buffer.from('half an upload')]));
  return id;
}

describe('berth gc sweeps crash leftovers', () => {
  test('--dry-run lists them and changes nothing; a run removes them; fresh ones wait for the grace period', async () => {
    const storage = await createStorage(s.config);
    const image = await pushImage(s.url, 'sweep/app', { ref: 'v1', layers: 2 });
    const blob = await leftoverBlob(storage, 1234);
    const upload = await leftoverUpload(storage);

    const fresh = await berth(['gc', '--dry-run']);
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.match(
      fresh.stdout,
      /\ngc: would sweep 0 leftover objects \(0 B, 0 bytes\), 0 abandoned upload sessions and 0 pieces of storage debris older than 3600 s, of \d+ objects listed/,
    );

    const dry = await berth(['gc', '--dry-run', '--grace', '0s']);
    assert.equal(dry.status, 0, dry.stderr);
    const lines = dry.stdout.trim().split('\n');
    assert.ok(
      lines.some((l) => l.startsWith(`leftover ${blob.key} 1234 bytes (stored `)),
      dry.stdout,
    );
    assert.ok(
      lines.some((l) => l.startsWith(`leftover upload ${upload} (last written `)),
      dry.stdout,
    );
    assert.match(
      lines.at(-1)!,
      /^gc: would sweep 1 leftover objects \(1\.2 KiB, 1234 bytes\), 1 abandoned upload sessions and 0 pieces of storage debris older than 0 s, of \d+ objects listed/,
    );
    assert.ok(existsSync(blob.file(s.dir)));
    assert.notEqual(await storage.uploadSize(upload), null);

    const run = await berth(['gc', '--grace', '0s']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(
      run.stdout,
      /\ngc: swept 1 leftover objects \(1\.2 KiB, 1234 bytes\), 1 abandoned upload sessions and 0 pieces of storage debris older than 0 s/,
    );
    assert.ok(!existsSync(blob.file(s.dir)), 'the leftover left the disk');
    assert.equal(await storage.uploadSize(upload), null);
    for (const b of [image.config, ...image.layers]) {
      const r = await api(s.url, `/v2/sweep/app/blobs/${b.digest}`);
      assert.equal(r.status, 200);
      assert.equal(digestOf(Buffer.from(await r.arrayBuffer())), b.digest);
    }
    assert.equal((await api(s.url, '/v2/sweep/app/manifests/v1', { method: 'HEAD' })).status, 200);
  });

  test('a bad --grace is one line on stderr and changes nothing', async () => {
    const r = await berth(['gc', '--grace', 'later']);
    assert.equal(r.status, 1);
    assert.deepEqual(r.stderr.trim().split('\n'), ['berth: --grace: expected a duration such as 1h or 30m, got "later"']);
    assert.equal(r.stdout, '');
  });
});

describe('the gc-sweep background job', () => {
  const clock = new TestClock();
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  after(async () => {
    await server?.close();
    if (server) removeDir(server.dir);
  });

  test('removes leftovers once they are older than the grace period by the app clock', async () => {
    server = await startServer({ parts: { now: clock.now }, config: { storage: { gc: { enabled: true } } } });
    const storage = await createStorage(server.config);
    const blob = await leftoverBlob(storage, 100);
    const upload = await leftoverUpload(storage);
    const { jobs } = backgroundOf(server.app);
    assert.ok(jobs.names().includes('gc-sweep'), `jobs: ${jobs.names()}`);
    await jobs.runNow('gc-sweep');
    assert.ok(existsSync(blob.file(server.dir)), 'young leftovers stay');
    clock.advance(2 * 3600_000);
    await jobs.runNow('gc-sweep');
    assert.ok(!existsSync(blob.file(server.dir)));
    assert.equal(await storage.uploadSize(upload), null);
  });
});
