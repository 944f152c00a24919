// Revocations (src/auth/revocations.ts) on a real SQLite database, with an injected clock:
// which tokens a revocation reaches (by mark), what each kind covers, how long a process
// remembers one, what a process starting up loads, and the table's pruning.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Revocations } from '../../src/auth/revocations.js';
import { openSqlite, type MetadataDb } from '../../src/metadata/database.js';
import { RevocationStore } from '../../src/metadata/accounts/revocations.js';

const RETAIN = 10 * 60_000;
let meta: MetadataDb;
let now: number;
const clock = () => now;
const make = () => new Revocations(new RevocationStore(meta), { retainMs: RETAIN, clock });

beforeEach(async () => {
  meta = await openSqlite(':memory:');
  now = 1_800_000_000_000;
});
afterEach(() => meta.close());

describe('revocations', () => {
  it('reach tokens whose mark was read before them, and no token issued after', async () => {
    const r = make();
    await r.poll();
    const before = await r.mark();
    await meta.transaction((tx) => r.record(tx, [{ kind: 'subject', key: 'alice' }]));
    const after = await r.mark();
    assert.ok(after > before);
    assert.equal(r.subjectRevoked('alice', before), false, 'not applied before this process polls');
    await r.poll();
    assert.equal(r.subjectRevoked('alice', before), true, 'a token issued before it');
    assert.equal(r.subjectRevoked('alice', after), false, 'a token issued after it, even within the same millisecond');
    assert.equal(r.subjectRevoked('bob', before), false, 'other subjects');
    assert.equal(r.subjectRevoked('', before), false, 'anonymous tokens are never revoked by subject');
    assert.equal(r.repositoryRevoked('alice/app', before), false, 'a subject is not a namespace');
  });

  it('a repository covers that repository; a namespace every repository in it', async () => {
    const r = make();
    await meta.transaction((tx) =>
      r.record(tx, [
        { kind: 'repository', key: 'acme/app' },
        { kind: 'namespace', key: 'corp' },
      ]),
    );
    await r.poll();
    assert.equal(r.repositoryRevoked('acme/app', 0), true);
    assert.equal(r.repositoryRevoked('acme/app2', 0), false);
    assert.equal(r.repositoryRevoked('acme', 0), false);
    assert.equal(r.repositoryRevoked('corp/x', 0), true);
    assert.equal(r.repositoryRevoked('corp/x/y', 0), true);
    assert.equal(r.repositoryRevoked('corporate/x', 0), false);
    assert.equal(r.subjectRevoked('corp', 0), false);
  });

  it('a second revocation of the same key reaches tokens issued between the two', async () => {
    const r = make();
    await meta.transaction((tx) => r.record(tx, [{ kind: 'subject', key: 'alice' }]));
    const between = await r.mark();
    await meta.transaction((tx) => r.record(tx, [{ kind: 'subject', key: 'alice' }]));
    await r.poll();
    assert.equal(r.subjectRevoked('alice', between), true);
    assert.equal(r.subjectRevoked('alice', await r.mark()), false);
  });

  it('is forgotten once every token issued before it has expired', async () => {
    const r = make();
    await meta.transaction((tx) => r.record(tx, [{ kind: 'subject', key: 'alice' }]));
    await r.poll();
    now += RETAIN - 1;
    await r.poll();
    assert.equal(r.subjectRevoked('alice', 0), true);
    now += 1;
    await r.poll();
    assert.equal(r.subjectRevoked('alice', 0), false);
  });

  it('a process starting up loads the recent ones (another process wrote them), not old ones', async () => {
    const writer = make();
    await meta.transaction((tx) => writer.record(tx, [{ kind: 'subject', key: 'old' }], now - 3 * RETAIN));
    await meta.transaction((tx) => writer.record(tx, [{ kind: 'subject', key: 'recent' }], now - RETAIN / 2));
    const reader = make();
    await reader.poll();
    assert.equal(reader.subjectRevoked('recent', 0), true);
    assert.equal(reader.subjectRevoked('old', 0), false);
    // And then what others commit.
    await meta.transaction((tx) => writer.record(tx, [{ kind: 'namespace', key: 'acme' }]));
    await reader.poll();
    assert.equal(reader.repositoryRevoked('acme/x', 0), true);
  });

  it('changed() reports whether a change wrote any (so the API polls only then), and old rows are pruned but the newest kept', async () => {
    const r = make();
    const w = r.written;
    await meta.transaction((tx) => r.record(tx, []));
    assert.equal(r.written, w, 'nothing recorded');
    await meta.transaction((tx) => r.record(tx, [{ kind: 'subject', key: 'a' }]));
    assert.equal(r.written, w + 1);
    const newest = await r.mark();
    // Much later: the next write prunes what no token can need any more, but never the newest row (the mark).
    now += 100 * RETAIN;
    const rows = () => meta.db.selectFrom('revocations').select(['id', 'key']).orderBy('id').execute();
    await meta.transaction((tx) => r.record(tx, [{ kind: 'subject', key: 'b' }]));
    assert.deepEqual(
      (await rows()).map((x) => x.key),
      ['a', 'b'],
      'the newest row when b was written stays',
    );
    now += 100 * RETAIN;
    await meta.transaction((tx) => r.record(tx, [{ kind: 'subject', key: 'c' }]));
    assert.deepEqual(
      (await rows()).map((x) => x.key),
      ['b', 'c'],
    );
    assert.ok((await r.mark()) > newest, 'ids are never reused (AUTOINCREMENT)');
    await meta.transaction((tx) => tx.deleteFrom('revocations').execute());
    await meta.transaction((tx) => r.record(tx, [{ kind: 'subject', key: 'd' }]));
    assert.ok((await r.mark()) > newest + 2, 'not even after the table was emptied');
  });
});
