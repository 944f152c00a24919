// The metadata suite on PostgreSQL (scripts/start-postgres.sh; each database here is a
// fresh schema), plus what only PostgreSQL does: retries and the aborted-commit guard.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { MetadataDb } from '../../src/metadata/database.js';
import { chownSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { StorageFullError } from '../../src/errors/storage-full.js';
import { openPostgres, TransactionAbortedError } from '../../src/metadata/postgres.js';
import { RegistryStore } from '../../src/metadata/registry-store.js';
import { asSuperuser, freshSchema } from '../helpers/postgres.js';
import { mountTmpfs } from '../helpers/tmpfs.js';
import { metadataSuite } from './metadata-suite.js';

let retries = 0;
const POOL = 5;

metadataSuite({
  name: 'postgres',
  async fresh() {
    const schema = await freshSchema('meta');
    return {
      open: () => openPostgres(schema.url, POOL, { onRetry: () => retries++ }),
      cleanup: () => schema.drop(),
    };
  },
  retries: () => retries,
});

describe('postgres only', () => {
  let drop: () => Promise<void>;
  let meta: MetadataDb;
  let url: string;
  before(async () => {
    const s = await freshSchema('pgonly');
    drop = s.drop;
    url = s.url;
    meta = await openPostgres(url, 3);
  });
  after(async () => {
    await meta?.close();
    await drop?.();
  });

  it('tables live in the schema of the URL and text compares bytewise (C collation)', async () => {
    const r = await sql<{
      c: string;
    }>`select collation_name as c from information_schema.columns where table_schema = current_schema() and table_name = 'tags' and column_name = 'name'`.execute(
      meta.db,
    );
    assert.deepEqual(r.rows, [{ c: 'C' }]);
  });

  it('a transaction that swallows a database error fails instead of committing nothing silently', async () => {
    const store = new RegistryStore(meta);
    await assert.rejects(
      meta.transaction(async (tx) => {
        await store.ensureRepository(tx, 'guard/one', 1);
        await tx
          .insertInto('uploads')
          .values({ id: 'x', repository_id: -1, created_at: 1, updated_at: 1 })
          .execute()
          .catch(() => {});
        return 'ok';
      }),
      TransactionAbortedError,
    );
    assert.equal(await store.repositoryId('guard/one'), null);
  });

  it('retries a serialization failure by running the function again', async () => {
    const other = await openPostgres(url, 1);
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let arrived!: () => void;
    const atGate = new Promise<void>((r) => (arrived = r));
    const store = new RegistryStore(meta);
    const id = await meta.transaction((tx) => store.ensureRepository(tx, 'retry/r', 1));
    try {
      // T1 reads the tag then waits; T2 writes it and commits; T1's write must not be based on the stale read.
      const t1 = meta.transaction(async (tx) => {
        runs++;
        await tx.selectFrom('tags').select('name').where('repository_id', '=', id).execute();
        if (runs === 1) {
          arrived();
          await gate;
        }
        await tx.insertInto('tag_history').values({ repository_id: id, name: 't', digest: null, at: runs }).execute();
        await tx
          .updateTable('repositories')
          .set({ created_at: 100 + runs })
          .where('id', '=', id)
          .execute();
      });
      await atGate; // T1 has read the tag
      await other.transaction(async (tx) => {
        await tx.selectFrom('tag_history').select('id').where('repository_id', '=', id).execute();
        await tx.updateTable('repositories').set({ created_at: 50 }).where('id', '=', id).execute();
      });
      release();
      await t1;
      assert.equal(runs, 2, 'the first attempt failed to serialise and ran again');
      const row = await meta.db.selectFrom('repositories').select('created_at').where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(row.created_at, 102);
    } finally {
      await other.close();
    }
  });

  it('a server out of disk space (53100 disk_full) fails the transaction with StorageFullError; it works again once there is room', async () => {
    // The schema's tables in a tablespace on a small tmpfs, which the test then fills.
    const disk = mountTmpfs(16, 'berth-pgfull-');
    const tablespace = `berth_full_${process.pid}_${randomBytes(3).toString('hex')}`;
    const location = path.join(disk.dir, 'ts');
    mkdirSync(location);
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    chownSync(location, uid, gid);
    let full: MetadataDb | undefined;
    let drop: (() => Promise<void>) | undefined;
    try {
      asSuperuser(`create tablespace ${tablespace} location '${location}'`);
      asSuperuser(`grant create on tablespace ${tablespace} to ${new URL(url).username}`);
      const s = await freshSchema('pgfull');
      drop = s.drop;
      const u = new URL(s.url);
      u.searchParams.set('options', `${u.searchParams.get('options')} -c default_tablespace=${tablespace}`);
      full = await openPostgres(u.href, 2);
      const store = new RegistryStore(full);
      const repoId = await full.transaction((tx) => store.ensureRepository(tx, 'full/pg', 1));
      disk.fill();
      // Random text does not compress: a new manifest row with 2 MB of annotations needs new pages.
      const push = (d: string) =>
        full!.transaction((tx) =>
          store.putManifest(
            tx,
            repoId,
            {
              digest: d,
              mediaType: 'application/vnd.oci.image.manifest.v1+json',
              size: 1,
              annotations: { a: randomBytes(1 << 20).toString('hex') },
              blobDigests: [],
              childDigests: [],
            },
            2,
          ),
        );
      const d1 = `sha256:${'1'.repeat(64)}`;
      await assert.rejects(push(d1), (err: unknown) => {
        assert.ok(err instanceof StorageFullError, `got ${(err as Error)?.message}`);
        assert.equal(err.code, '53100');
        assert.equal(err.part, 'database');
        return true;
      });
      assert.equal(await store.manifestByDigest('full/pg', d1), null);
      disk.free();
      await push(d1);
      assert.equal((await store.manifestByDigest('full/pg', d1))?.digest, d1);
    } finally {
      await full?.close();
      await drop?.();
      try {
        asSuperuser(`drop tablespace if exists ${tablespace}`);
      } finally {
        disk.unmount();
      }
    }
  });

  it('an unreachable server fails the start-up with the connection error', async () => {
    await assert.rejects(openPostgres('postgres://nobody:x@127.0.0.1:1/none', 1), /ECONNREFUSED|connect/);
  });
});
