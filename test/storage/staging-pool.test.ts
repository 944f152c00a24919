// The O_DIRECT staging pool (storage/direct-writer.ts) is made by the first upload and dropped once it has
// sat unused for IDLE_RELEASE_MS, so an idle registry does not keep it resident. Its own file: the
// pool is per process, and the mocked timers must see every timer it arms.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it, mock } from 'node:test';
import { acquireStages, IDLE_RELEASE_MS, releaseStages, STAGE, stagingBytes } from '../../src/storage/direct-writer.js';
import { FilesystemDriver } from '../../src/storage/filesystem.js';

describe('the staging pool of direct writes', () => {
  it('is made by the first upload and dropped after it sat idle; an upload in between keeps it', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      assert.equal(stagingBytes(), 0, 'nothing before the first upload');
      const root = mkdtempSync(join(tmpdir(), 'berth-staging-'));
      const d = new FilesystemDriver(root);
      const body = randomBytes(3 * STAGE + 5);
      await d.uploadCreate('u1');
      assert.equal(await d.uploadAppend('u1', 0, Readable.from([body])), body.length);
      assert.ok(stagingBytes() > 0, 'the upload made the pool');
      mock.timers.tick(IDLE_RELEASE_MS - 1);
      assert.ok(stagingBytes() > 0, 'kept while not idle long enough');
      // Another upload restarts the idle clock.
      const taken = acquireStages();
      assert.ok(taken);
      mock.timers.tick(IDLE_RELEASE_MS);
      assert.ok(stagingBytes() > 0, 'never dropped while a buffer is in use');
      releaseStages(taken);
      mock.timers.tick(IDLE_RELEASE_MS - 1);
      assert.ok(stagingBytes() > 0);
      mock.timers.tick(1);
      assert.equal(stagingBytes(), 0, 'dropped after an idle spell');
      // The next upload makes it again, and its bytes are intact.
      await d.uploadCreate('u2');
      assert.equal(await d.uploadAppend('u2', 0, Readable.from([body])), body.length);
      assert.ok(stagingBytes() > 0);
      await d.uploadCommit('u2', 'blobs/sha256/aa/u2');
      assert.ok(readFileSync(join(root, 'blobs/sha256/aa/u2')).equals(body));
    } finally {
      mock.timers.reset();
    }
  });
});
