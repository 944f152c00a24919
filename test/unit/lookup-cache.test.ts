// The lookup cache (src/registry/lookup-cache.ts) against a real SQLite file: what it keeps, and
// what makes it read the database again: this process's writes (in a transaction or not), another
// connection's commit to the same file (another worker, a CLI command), a write while a read runs.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { mayWrite } from '../../src/metadata/change-epoch.js';
import { openSqlite, type MetadataDb } from '../../src/metadata/database.js';
import type { ManifestRow, ReadableBlob } from '../../src/metadata/registry-store.js';
import { LookupCache } from '../../src/registry/lookup-cache.js';
import { removeDir, tempDir } from '../helpers/api-server.js';

/** A store whose answers and calls the test controls. */
class FakeStore {
  calls = 0;
  rows = new Map<string, ManifestRow>();
  /** Runs inside the next lookup, after it began and before it answers. */
  during: (() => Promise<void>) | null = null;

  async manifestByTag(repository: string, tag: string): Promise<ManifestRow | null> {
    this.calls++;
    const row = this.rows.get(`${repository}:${tag}`) ?? null;
    const d = this.during;
    this.during = null;
    await d?.();
    return row ? { ...row } : null;
  }
  async manifestByDigest(): Promise<ManifestRow | null> {
    throw new Error('not used');
  }
  async readableBlob(): Promise<ReadableBlob | null> {
    throw new Error('not used');
  }
}

const row = (digest: string): ManifestRow => ({ id: 1, digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 10 });

let dir: string;
let meta: MetadataDb;
let other: MetadataDb;

before(async () => {
  dir = tempDir('berth-lookups-');
  const file = path.join(dir, 'registry.db');
  meta = await openSqlite(file);
  other = await openSqlite(file); // another worker or a CLI command on the same file
  await sql`create table scratch (n integer)`.execute(meta.db);
});

after(async () => {
  await other.close();
  await meta.close();
  removeDir(dir);
});

describe('lookup cache on SQLite', () => {
  it('keeps what exists and asks again for what does not', async () => {
    const store = new FakeStore();
    const cache = new LookupCache(store, meta.changes);
    store.rows.set('a/b:v1', row('sha256:1'));
    for (let i = 0; i < 3; i++) assert.equal((await cache.manifestByTag('a/b', 'v1'))?.digest, 'sha256:1');
    assert.equal(store.calls, 1);
    for (let i = 0; i < 3; i++) assert.equal(await cache.manifestByTag('a/b', 'nope'), null);
    assert.equal(store.calls, 4, 'an unknown tag is never remembered');
  });

  it("this process's writes, in a transaction or not, make it read again", async () => {
    const store = new FakeStore();
    const cache = new LookupCache(store, meta.changes);
    store.rows.set('a/b:v1', row('sha256:1'));
    await cache.manifestByTag('a/b', 'v1');
    store.rows.set('a/b:v1', row('sha256:2'));
    await meta.transaction((tx) => sql`insert into scratch values (1)`.execute(tx));
    assert.equal((await cache.manifestByTag('a/b', 'v1'))?.digest, 'sha256:2');
    store.rows.set('a/b:v1', row('sha256:3'));
    await meta.db.deleteFrom('scratch' as never).execute();
    assert.equal((await cache.manifestByTag('a/b', 'v1'))?.digest, 'sha256:3');
    assert.equal(store.calls, 3);
  });

  it("another connection's commit to the file makes it read again", async () => {
    const store = new FakeStore();
    const cache = new LookupCache(store, meta.changes);
    store.rows.set('a/b:v1', row('sha256:1'));
    await cache.manifestByTag('a/b', 'v1');
    await cache.manifestByTag('a/b', 'v1');
    assert.equal(store.calls, 1);
    store.rows.set('a/b:v1', row('sha256:2'));
    await other.transaction((tx) => sql`insert into scratch values (2)`.execute(tx));
    // Seen at the next look at data_version (every SQLITE_CHECK_MS): polled, nothing timed.
    const deadline = Date.now() + 10_000;
    while ((await cache.manifestByTag('a/b', 'v1'))?.digest !== 'sha256:2') {
      assert.ok(Date.now() < deadline, "the other connection's commit was never noticed");
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(store.calls, 2, 'read again once, when the change was noticed');
  });

  it('a read that a write overlapped is not kept', async () => {
    for (const writer of [() => meta, () => other]) {
      const store = new FakeStore();
      const cache = new LookupCache(store, meta.changes);
      store.rows.set('a/b:v1', row('sha256:old'));
      // The lookup read the old row; the write commits before it answers.
      store.during = async () => {
        store.rows.set('a/b:v1', row('sha256:new'));
        await writer().transaction((tx) => sql`insert into scratch values (3)`.execute(tx));
      };
      assert.equal((await cache.manifestByTag('a/b', 'v1'))?.digest, 'sha256:old');
      assert.equal((await cache.manifestByTag('a/b', 'v1'))?.digest, 'sha256:new');
    }
  });

  it('a database that cannot answer keeps nothing', async () => {
    const store = new FakeStore();
    const cache = new LookupCache(store, undefined);
    store.rows.set('a/b:v1', row('sha256:1'));
    await cache.manifestByTag('a/b', 'v1');
    await cache.manifestByTag('a/b', 'v1');
    assert.equal(store.calls, 2);
  });
});

describe('which statements may write', () => {
  const q = (text: string) => sql.raw(text).compile(meta.db).query;
  it('SELECT and PRAGMA read; everything else may write', () => {
    assert.equal(mayWrite(meta.db.selectFrom('tags').select('name').compile().query), false);
    assert.equal(mayWrite(q('  select 1')), false);
    assert.equal(mayWrite(q('PRAGMA data_version')), false);
    assert.equal(mayWrite(meta.db.deleteFrom('tags').compile().query), true);
    assert.equal(mayWrite(meta.db.updateTable('tags').set({ name: 'x' }).compile().query), true);
    for (const text of ['commit', 'begin immediate', 'with x as (delete from tags returning *) select * from x', 'selectx'])
      assert.equal(mayWrite(q(text)), true, text);
  });
});
