// storage.gc.deleteconcurrency: the collector keeps that many storage deletes in flight (on S3,
// DeleteObjects requests), never more, and splits a small run so that it fills them; every blob still
// goes. The storage is the real filesystem driver, watched: each deleteMany call waits until the
// configured number are in flight (at most 5 s, so a collector that never gets there fails instead
// of hanging), then all proceed.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { backgroundOf } from '../../src/app.js';
import { FilesystemDriver } from '../../src/storage/filesystem.js';
import { api, pushBlob, randomBlob, removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';

const CONCURRENCY = 3;
const BLOBS = 400;

class WatchedDriver extends FilesystemDriver {
  inFlight = 0;
  most = 0;
  calls = 0;
  private open = false;
  private readonly waiting: (() => void)[] = [];

  override async deleteMany(keys: readonly string[]): Promise<void> {
    this.calls++;
    this.most = Math.max(this.most, ++this.inFlight);
    try {
      if (this.inFlight >= CONCURRENCY) this.open = true;
      if (this.open) for (const wake of this.waiting.splice(0)) wake();
      else await Promise.race([new Promise<void>((resolve) => this.waiting.push(resolve)), sleep(5000)]);
      await super.deleteMany(keys);
    } finally {
      this.inFlight--;
    }
  }
}

let server: TestServer;
let storage: WatchedDriver;
let dir: string;

before(async () => {
  dir = tempDir();
  storage = new WatchedDriver(dir);
  server = await startServer({ dir, config: { storage: { gc: { delay: 3600_000, deleteconcurrency: CONCURRENCY } } }, parts: { storage } });
});
after(async () => {
  await server?.close();
  removeDir(dir);
});

describe('storage.gc.deleteconcurrency', () => {
  test(`${BLOBS} unreferenced blobs go with ${CONCURRENCY} deletes in flight, never more`, async () => {
    const digests: string[] = [];
    for (let i = 0; i < BLOBS; i += 20) {
      const pushed = await Promise.all(Array.from({ length: 20 }, () => pushBlob(server.url, 'concurrency/loose', randomBlob(64))));
      digests.push(...pushed.map((p) => p.digest));
    }
    const blobFile = (d: string) => path.join(dir, 'blobs', 'sha256', d.slice(7, 9), d.slice(7));
    assert.ok(
      digests.every((d) => existsSync(blobFile(d))),
      'the pushed blobs are on disk',
    );

    // As `berth gc --delay 0s` does: everything unused goes now, also what was pushed a moment ago.
    const r = await backgroundOf(server.app).collector.collect({ delay: 0, full: true });
    assert.equal(r.blobs, BLOBS);
    assert.equal(storage.most, CONCURRENCY, `${storage.calls} deleteMany calls, at most ${storage.most} at once`);
    assert.deepEqual(
      digests.filter((d) => existsSync(blobFile(d))),
      [],
      'no bytes left',
    );
    const head = await api(server.url, `/v2/concurrency/loose/blobs/${digests[0]}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
  });
});
