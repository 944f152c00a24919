// The namespace usage that quotas read (metadata/quota-store.ts) always equals what the
// namespace's manifests use, each digest once: computed by the quota migration for manifests a
// database already holds, and kept by every store change after it (pushes of new and known
// manifests, manifest deletes, repository deletes), on SQLite and PostgreSQL.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import pg from 'pg';
import { migrate, openSqlite, type MetadataDb } from '../../src/metadata/database.js';
import { migrations } from '../../src/metadata/migrations/index.js';
import { BerthPostgresDialect, openPostgres } from '../../src/metadata/postgres.js';
import { QuotaStore } from '../../src/metadata/quota-store.js';
import { RegistryStore } from '../../src/metadata/registry-store.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';

const digest = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const BEFORE_QUOTAS = migrations[migrations.findIndex((m) => m.name === '0010_quotas') - 1].name;
const MT = 'application/vnd.oci.image.manifest.v1+json';

/** A small deterministic generator, so a failing sequence can be replayed. */
function random(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return (x >>> 16) % n; // the high bits: the low ones of this generator repeat quickly
  };
}

async function seedOldSchema(db: Kysely<any>): Promise<void> {
  const now = 1;
  const blob = (name: string, size: number) =>
    db
      .insertInto('blobs')
      .values({ digest: digest(name), size, created_at: now })
      .execute();
  for (const [name, size] of [
    ['shared', 1000],
    ['a-config', 10],
    ['b-config', 20],
    ['other', 5000],
  ] as const)
    await blob(name, size);
  const repo = async (name: string) => {
    await db
      .insertInto('repositories')
      .values({ name, namespace: name.split('/')[0], created_at: now })
      .execute();
    return Number((await db.selectFrom('repositories').select('id').where('name', '=', name).executeTakeFirstOrThrow()).id);
  };
  const manifest = async (repoId: number, name: string, size: number, blobs: string[]) => {
    await db
      .insertInto('blobs')
      .values({ digest: digest(name), size, created_at: now })
      .onConflict((oc) => oc.doNothing())
      .execute();
    await db
      .insertInto('manifests')
      .values({ repository_id: repoId, digest: digest(name), media_type: MT, size, created_at: now })
      .execute();
    const id = Number(
      (await db.selectFrom('manifests').select('id').where('repository_id', '=', repoId).where('digest', '=', digest(name)).executeTakeFirstOrThrow()).id,
    );
    for (const b of blobs)
      await db
        .insertInto('manifest_references')
        .values({ manifest_id: id, digest: digest(b), kind: 'blob' })
        .execute();
  };
  const one = await repo('ns/one');
  const two = await repo('ns/two');
  const other = await repo('other/x');
  await manifest(one, 'm1', 300, ['a-config', 'shared']);
  await manifest(two, 'm2', 400, ['b-config', 'shared']);
  await manifest(two, 'm1', 300, ['a-config', 'shared']); // the same manifest in a second repository
  await manifest(other, 'm3', 500, ['a-config', 'shared', 'other']);
}

interface Fresh {
  db: Kysely<any>;
  /** PostgreSQL: the schema the migration tables live in. */
  schema?: string;
  close(): Promise<void>;
}

function suite(name: string, open: () => Promise<{ meta: MetadataDb; close(): Promise<void> }>, fresh: () => Promise<Fresh>) {
  const dialect = name === 'SQLite' ? 'sqlite' : 'postgres';
  describe(`namespace usage on ${name}`, () => {
    it('the quota migration computes the usage of the manifests a database already holds', async () => {
      const { db, schema, close } = await fresh();
      try {
        await migrate(db, dialect, schema, BEFORE_QUOTAS);
        await seedOldSchema(db);
        await migrate(db, dialect, schema);
        const store = new QuotaStore(db);
        assert.equal(await store.usage('ns'), 1000 + 10 + 20 + 300 + 400);
        assert.equal(await store.usage('other'), 10 + 1000 + 5000 + 500);
        for (const ns of ['ns', 'other']) assert.equal(await store.usage(ns), (await store.computeUsage(ns)).bytes);
        const shared = await db
          .selectFrom('namespace_blobs')
          .select('refs')
          .where('namespace', '=', 'ns')
          .where('digest', '=', digest('shared'))
          .executeTakeFirstOrThrow();
        assert.equal(Number(shared.refs), 3, 'three manifests of ns use the shared layer');
      } finally {
        await close();
      }
    });

    it('a random sequence of pushes, re-pushes and deletes keeps the usage equal to what the manifests use', async () => {
      const { meta, close } = await open();
      try {
        const store = new RegistryStore(meta);
        const rnd = random(42);
        const pool = Array.from({ length: 12 }, (_, i) => ({ digest: digest(`layer${i}`), size: 100 * (i + 1) }));
        const repos = ['ns/a', 'ns/b', 'ns/c', 'ns2/a'];
        const pushed: { repo: string; digest: string; size: number; blobs: string[] }[] = [];
        await meta.transaction(async (tx) => {
          for (const b of pool) await store.recordBlob(tx, b.digest, b.size, 1);
        });
        const check = async (step: number) => {
          for (const ns of ['ns', 'ns2']) {
            const computed = await store.quotas.computeUsage(ns);
            assert.equal(await store.quotas.usage(ns), computed.bytes, `step ${step}: usage of ${ns}`);
            const rows = await meta.db.selectFrom('namespace_blobs').select('digest').where('namespace', '=', ns).execute();
            assert.equal(rows.length, computed.digests, `step ${step}: digests of ${ns}`);
          }
        };
        const done = { push: 0, delete: 0, deleteRepository: 0 };
        for (let step = 0; step < 150; step++) {
          const op = rnd(10);
          const repo = repos[rnd(repos.length)];
          await meta.transaction(async (tx) => {
            const repoId = await store.ensureRepository(tx, repo, step);
            if (op < 6 || pushed.length === 0) {
              // A new manifest, or (1 in 3) one pushed before, possibly into another repository.
              const again = pushed.length > 0 && rnd(3) === 0 ? pushed[rnd(pushed.length)] : null;
              const blobs = again?.blobs ?? Array.from({ length: 1 + rnd(4) }, () => pool[rnd(pool.length)].digest);
              const d = again?.digest ?? digest(`manifest${step}`);
              const size = again?.size ?? 50 + step;
              await store.recordBlob(tx, d, size, step);
              await store.putManifest(tx, repoId, { digest: d, mediaType: MT, size, blobDigests: blobs, childDigests: [] }, step);
              pushed.push({ repo, digest: d, size, blobs });
              done.push++;
            } else if (op < 9) {
              const victim = pushed[rnd(pushed.length)];
              const victimRepo = await store.repositoryId(victim.repo, tx);
              if (victimRepo !== null && (await store.deleteManifest(tx, victimRepo, victim.digest, step))) done.delete++;
            } else {
              await store.deleteRepository(tx, repoId, step);
              done.deleteRepository++;
            }
          });
          await check(step);
        }
        assert.ok(done.push > 50 && done.delete > 10 && done.deleteRepository > 5, JSON.stringify(done));
      } finally {
        await close();
      }
    });
  });
}

suite(
  'SQLite',
  async () => {
    const meta = await openSqlite(':memory:');
    return { meta, close: () => meta.close() };
  },
  async () => {
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new SQLite(':memory:') }) });
    return { db, close: () => db.destroy() };
  },
);

const schemas: PgSchema[] = [];
after(async () => {
  for (const s of schemas) await s.drop();
});

suite(
  'PostgreSQL',
  async () => {
    const schema = await freshSchema('qusage');
    schemas.push(schema);
    const meta = await openPostgres(schema.url, 2);
    return { meta, close: () => meta.close() };
  },
  async () => {
    const schema = await freshSchema('qmigr');
    schemas.push(schema);
    const db = new Kysely<unknown>({ dialect: new BerthPostgresDialect({ pool: new pg.Pool({ connectionString: schema.url, max: 1 }) }) });
    return { db, schema: schema.name, close: () => db.destroy() };
  },
);
