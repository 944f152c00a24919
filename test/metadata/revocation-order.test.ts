// On PostgreSQL, sequence values commit out of order: a revocation that took id 5 may commit
// after one that took id 6. A token whose mark (the highest id visible) is 6 would then never
// be refused for 5, although 5's change was not visible when its grants were decided; a poller
// reading id > 6 would miss 5 too. Writers of the revocations table therefore queue (a table
// lock held until commit), while the mark and the poll never wait. This shows both.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { Revocations } from '../../src/auth/revocations.js';
import type { MetadataDb } from '../../src/metadata/database.js';
import { openPostgres } from '../../src/metadata/postgres.js';
import { RevocationStore } from '../../src/metadata/accounts/revocations.js';
import { freshSchema, type PgSchema } from '../helpers/postgres.js';

let schema: PgSchema;
let meta: MetadataDb;

before(async () => {
  schema = await freshSchema('revorder');
  meta = await openPostgres(schema.url, 4);
});
after(async () => {
  await meta?.close();
  await schema?.drop();
});

async function waiting(): Promise<number> {
  const r = await sql<{
    n: string;
  }>`select count(*) as n from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 'revocations' and not l.granted`.execute(meta.db);
  return Number(r.rows[0].n);
}

describe('revocation ids become visible in order on PostgreSQL', () => {
  it('a second writer waits for the first to commit; the mark and the poll do not wait and never skip an id', async () => {
    const r = new Revocations(new RevocationStore(meta), { retainMs: 60_000 });
    const store = new RevocationStore(meta);
    await r.poll();
    const start = await r.mark();

    let release!: () => void;
    const held = new Promise<void>((res) => (release = res));
    let firstInserted!: () => void;
    const inserted = new Promise<void>((res) => (firstInserted = res));
    const first = meta.transaction(async (tx) => {
      await r.record(tx, [{ kind: 'subject', key: 'first' }]);
      firstInserted();
      await held; // the change goes on after its revocation row is written
    });
    await inserted;
    const second = meta.transaction((tx) => r.record(tx, [{ kind: 'subject', key: 'second' }]));
    // Polled with a deadline: the second writer is queued on the table lock.
    const deadline = Date.now() + 10_000;
    while ((await waiting()) === 0) {
      assert.ok(Date.now() < deadline, 'the second writer never waited for the lock');
      await new Promise((res) => setImmediate(res));
    }
    // Neither the mark nor the poll waits, and neither sees an uncommitted row.
    assert.equal(await r.mark(), start);
    await r.poll();
    assert.equal(r.subjectRevoked('first', start), false);

    release();
    await first;
    await second;
    const rows = await store.after(start);
    assert.deepEqual(
      rows.map((x) => x.key),
      ['first', 'second'],
      'ids in commit order',
    );
    await r.poll();
    assert.equal(r.subjectRevoked('first', start), true);
    assert.equal(r.subjectRevoked('second', rows[0].id), true, 'a token marked between the two is refused for the second');
  });
});
