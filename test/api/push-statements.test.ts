// What one small image push costs the database: the statements and write transactions of each
// request (POST, PUT ?digest= with the body, manifest PUT). Every statement is CPU on the one
// event loop and every write transaction WAL pages; these bounds keep a push from growing them again.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultConfig } from '../../src/config/index.js';
import type { MetadataDb } from '../../src/metadata/database.js';
import { openMetadata } from '../../src/metadata/open.js';
import { api, asBody, digestOf, MT, randomBlob, removeDir, startServer, tempDir, withQuery, type TestServer } from '../helpers/api-server.js';

describe('statements per request of a small push (SQLite)', () => {
  const dir = tempDir('berth-statements-');
  const dbPath = join(dir, 'counted.db');
  let statements: string[] = [];
  let meta: MetadataDb;
  let srv: TestServer;

  before(async () => {
    const config = defaultConfig({ metadata: { sqlite: { path: dbPath } } });
    meta = await openMetadata(config, {
      log: (e) => {
        if (e.level === 'query') statements.push(e.query.sql);
      },
    });
    srv = await startServer({ dir, config: { metadata: { sqlite: { path: dbPath } } }, parts: { meta } });
  });
  after(async () => {
    await srv.close();
    await meta.close();
    removeDir(dir);
  });

  /** Runs one request; returns its response and the statements it ran. */
  async function counted(url: string, init: RequestInit): Promise<{ res: Response; sql: string[] }> {
    statements = [];
    const res = await fetch(url, init);
    await res.arrayBuffer();
    return { res, sql: statements };
  }

  const transactions = (sql: string[]) => sql.filter((s) => /^begin\b/i.test(s)).length;

  async function pushBlob(repo: string, body: Buffer): Promise<{ post: string[]; put: string[] }> {
    const post = await counted(`${srv.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    assert.equal(post.res.status, 202);
    const location = new URL(post.res.headers.get('location') ?? '', srv.url).href;
    const put = await counted(withQuery(location, { digest: digestOf(body) }), {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: asBody(body),
    });
    assert.equal(put.res.status, 201);
    return { post: post.sql, put: put.sql };
  }

  it('a POST and a closing PUT with the body stay within their statement budget', async () => {
    // The first push creates the repository; the counts are those of the pushes after it.
    await pushBlob('counted/repo', randomBlob(2048));
    const layer = randomBlob(2048);
    const { post, put } = await pushBlob('counted/repo', layer);
    // POST: one transaction (the repository looked up once, the session row inserted).
    assert.equal(transactions(post), 1, post.join('\n'));
    assert.ok(post.length <= 4, `POST ran ${post.length} statements:\n${post.join('\n')}`);
    // PUT: the claim, the protection's transaction and the commit's; no repository upsert, no second blob insert.
    assert.equal(transactions(put), 2, put.join('\n'));
    assert.ok(put.length <= 15, `PUT ran ${put.length} statements:\n${put.join('\n')}`);
    assert.equal(put.filter((s) => /insert into "repositories"/.test(s)).length, 0, put.join('\n'));
    assert.equal(put.filter((s) => /insert into "blobs"/.test(s)).length, 1, put.join('\n'));
    const head = await api(srv.url, `/v2/counted/repo/blobs/${digestOf(layer)}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  it('a manifest PUT inserts its blob row once (in the protection) and reads the repository once', async () => {
    const layer = randomBlob(2048);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(layer)] } }));
    await pushBlob('counted/image', layer);
    await pushBlob('counted/image', config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: digestOf(config), size: config.length },
        layers: [{ mediaType: MT.ociLayer, digest: digestOf(layer), size: layer.length }],
      }),
    );
    const { res, sql } = await counted(`${srv.url}/v2/counted/image/manifests/v1`, {
      method: 'PUT',
      headers: { 'Content-Type': MT.ociManifest },
      body: asBody(manifest),
    });
    assert.equal(res.status, 201);
    assert.equal(sql.filter((s) => /insert into "blobs"/.test(s)).length, 1, sql.join('\n'));
    assert.equal(sql.filter((s) => /insert into "repositories"/.test(s)).length, 0, sql.join('\n'));
    const got = await api(srv.url, '/v2/counted/image/manifests/v1', { headers: { Accept: MT.ociManifest } });
    assert.equal(got.status, 200);
    assert.ok(Buffer.from(await got.arrayBuffer()).equals(manifest));
  });
});
