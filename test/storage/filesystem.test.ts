import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { FilesystemDriver } from '../../src/storage/filesystem.js';
import { storageDriverSuite } from './driver-suite.js';

const root = mkdtempSync(join(tmpdir(), 'berth-fs-driver-'));
storageDriverSuite('filesystem', async () => new FilesystemDriver(root));

it('filesystem driver leaves no temporary files behind after puts', async () => {
  const d = new FilesystemDriver(root);
  await d.put('blobs/sha256/aa/tmpcheck', Buffer.from('x'));
  assert.deepEqual(
    readdirSync(join(root, 'blobs/sha256/aa')).filter((f) => f.includes('.tmp-')),
    [],
  );
});
