// The pieces behind the metrics: the metered StorageDriver (the shared driver suite through it; its
// optional methods exactly when the inner driver has them), statement kinds, repository globs.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { Kysely, SqliteDialect, sql, type LogEvent } from 'kysely';
import SQLite from 'better-sqlite3';
import { meteredQueryLog, type StatementKind } from '../../src/metadata/metered-plugin.js';
import { globRegExp, RepositoryLabels } from '../../src/observability/metrics-labels.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { FilesystemDriver } from '../../src/storage/filesystem.js';
import { meteredStorage, type StorageObserver } from '../../src/storage/metered.js';
import { storageDriverSuite } from '../storage/driver-suite.js';

function recorder(): StorageObserver & { ops: string[]; failed: string[]; bytes: number } {
  const r = {
    ops: [] as string[],
    failed: [] as string[],
    bytes: 0,
    operation(driver: string, action: string, seconds: number, failed: boolean) {
      assert.ok(seconds >= 0);
      r.ops.push(`${driver}.${action}`);
      if (failed) r.failed.push(`${driver}.${action}`);
    },
    written(_driver: string, bytes: number) {
      r.bytes += bytes;
    },
  };
  return r;
}

const root = mkdtempSync(join(tmpdir(), 'berth-metered-'));
storageDriverSuite('metered filesystem', async () => meteredStorage(new FilesystemDriver(root), recorder()));

describe('metered storage driver', () => {
  it('has the optional methods exactly when the inner driver has them', () => {
    const fs = new FilesystemDriver(root);
    const metered = meteredStorage(fs, recorder());
    assert.equal(typeof metered.deleteMany, 'function');
    assert.equal(metered.redirectUrl, undefined);
    assert.equal(metered.name, 'filesystem');
    assert.equal(metered.minChunkLength, fs.minChunkLength);

    // A driver with only the required methods (and one with every optional one).
    const bare: StorageDriver = { ...Object.fromEntries(Object.entries(fs)), name: 'bare', minChunkLength: 0 } as unknown as StorageDriver;
    for (const m of [
      'stat',
      'read',
      'put',
      'delete',
      'list',
      'listUploads',
      'removeDebris',
      'uploadCreate',
      'uploadAppend',
      'uploadSize',
      'uploadRead',
      'uploadPublish',
      'uploadReadFrom',
      'uploadCommit',
      'uploadAbort',
    ] as const) {
      (bare as unknown as Record<string, unknown>)[m] = async () => null;
    }
    const meteredBare = meteredStorage(bare, recorder());
    assert.equal(meteredBare.deleteMany, undefined);
    assert.equal(meteredBare.redirectUrl, undefined);
    const rich = { ...bare, name: 'rich', redirectUrl: async (key: string) => `https://example/${key}`, deleteMany: async () => {} };
    const obs = recorder();
    const meteredRich = meteredStorage(rich, obs);
    assert.equal(typeof meteredRich.deleteMany, 'function');
    return meteredRich.redirectUrl!('k').then((url) => {
      assert.equal(url, 'https://example/k');
      assert.deepEqual(obs.ops, ['rich.redirect_url']);
    });
  });

  it('counts calls, failures and written bytes', async () => {
    const obs = recorder();
    const d = meteredStorage(new FilesystemDriver(root), obs);
    await d.put('blobs/sha256/mm/one', Buffer.from('12345'));
    await d.uploadCreate('metered-up');
    await d.uploadAppend('metered-up', 0, Readable.from([Buffer.from('abcdefgh')]));
    await assert.rejects(d.read('blobs/sha256/mm/missing'));
    for await (const _ of d.list('blobs/sha256/mm/')) break;
    assert.equal(obs.bytes, 5 + 8);
    assert.deepEqual(obs.ops, ['filesystem.put', 'filesystem.upload_create', 'filesystem.upload_append', 'filesystem.read', 'filesystem.list']);
    assert.deepEqual(obs.failed, ['filesystem.read']);
  });
});

describe('statement kinds of the query log', () => {
  it('names builder and raw statements, and reports failures', async () => {
    const seen: [StatementKind, boolean][] = [];
    const log = meteredQueryLog({ query: (kind, _s, failed) => seen.push([kind, failed]) });
    const db = new Kysely<{ t: { a: number } }>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }), log: (e: LogEvent) => log(e) });
    await db.schema.createTable('t').addColumn('a', 'integer').execute();
    await db.insertInto('t').values({ a: 1 }).execute();
    await db.selectFrom('t').selectAll().execute();
    await db.updateTable('t').set({ a: 2 }).execute();
    await db.deleteFrom('t').execute();
    await sql`begin`.execute(db);
    await sql`commit`.execute(db);
    await sql`pragma user_version`.execute(db);
    await assert.rejects(sql`select * from missing`.execute(db));
    await db.destroy();
    assert.deepEqual(seen, [
      ['ddl', false],
      ['insert', false],
      ['select', false],
      ['update', false],
      ['delete', false],
      ['transaction', false],
      ['transaction', false],
      ['other', false],
      ['select', true],
    ]);
  });
});

describe('repository labels', () => {
  it('shows allow-listed names only; * stays within a segment, ** crosses them', () => {
    const labels = new RepositoryLabels(['library/*', 'team/**', 'exact']);
    assert.equal(labels.label('library/nginx'), 'library/nginx');
    assert.equal(labels.label('library/a/b'), 'other');
    assert.equal(labels.label('team/a/b/c'), 'team/a/b/c');
    assert.equal(labels.label('exact'), 'exact');
    assert.equal(labels.label('exactly'), 'other');
    assert.equal(new RepositoryLabels([]).label('library/nginx'), 'other');
    assert.ok(globRegExp('a.b/*').test('a.b/c'));
    assert.ok(!globRegExp('a.b/*').test('axb/c'), 'dots are literal');
  });
});
