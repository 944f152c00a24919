import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { Readable } from 'node:stream';
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

it('filesystem driver: a committed upload is listed with the time of its commit, not of its last append', async () => {
  const d = new FilesystemDriver(root);
  await d.uploadCreate('aged');
  await d.uploadAppend('aged', 0, Readable.from([Buffer.from('appended a day ago')]));
  const dayAgo = new Date(Date.now() - 86_400_000);
  utimesSync(join(root, 'uploads', 'aged'), dayAgo, dayAgo);
  const before = Date.now();
  await d.uploadCommit('aged', 'blobs/sha256/ag/aged');
  assert.ok(Math.abs(statSync(join(root, 'blobs/sha256/ag/aged')).mtimeMs - dayAgo.getTime()) < 1, 'the rename kept the mtime of the last append');
  const listed = [];
  for await (const o of d.list('blobs/sha256/ag/')) listed.push(o);
  assert.equal(listed.length, 1);
  assert.ok(listed[0].modified >= before - 50, `modified ${listed[0].modified}, commit began at ${before}`);
});
