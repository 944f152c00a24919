// Durable SQLite transactions: group commit (one WAL fdatasync shared by concurrent commits).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openSqlite, WalSync } from '../../src/metadata/database.js';

describe('durable transactions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-durable-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('commits concurrent durable and non-durable transactions and sees them all', async () => {
    const meta = await openSqlite(join(dir, 'a.db'));
    try {
      const now = Date.now();
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          meta.transaction(
            async (tx) => {
              await tx
                .insertInto('repositories')
                .values({ name: `r/${i}`, created_at: now })
                .execute();
            },
            { durable: i % 3 !== 0 },
          ),
        ),
      );
      const { rows } = await sql<{ n: number }>`select count(*) as n from repositories where name like 'r/%'`.execute(meta.db);
      assert.equal(Number(rows[0].n), 40);
      // A failed transaction rolls back and the next one still works.
      await assert.rejects(
        meta.transaction(async (tx) => {
          await tx.insertInto('repositories').values({ name: 'r/x', created_at: now }).execute();
          throw new Error('boom');
        }),
      );
      assert.equal(await meta.db.selectFrom('repositories').select('id').where('name', '=', 'r/x').executeTakeFirst(), undefined);
    } finally {
      await meta.close();
    }
  });

  it('shares one WAL sync among callers that arrive while one runs, and starts a new one after', async () => {
    const meta = await openSqlite(join(dir, 'b.db'));
    try {
      const ws = new WalSync(join(dir, 'b.db'));
      const counted = ws as unknown as { started: number };
      await Promise.all([ws.sync(), ws.sync(), ws.sync(), ws.sync()]);
      // The first starts a sync; the other three arrived while it ran and share the next one.
      assert.equal(counted.started, 2);
      await ws.sync();
      assert.equal(counted.started, 3);
      await ws.close();
    } finally {
      await meta.close();
    }
  });

  it('keeps the WAL open between syncs: one open, a datasync per sync', async () => {
    const file = join(dir, 'd.db');
    const meta = await openSqlite(file);
    const calls: string[] = [];
    const ws = new WalSync(file, recordingOpen(calls));
    try {
      for (let i = 0; i < 3; i++) {
        await meta.transaction((tx) =>
          tx
            .insertInto('repositories')
            .values({ name: `wal/open${i}`, created_at: 1 })
            .execute(),
        );
        await ws.sync();
      }
      const wal = `${file}-wal`;
      assert.deepEqual(calls, [`open ${wal}`, `datasync ${wal}`, `datasync ${wal}`, `datasync ${wal}`]);
    } finally {
      await ws.close();
      await meta.close();
    }
  });

  it('syncs the database file when the WAL is gone', async () => {
    const file = join(dir, 'c.db');
    const calls: string[] = [];
    const ws = new WalSync(file, recordingOpen(calls));
    const meta = await openSqlite(file);
    await meta.transaction((tx) => tx.insertInto('repositories').values({ name: 'wal/gone', created_at: 1 }).execute());
    await meta.close(); // the last connection checkpoints and removes the WAL
    assert.equal(existsSync(`${file}-wal`), false, 'closing removed the WAL');
    await ws.sync();
    assert.deepEqual(calls, [`open ${file}-wal: ENOENT`, `open ${file}`, `datasync ${file}`]);
  });
});

/** An `open` for WalSync that records every open (with a failure's code) and every datasync in `calls`. */
function recordingOpen(calls: string[]): typeof open {
  return (async (path: string, flags: number) => {
    try {
      const fh = await open(path, flags);
      calls.push(`open ${path}`);
      const datasync = fh.datasync.bind(fh);
      fh.datasync = async () => {
        await datasync();
        calls.push(`datasync ${path}`);
      };
      return fh;
    } catch (err) {
      calls.push(`open ${path}: ${(err as NodeJS.ErrnoException).code}`);
      throw err;
    }
  }) as typeof open;
}
