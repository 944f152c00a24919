// Push replication from a Berth (token mode) to a second Berth (token mode, credentials sealed in
// the policy) and to Debian's docker-registry (behind a request-counting tap): an image, a
// multi-arch index with its children and an artifact with a subject arrive with equal digests; a
// second run changes nothing; a push reaches the remote within seconds; deletes are replicated
// only by policies that say so; a failing remote is retried and its failure recorded.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MT, removeDir, type TestServer } from '../helpers/api-server.js';
import { TokenClient } from '../helpers/token-client.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { startTap, type Tap } from '../helpers/upstream-tap.js';
import { ADMIN } from '../api-v1/helpers.js';
import { pushImage, pushIndex, pushReferrer } from '../retention/helpers.js';
import { clientOf, createPolicy, eventually, replicationOf, startReplicating } from './helpers.js';
import type { UpstreamClient } from '../../src/upstream/client.js';

const ACCEPT = `${MT.ociManifest}, ${MT.ociIndex}, ${MT.dockerManifest}, ${MT.dockerList}`;

describe('push replication', () => {
  let src: TestServer;
  let dst: TestServer;
  let up: Upstream;
  let tap: Tap;
  let c: TokenClient;
  let dstClient: UpstreamClient;
  let upClient: UpstreamClient;
  before(async () => {
    [src, dst, up] = await Promise.all([startReplicating(), startReplicating({ config: { replication: { enabled: false } } }), startUpstream({ name: 'repl-target' })]);
    tap = await startTap(up.url);
    c = new TokenClient(src.url, ADMIN);
    dstClient = clientOf(dst.url, ADMIN);
    upClient = clientOf(up.url);
  });
  after(async () => {
    await Promise.all([src?.close(), dst?.close(), tap?.close(), up?.dispose()]);
    for (const s of [src, dst]) if (s) removeDir(s.dir);
  });

  const digestAt = async (client: UpstreamClient, repo: string, ref: string) => (await client.headManifest(repo, ref))?.digest ?? null;

  it('a manual run copies an image, a multi-arch index with its children and an artifact with its subject; digests are equal; a second run changes nothing', async () => {
    const image = await pushImage(c, 'admin/app', 'v1');
    const index = await pushIndex(c, 'admin/multi', 'latest');
    const sbom = await pushReferrer(c, 'admin/app', image.digest);
    await pushImage(c, 'admin/other', 'v1'); // not selected
    const select = { repositories: ['admin/app', 'admin/multi'], trigger: 'manual' as const };
    const toBerth = await createPolicy(src, {
      name: 'to-berth',
      direction: 'push',
      remoteUrl: dst.url,
      remoteUsername: ADMIN.user,
      remotePassword: ADMIN.password,
      ...select,
    });
    const toRegistry = await createPolicy(src, { name: 'to-registry', direction: 'push', remoteUrl: tap.url, remotePrefix: 'copies', ...select });
    const { runner } = replicationOf(src);

    const first = await runner.runAndWait(toBerth.id);
    assert.deepEqual([first.status, first.error, first.copied, first.skipped, first.failed], ['succeeded', null, 3, 0, 0], JSON.stringify(first));
    assert.ok(first.bytes > 0);
    const firstReg = await runner.runAndWait(toRegistry.id);
    assert.deepEqual([firstReg.status, firstReg.error, firstReg.copied], ['succeeded', null, 3], JSON.stringify(firstReg));

    for (const [client, prefix] of [
      [dstClient, ''],
      [upClient, 'copies/'],
    ] as const) {
      assert.equal(await digestAt(client, `${prefix}admin/app`, 'v1'), image.digest);
      assert.equal(await digestAt(client, `${prefix}admin/multi`, 'latest'), index.index.digest);
      for (const child of index.children) assert.equal(await digestAt(client, `${prefix}admin/multi`, child.digest), child.digest);
      assert.equal(await digestAt(client, `${prefix}admin/app`, sbom.digest), sbom.digest);
      // The artifact is found as a referrer of its subject: the referrers API on Berth, the tag schema on docker-registry.
      assert.deepEqual(
        (await client.referrers(`${prefix}admin/app`, image.digest)).map((d) => d.digest),
        [sbom.digest],
      );
      assert.equal(await digestAt(client, `${prefix}admin/other`, 'v1'), null);
    }
    // The bytes are the source's bytes.
    const body = await dstClient.getManifest('admin/multi', 'latest');
    const res = await c.fetch('/v2/admin/multi/manifests/latest', { headers: { Accept: ACCEPT } });
    assert.deepEqual(body.body, Buffer.from(await res.arrayBuffer()));

    // A second run changes nothing: all skipped, no byte sent, no write reaches the remote.
    tap.reset();
    const second = await runner.runAndWait(toRegistry.id);
    assert.deepEqual([second.status, second.copied, second.skipped, second.bytes], ['succeeded', 0, 3, 0], JSON.stringify(second));
    assert.equal(tap.count({ method: 'PUT' }) + tap.count({ method: 'POST' }) + tap.count({ method: 'PATCH' }) + tap.count({ method: 'DELETE' }), 0, JSON.stringify(tap.summary()));
    const again = await runner.runAndWait(toBerth.id);
    assert.deepEqual([again.status, again.copied, again.skipped, again.bytes], ['succeeded', 0, 3, 0], JSON.stringify(again));
    const runs = await replicationOf(src).store.runs(toBerth.id);
    assert.deepEqual(
      runs.map((r) => [r.trigger, r.status, r.copied]),
      [
        ['manual', 'succeeded', 0],
        ['manual', 'succeeded', 3],
      ],
    );
  });
});
