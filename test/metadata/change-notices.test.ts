// PostgreSQL change notices (migration 0018, src/metadata/postgres-changes.ts) on a real server:
// another replica's commit to a table that pulls read moves this process's epoch; a rolled-back
// write and a write elsewhere do not need to; a lost listening connection caches nothing until it
// listens again. Polled with generous deadlines, nothing timed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import type { MetadataDb } from '../../src/metadata/database.js';
import { openPostgres } from '../../src/metadata/postgres.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';

let schema: PgSchema;
let here: MetadataDb; // this replica: its epoch is watched
let there: MetadataDb; // another replica: it writes
const appName = `notices_${process.pid}`;

async function eventually<T>(what: string, probe: () => T | Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    assert.ok(Date.now() < deadline, `${what}: still ${String(v)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const listening = () =>
  eventually(
    'the listening connection',
    () => here.changes!.epoch(),
    (e) => e !== null,
  ) as Promise<number>;

before(async () => {
  schema = await freshSchema('notices');
  // Its own application name, so the test ends only its own listening connection.
  const url = new URL(schema.url);
  url.searchParams.set('application_name', appName);
  here = await openPostgres(url.href, 2);
  there = await openPostgres(schema.url, 2);
});

after(async () => {
  await here?.close();
  await there?.close();
  await schema?.drop();
});

describe('PostgreSQL change notices', () => {
  it('nothing is cached until the connection listens', async () => {
    assert.equal(here.changes!.epoch(), null, 'the first call only starts listening');
    await listening();
  });

  /** The other replica's `write` moves this replica's epoch (polled, nothing timed). */
  async function epochMovesAfter(what: string, write: () => Promise<unknown>): Promise<void> {
    const start = await listening();
    await write();
    await eventually(
      `the epoch after ${what}`,
      () => here.changes!.epoch(),
      (e) => e !== null && e !== start,
    );
  }

  it("another replica's committed change to a watched table moves the epoch", () =>
    epochMovesAfter('the commit', () => there.transaction((tx) => tx.insertInto('repositories').values({ name: 'n/one', created_at: 1 }).execute())));

  it('an autocommit statement outside a transaction moves it too', () =>
    epochMovesAfter('the update', () => there.db.updateTable('repositories').set({ created_at: 2 }).where('name', '=', 'n/one').execute()));

  it('a change this replica hears nothing of (rolled back) leaves it alone, which the next commit then moves', async () => {
    const start = await listening();
    await assert.rejects(
      there.transaction(async (tx) => {
        await tx.insertInto('repositories').values({ name: 'n/rolled-back', created_at: 1 }).execute();
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );
    // A notice sent only at commit: the marker below arrives, the rolled-back change never did.
    const marker = new pg.Client({ connectionString: schema.url });
    await marker.connect();
    try {
      await marker.query("select pg_notify('berth_changes', 'another-schema')");
      await marker.query("select pg_notify('berth_changes', current_schema())");
    } finally {
      await marker.end();
    }
    const moved = await eventually(
      'the marker',
      () => here.changes!.epoch(),
      (e) => e !== null && e !== start,
    );
    assert.equal(moved, start + 1, "one notice (the marker), none for the rolled-back insert nor another schema's");
  });

  it('a lost listening connection caches nothing until it listens again, under a new epoch', async () => {
    const before = await listening();
    const admin = new pg.Client({ connectionString: schema.url });
    await admin.connect();
    try {
      const killed = await admin.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and query ilike 'listen%'", [
        appName,
      ]);
      assert.ok(killed.rowCount! >= 1, 'a listening connection to end');
    } finally {
      await admin.end();
    }
    await eventually(
      'no epoch while the connection is gone',
      () => here.changes!.epoch(),
      (e) => e === null || e !== before,
    );
    const after = await listening();
    assert.notEqual(after, before);
  });
});

// Sanity: the triggers exist on exactly the watched tables.
describe('migration 0018', () => {
  it('one statement trigger per table that pull lookups read', async () => {
    const rows = await sql<{ table: string }>`
      select distinct event_object_table as table from information_schema.triggers
      where trigger_schema = current_schema() and trigger_name like 'berth_changes_%' order by 1`.execute(here.db);
    assert.deepEqual(
      rows.rows.map((r) => r.table),
      ['blobs', 'gc_blob_review', 'manifests', 'repositories', 'repository_blobs', 'tags'],
    );
  });
});
