// The upstream client against docker-registry in token mode (behind the tests' token server),
// the way Docker Hub works: anonymous pulls with a token per scope, credentials for pushes,
// 'denied' for wrong credentials; the content pushed by skopeo (an index, a referrer behind
// the sha256-<hex> tag) read back with every digest checked.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { UpstreamClient, UpstreamError } from '../../src/upstream/index.js';
import { digestOf } from '../helpers/api-server.js';
import { MT } from '../helpers/oci.js';
import { UPSTREAM_PASSWORD, UPSTREAM_USER, fillUpstream, startUpstream, type Upstream, type UpstreamContent } from '../helpers/upstream.js';

let up: Upstream;
let content: UpstreamContent;
const clients: UpstreamClient[] = [];

function client(creds?: { username: string; password: string }): UpstreamClient {
  const c = new UpstreamClient({ url: up.url, ...creds }, { guard: null });
  clients.push(c);
  return c;
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

before(async () => {
  up = await startUpstream({ token: true, name: 'upstream-client-token' });
  content = await fillUpstream(up, { only: ['tiny', 'multi', 'referrer'] });
});
after(async () => {
  for (const c of clients) c.close();
  await up?.dispose();
});

describe('anonymous reads from a token-authenticated docker-registry', () => {
  it('an image: manifest by tag, then every blob by digest, with one token for the repository', async () => {
    const c = client();
    const before = up.token!.count('');
    const { tiny } = content;
    const m = await c.getManifest(tiny.repo, 'latest');
    assert.equal(m.digest, tiny.digest);
    assert.equal(m.mediaType, tiny.mediaType);
    for (const blob of tiny.blobs) {
      const got = await c.getBlob(tiny.repo, blob);
      assert.equal(digestOf(await readAll(got.body)), blob);
      assert.equal(await c.headBlob(tiny.repo, blob), got.size);
    }
    assert.deepEqual((await c.tags(tiny.repo)).filter((t) => !t.startsWith('sha256-')).sort(), ['1', 'latest']);
    assert.equal(up.token!.count('') - before, 1, 'one anonymous token for repository:library/tiny:pull');
  });

  it('an index and its children by digest', async () => {
    const c = client();
    const { multi } = content;
    const head = await c.headManifest(multi.repo, 'latest');
    assert.deepEqual(head, { digest: multi.digest, mediaType: multi.mediaType, size: multi.size });
    assert.equal(multi.mediaType, MT.ociIndex);
    for (const child of multi.images) assert.equal((await c.getManifest(multi.repo, child.digest)).digest, child.digest);
  });

  it('referrers through the sha256-<hex> tag', async () => {
    const { referrer } = content;
    const found = await client().referrers(referrer.repo, referrer.subject);
    assert.deepEqual(
      found.map((d) => [d.digest, d.artifactType]),
      [[referrer.digest, referrer.artifactType]],
    );
  });

  it('a push without credentials is denied', async () => {
    const bytes = randomBytes(100);
    const err = await client()
      .pushBlob('library/tiny', digestOf(bytes), bytes.length, Readable.from([bytes]))
      .then(
        () => assert.fail('pushed anonymously'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof UpstreamError && err.kind === 'denied', String(err));
  });
});

describe('with credentials', () => {
  it('copies an image into another repository: mount, streamed push, manifest put, delete', async () => {
    const c = client({ username: UPSTREAM_USER, password: UPSTREAM_PASSWORD });
    const { tiny } = content;
    for (const blob of tiny.blobs) assert.equal(await c.mountBlob('copies/tiny', tiny.repo, blob), true);
    const extra = randomBytes(70_000);
    await c.pushBlob('copies/tiny', digestOf(extra), extra.length, Readable.from([extra.subarray(0, 1000), extra.subarray(1000)]));
    assert.equal(await c.headBlob('copies/tiny', digestOf(extra)), extra.length);
    const m = await c.getManifest(tiny.repo, tiny.digest);
    assert.equal(await c.putManifest('copies/tiny', 'copied', m.mediaType, m.body), tiny.digest);
    assert.equal((await client().headManifest('copies/tiny', 'copied'))?.digest, tiny.digest);
    assert.equal(await c.deleteManifest('copies/tiny', tiny.digest), true);
    assert.equal(await c.headManifest('copies/tiny', 'copied'), null);
    assert.ok(up.token!.requests.some((r) => r.user === UPSTREAM_USER && r.granted.some((g) => g.includes('copies/tiny') && g.includes('push'))));
  });

  it('a wrong password is denied by the token server, and is in no message', async () => {
    const secret = `bad-${randomBytes(5).toString('hex')}`;
    const err = await client({ username: UPSTREAM_USER, password: secret })
      .getManifest('library/tiny', 'latest')
      .then(
        () => assert.fail('read with a wrong password'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof UpstreamError && err.kind === 'denied', String(err));
    assert.ok(!err.message.includes(secret) && !err.message.includes(Buffer.from(`${UPSTREAM_USER}:${secret}`).toString('base64')), err.message);
  });
});
