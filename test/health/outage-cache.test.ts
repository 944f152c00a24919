// The outage cache's bounds and rules (src/registry/outage-cache.ts), and the one error mapping
// of a database that does not answer (503 UNAVAILABLE / REST UNAVAILABLE with Retry-After).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { errorResponse, problemOf } from '../../src/http/error-response.js';
import { parseDigest } from '../../src/oci/digest.js';
import { matchesDigest, OutageCache } from '../../src/registry/outage-cache.js';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const manifest = (n: number, bytes = 100) => {
  const body = Buffer.alloc(bytes, n);
  return { digest: digestOf(body), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: body.length, body, onlyFor: null };
};

describe('outage cache', () => {
  it('finds a manifest by the tag and by the digest it was served under, and a blob fact by repository', () => {
    const c = new OutageCache({ entries: 100, bytes: 1 << 20, maxAgeMs: 60_000 });
    const m = manifest(1);
    c.rememberManifest('a/b', 'v1', m);
    c.rememberBlob('a/b', `sha256:${'c'.repeat(64)}`, 42);
    assert.equal(c.manifest('a/b', { tag: 'v1' })?.digest, m.digest);
    assert.equal(c.manifest('a/b', { digest: parseDigest(m.digest) })?.body, m.body);
    assert.equal(c.manifest('a/other', { tag: 'v1' }), undefined, 'per repository');
    assert.equal(c.blob('a/b', `sha256:${'c'.repeat(64)}`), 42);
    assert.equal(c.blob('x/y', `sha256:${'c'.repeat(64)}`), undefined, 'a blob readable in one repository says nothing of another');
  });

  it('is bounded by entries and by bytes, evicting the least recently used', () => {
    const byCount = new OutageCache({ entries: 3, bytes: 1 << 20, maxAgeMs: 60_000 });
    for (let i = 0; i < 5; i++) byCount.rememberBlob('r', `sha256:${String(i).repeat(64)}`, i);
    assert.equal(byCount.size().entries, 3);
    assert.equal(byCount.blob('r', `sha256:${'0'.repeat(64)}`), undefined);
    assert.equal(byCount.blob('r', `sha256:${'4'.repeat(64)}`), 4);

    const byBytes = new OutageCache({ entries: 1000, bytes: 10_000, maxAgeMs: 60_000 });
    for (let i = 0; i < 20; i++) byBytes.rememberManifest('r', undefined, manifest(i, 2000));
    assert.ok(byBytes.size().bytes <= 10_000, `${byBytes.size().bytes} bytes held`);
    assert.ok(byBytes.manifest('r', { digest: parseDigest(manifest(19, 2000).digest) }), 'the newest is kept');
    assert.equal(byBytes.manifest('r', { digest: parseDigest(manifest(0, 2000).digest) }), undefined);
  });

  it('does not serve entries older than maxage, and forgets what the gate refused or the database found gone', () => {
    let now = 0;
    const c = new OutageCache({ entries: 100, bytes: 1 << 20, maxAgeMs: 1000 }, () => now);
    const m = manifest(7);
    c.rememberManifest('r', 'v1', m);
    now = 1001;
    assert.equal(c.manifest('r', { tag: 'v1' }), undefined);
    c.rememberManifest('r', 'v1', m);
    c.forgetManifest('r', m.digest);
    assert.equal(c.manifest('r', { tag: 'v1' }), undefined);
    assert.equal(c.size().entries, 1, 'only the tag is left, pointing nowhere');
  });

  it('a HEAD keeps the bytes a GET recorded; entries 0 turns it off', () => {
    const c = new OutageCache({ entries: 100, bytes: 1 << 20, maxAgeMs: 60_000 });
    const m = manifest(3);
    c.rememberManifest('r', undefined, m);
    const { body: _b, ...facts } = m;
    c.rememberManifest('r', 'v1', facts);
    assert.equal(c.manifest('r', { tag: 'v1' })?.body, m.body);
    const off = new OutageCache({ entries: 0, bytes: 1 << 20, maxAgeMs: 60_000 });
    off.rememberManifest('r', 'v1', m);
    assert.equal(off.manifest('r', { tag: 'v1' }), undefined);
  });

  it('matchesDigest checks the bytes', () => {
    const m = manifest(5);
    assert.equal(matchesDigest(m.body, m.digest), true);
    assert.equal(matchesDigest(Buffer.from('tampered'), m.digest), false);
  });
});

describe('a database that does not answer, in the one error mapping', () => {
  const cases: [string, unknown][] = [
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['server shutting down (57P01)', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })],
    ['starting up (57P03)', Object.assign(new Error('the database system is starting up'), { code: '57P03' })],
    ['connection lost', new Error('Connection terminated unexpectedly')],
    ['pool exhausted', new Error('timeout exceeded when trying to connect')],
    ['SQLite locked beyond busy_timeout', Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })],
  ];
  for (const [what, err] of cases) {
    it(`${what}: 503 UNAVAILABLE on /v2 and /api, with Retry-After, the cause only in the log (warn, no stack)`, () => {
      const p = problemOf(err);
      const v2 = errorResponse(p, 'registry', 'GET');
      assert.equal(v2.status, 503);
      assert.equal(v2.headers['Retry-After'], '5');
      assert.equal(JSON.parse(v2.body!).errors[0].code, 'UNAVAILABLE');
      const api = errorResponse(p, 'api', 'GET');
      assert.equal(api.status, 503);
      assert.equal(api.headers['Retry-After'], '5');
      assert.deepEqual(JSON.parse(api.body!).errors[0], { code: 'UNAVAILABLE', message: 'the database is unavailable; try again later' });
      assert.equal(p.log, 'warn');
    });
  }
  it('other errors stay 500', () => {
    assert.equal(problemOf(Object.assign(new Error('syntax error'), { code: '42601' })).status, 500);
    assert.equal(problemOf(new Error('boom')).status, 500);
  });
});
