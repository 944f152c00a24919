// Out of space, below the HTTP layer: which errors mean "full", SQLite transactions that run out
// of room (its page limit stands in for a full disk here; test/e2e/full-disk.test.ts fills a real
// tmpfs), the S3 driver facing a full bucket, and the answer the error mapper gives.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { defaultConfig, type BerthConfig, type DeepPartial } from '../../src/config/index.js';
import { StorageFullError, storageFull } from '../../src/errors/storage-full.js';
import { errorResponse, problemOf } from '../../src/http/error-response.js';
import { openSqlite } from '../../src/metadata/database.js';
import { S3Driver } from '../../src/storage/s3.js';

describe('what counts as full', () => {
  const err = (props: Record<string, unknown>) => Object.assign(new Error('x'), props);

  it('ENOSPC, EDQUOT, SQLITE_FULL, PostgreSQL 53100, S3 quota errors and HTTP 507; nothing else', () => {
    for (const [e, code] of [
      [err({ code: 'ENOSPC' }), 'ENOSPC'],
      [err({ code: 'EDQUOT' }), 'EDQUOT'],
      [err({ code: 'SQLITE_FULL' }), 'SQLITE_FULL'],
      [err({ code: '53100' }), '53100'],
      [err({ name: 'QuotaExceeded', $metadata: { httpStatusCode: 403 } }), 'QuotaExceeded'],
      [err({ name: 'XMinioStorageFull', $metadata: { httpStatusCode: 507 } }), 'XMinioStorageFull'],
      [err({ name: 'Unknown', $metadata: { httpStatusCode: 507 } }), 'Unknown'],
    ] as const) {
      const full = storageFull(e, 'storage');
      assert.ok(full instanceof StorageFullError, code);
      assert.equal(full.code, code);
      assert.equal(full.cause, e, 'the original error is kept for the log');
    }
    for (const e of [
      err({ code: 'EACCES' }),
      err({ code: 'SQLITE_BUSY' }),
      err({ code: '40001' }),
      err({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }),
      null,
      'ENOSPC',
    ]) {
      assert.equal(storageFull(e, 'storage'), null, String(e));
    }
  });

  it('the error mapper answers 507 STORAGE_FULL on the registry and the REST API, without the internal cause', () => {
    const p = problemOf(new StorageFullError('database', 'SQLITE_FULL', new Error('database or disk is full')));
    assert.equal(p.status, 507);
    assert.equal(p.log, 'error');
    for (const surface of ['registry', 'api'] as const) {
      const r = errorResponse(p, surface, 'PUT');
      assert.equal(r.status, 507);
      const body = JSON.parse(r.body!) as { errors: { code: string; message: string }[] };
      assert.equal(body.errors[0].code, 'STORAGE_FULL');
      assert.doesNotMatch(body.errors[0].message, /SQLITE|database or disk/);
    }
  });
});

describe('SQLite out of room', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-full-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a transaction that runs out of room fails with StorageFullError (not "cannot rollback"), keeps nothing, and the next one works once there is room', async () => {
    const meta = await openSqlite(path.join(dir, 'full.db'));
    try {
      await sql`create table filler (x text)`.execute(meta.db);
      const pages = Number(Object.values((await sql<Record<string, number>>`pragma page_count`.execute(meta.db)).rows[0])[0]);
      // No more pages than the database has: the next page it needs is "disk full" (SQLITE_FULL).
      await sql.raw(`pragma max_page_count = ${pages}`).execute(meta.db);
      const insert = (name: string) =>
        meta.transaction(async (tx) => {
          await tx
            .insertInto('repositories')
            .values({ name: 'full/first', created_at: 1 })
            .onConflict((oc) => oc.column('name').doNothing())
            .execute();
          await tx.insertInto('repositories').values({ name, created_at: 1 }).execute();
          await sql`insert into filler values (${'x'.repeat(200_000)})`.execute(tx);
        });
      await assert.rejects(insert('full/big'), (err: unknown) => {
        assert.ok(err instanceof StorageFullError, `got ${(err as Error)?.message}`);
        assert.equal(err.code, 'SQLITE_FULL');
        assert.equal(err.part, 'database');
        return true;
      });
      assert.equal(
        await meta.db.selectFrom('repositories').select('id').where('name', 'in', ['full/first', 'full/big']).executeTakeFirst(),
        undefined,
        'nothing of it was kept',
      );
      await sql.raw(`pragma max_page_count = 1000000`).execute(meta.db);
      await insert('full/big');
      assert.equal((await meta.db.selectFrom('repositories').select('name').where('name', 'in', ['full/first', 'full/big']).execute()).length, 2);
    } finally {
      await meta.close();
    }
  });
});

describe('S3 bucket without room', () => {
  it('a write the bucket refuses for its quota (403 QuotaExceeded) or for space (507) fails with StorageFullError', async () => {
    // A stand-in S3 endpoint (a unit test: the real RGW runs in test/storage/s3.test.ts).
    let answer = { status: 403, code: 'QuotaExceeded' };
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(answer.status, { 'Content-Type': 'application/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${answer.code}</Code><Message>no room</Message><RequestId>1</RequestId></Error>`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const config = defaultConfig({
        storage: { s3: { bucket: 'b', region: 'us-east-1', regionendpoint: `http://127.0.0.1:${port}`, accesskey: 'a', secretkey: 's', forcepathstyle: true } },
      } as DeepPartial<BerthConfig>).storage.s3!;
      const driver = new S3Driver(config);
      for (const a of [
        { status: 403, code: 'QuotaExceeded' },
        { status: 507, code: 'XMinioStorageFull' },
      ]) {
        answer = a;
        await assert.rejects(driver.put('blobs/sha256/aa/aa', Buffer.from('bytes')), (err: unknown) => {
          assert.ok(err instanceof StorageFullError, `${a.code}: got ${(err as Error)?.name} ${(err as Error)?.message}`);
          assert.equal(err.code, a.code);
          return true;
        });
        await assert.rejects(driver.uploadAppend('u1', 0, Readable.from([Buffer.alloc(10)])), StorageFullError, `${a.code}: append`);
      }
      answer = { status: 403, code: 'AccessDenied' };
      await assert.rejects(driver.put('blobs/sha256/aa/aa', Buffer.from('bytes')), (err: unknown) => !(err instanceof StorageFullError));
    } finally {
      server.close();
    }
  });
});
