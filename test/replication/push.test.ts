// Push replication from a Berth (token mode) to a second Berth (token mode, credentials sealed in
// the policy) and to Debian's docker-registry (behind a request-counting tap): an image, a
// multi-arch index with its children and an artifact with a subject arrive with equal digests; a
// second run changes nothing; a push reaches the remote within seconds; deletes are replicated
// only by policies that say so; a failing remote is retried and its failure recorded.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MT, randomBlob, removeDir, type TestServer } from '../helpers/api-server.js';
import { TokenClient } from '../helpers/token-client.js';
import { startUpstream, UPSTREAM_PASSWORD, UPSTREAM_USER, type Upstream } from '../helpers/upstream.js';
import { startTap, type Tap } from '../helpers/upstream-tap.js';
import { ADMIN } from '../api-v1/helpers.js';
import { pushImage, pushIndex, pushReferrer, putManifest } from '../retention/helpers.js';
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
    [src, dst, up] = await Promise.all([
      startReplicating(),
      startReplicating({ config: { replication: { enabled: false } } }),
      startUpstream({ name: 'repl-target' }),
    ]);
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
    const { runner, store } = replicationOf(src);
    // The remote password is stored sealed and never comes back.
    const raw = await src.meta!.db.selectFrom('replication_policies').selectAll().where('id', '=', toBerth.id).executeTakeFirstOrThrow();
    assert.match(String(raw.remote_password_sealed), /^berth-sealed:v1:/);
    assert.ok(!JSON.stringify(raw).includes(ADMIN.password));
    assert.ok(!JSON.stringify(await store.list()).includes(ADMIN.password));

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
    assert.equal(
      tap.count({ method: 'PUT' }) + tap.count({ method: 'POST' }) + tap.count({ method: 'PATCH' }) + tap.count({ method: 'DELETE' }),
      0,
      JSON.stringify(tap.summary()),
    );
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

  it('a push reaches the remote within seconds (event trigger), a referrer pushed later follows it; a tag the filter leaves out does not', async () => {
    const { store } = replicationOf(src);
    const p = await createPolicy(src, {
      name: 'on-push',
      direction: 'push',
      remoteUrl: tap.url,
      remotePrefix: 'events',
      repositories: ['admin/live*'],
      tags: ['v*'],
    });
    assert.equal(p.trigger, 'event');
    await pushImage(c, 'admin/live', 'dev');
    const t0 = Date.now();
    const img = await pushImage(c, 'admin/live', 'v2');
    await eventually('v2 on the remote', async () => ((await digestAt(upClient, 'events/admin/live', 'v2')) === img.digest ? true : undefined), 10_000);
    const ms = Date.now() - t0;
    assert.ok(ms < 5000, `the copy took ${ms} ms`);
    // dev was pushed first and never queued.
    assert.equal(await digestAt(upClient, 'events/admin/live', 'dev'), null);
    const run = await eventually('the run row', async () => (await store.runs(p.id)).find((r) => r.status !== 'running'));
    assert.deepEqual([run.trigger, run.status, run.copied, run.failed], ['event', 'succeeded', 1, 0]);
    assert.equal(await store.pendingTasks(p.id), 0);
    console.log(`replication: push to remote in ${ms} ms`);
    // A signature pushed later (by digest, untagged) follows its subject; docker-registry lists it under the tag schema.
    const sig = await pushReferrer(c, 'admin/live', img.digest);
    await eventually('the referrer on the remote', async () =>
      (await upClient.referrers('events/admin/live', img.digest)).some((d) => d.digest === sig.digest) ? true : undefined,
    );
    assert.equal(await digestAt(upClient, 'events/admin/live', sig.digest), sig.digest);
  });

  it('deletes (tag, manifest, repository) are replicated only by policies that replicate them; docker-registry, which cannot delete a tag, loses its manifest', async () => {
    const { store } = replicationOf(src);
    const creds = { remoteUsername: ADMIN.user, remotePassword: ADMIN.password };
    const keep = await createPolicy(src, { name: 'keeps-deletes', direction: 'push', remoteUrl: dst.url, ...creds, repositories: ['admin/del'] });
    const toBerth = await createPolicy(src, {
      name: 'berth-deletes',
      direction: 'push',
      remoteUrl: dst.url,
      ...creds,
      remotePrefix: 'mirror',
      repositories: ['admin/del'],
      replicateDeletes: true,
    });
    const toRegistry = await createPolicy(src, {
      name: 'registry-deletes',
      direction: 'push',
      remoteUrl: tap.url,
      remotePrefix: 'del',
      repositories: ['admin/del'],
      replicateDeletes: true,
    });
    const a = await pushImage(c, 'admin/del', 'a');
    const b = await pushImage(c, 'admin/del', 'b');
    const d = await pushImage(c, 'admin/del', 'd');
    const remotes = [
      [dstClient, 'admin/del'],
      [dstClient, 'mirror/admin/del'],
      [upClient, 'del/admin/del'],
    ] as const;
    for (const [client, repo] of remotes) {
      await eventually(`d on ${repo}`, async () => ((await digestAt(client, repo, 'd')) === d.digest ? true : undefined));
      assert.deepEqual([await digestAt(client, repo, 'a'), await digestAt(client, repo, 'b')], [a.digest, b.digest]);
    }
    assert.equal((await c.fetch('/v2/admin/del/manifests/a', { method: 'DELETE' })).status, 202);
    assert.equal((await c.fetch(`/v2/admin/del/manifests/${b.digest}`, { method: 'DELETE' })).status, 202);
    // The policy that keeps deletes queued nothing for them (tasks are written with the delete).
    assert.equal(await store.pendingTasks(keep.id), 0);
    // Berth deletes the tag (its manifest stays, by digest) and the manifest.
    await eventually('b gone from the mirror', async () => ((await dstClient.headManifest('mirror/admin/del', b.digest)) === null ? true : undefined));
    assert.equal(await digestAt(dstClient, 'mirror/admin/del', 'a'), null);
    assert.equal(await digestAt(dstClient, 'mirror/admin/del', a.digest), a.digest);
    // docker-registry refuses tag deletes: the manifest the tag pointed at goes instead.
    await eventually('b gone from docker-registry', async () => ((await upClient.headManifest('del/admin/del', b.digest)) === null ? true : undefined));
    await eventually('a gone from docker-registry', async () => ((await digestAt(upClient, 'del/admin/del', 'a')) === null ? true : undefined));
    assert.equal(await upClient.headManifest('del/admin/del', a.digest), null);
    // A deleted repository takes its tags along on both.
    const gone = await fetch(`${src.url}/api/v1/repositories/admin/del`, {
      method: 'DELETE',
      headers: { authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}` },
    });
    assert.equal(gone.status, 204, await gone.text());
    await eventually('d gone from the mirror', async () => ((await digestAt(dstClient, 'mirror/admin/del', 'd')) === null ? true : undefined));
    await eventually('d gone from docker-registry', async () => ((await digestAt(upClient, 'del/admin/del', 'd')) === null ? true : undefined));
    // The remote without deletes keeps everything.
    for (const img of [a, b, d]) assert.equal(await dstClient.headManifest('admin/del', img.digest).then((h) => h?.digest), img.digest);
    assert.equal(await store.pendingTasks(keep.id), 0);
    for (const p of [toBerth, toRegistry]) {
      const runs = await store.runs(p.id);
      assert.equal(
        runs.reduce((n, r) => n + r.deleted, 0),
        3,
        `${p.name}: ${JSON.stringify(runs)}`,
      );
      assert.ok(
        runs.every((r) => r.failed === 0),
        JSON.stringify(runs),
      );
    }
  });

  it('a failing remote is retried with backoff: the failed run records why, a later run copies', async () => {
    const { store, runner } = replicationOf(src);
    const p = await createPolicy(src, { name: 'flaky', direction: 'push', remoteUrl: tap.url, remotePrefix: 'flaky', repositories: ['admin/flaky'] });
    await tap.setMode('503', { kinds: ['manifest'] });
    const img = await pushImage(c, 'admin/flaky', 'v1');
    const failed = await eventually('a failed run', async () => (await store.runs(p.id)).find((r) => r.status === 'failed'));
    assert.match(String(failed.error), /503/);
    assert.deepEqual([failed.trigger, failed.failed, failed.copied], ['event', 1, 0]);
    const [task] = await store.dueTasks(p.id, Number.MAX_SAFE_INTEGER, 10);
    assert.ok(task && task.attempts >= 1, 'the task waits for its next attempt');
    await tap.setMode('pass');
    await eventually('v1 on the remote after a retry', async () => ((await digestAt(upClient, 'flaky/admin/flaky', 'v1')) === img.digest ? true : undefined));
    const ok = await eventually('a succeeded run', async () => (await store.runs(p.id)).find((r) => r.status === 'succeeded'));
    assert.equal(ok.copied, 1);
    assert.equal(await store.pendingTasks(p.id), 0);

    // A remote that refuses connections: a manual run tries a few times, then fails and says so.
    await tap.setMode('refuse');
    try {
      await pushImage(c, 'admin/flaky', 'v2');
      const r = await runner.runAndWait(p.id).catch(async (err) => {
        // The event drain may hold the policy right now: wait for it, then run.
        assert.match(String(err), /is running/);
        await eventually('the drain to end', async () => ((await store.get(p.id))?.running ? undefined : true));
        return runner.runAndWait(p.id);
      });
      assert.equal(r.status, 'failed');
      assert.match(String(r.error), /admin\/flaky:v\d/);
    } finally {
      await tap.setMode('pass');
    }
  });

  it('another Berth pulls from this one (token auth and the catalog at the source)', async () => {
    const img = await pushImage(c, 'admin/pulled', 'v1');
    const idx = await pushIndex(c, 'admin/pulled', 'multi');
    const p = await createPolicy(dst, {
      name: 'from-first',
      direction: 'pull',
      remoteUrl: src.url,
      remoteUsername: ADMIN.user,
      remotePassword: ADMIN.password,
      repositories: ['admin/pulled'],
      trigger: 'manual',
    });
    const run = await replicationOf(dst).runner.runAndWait(p.id);
    assert.deepEqual([run.status, run.error, run.copied], ['succeeded', null, 2], JSON.stringify(run));
    assert.equal(await digestAt(dstClient, 'admin/pulled', 'v1'), img.digest);
    assert.equal(await digestAt(dstClient, 'admin/pulled', 'multi'), idx.index.digest);
  });

  it('a docker-registry behind a token server: the sealed credentials get a push token; a wrong password fails the run as denied', async () => {
    const secured = await startUpstream({ name: 'repl-token-target', token: true });
    try {
      const img = await pushImage(c, 'admin/secured', 'v1');
      const good = await createPolicy(src, {
        name: 'to-token-registry',
        direction: 'push',
        remoteUrl: secured.url,
        remoteUsername: UPSTREAM_USER,
        remotePassword: UPSTREAM_PASSWORD,
        repositories: ['admin/secured'],
        trigger: 'manual',
      });
      const run = await replicationOf(src).runner.runAndWait(good.id);
      assert.deepEqual([run.status, run.error, run.copied], ['succeeded', null, 1], JSON.stringify(run));
      assert.equal((await clientOf(secured.url).headManifest('admin/secured', 'v1'))?.digest, img.digest);
      assert.ok((secured.token?.count(UPSTREAM_USER) ?? 0) > 0);

      const bad = await createPolicy(src, {
        name: 'wrong-password',
        direction: 'push',
        remoteUrl: secured.url,
        remoteUsername: UPSTREAM_USER,
        remotePassword: 'not-the-password',
        repositories: ['admin/secured'],
        trigger: 'manual',
      });
      const refused = await replicationOf(src).runner.runAndWait(bad.id);
      assert.equal(refused.status, 'failed');
      assert.match(String(refused.error), /admin\/secured:v1: .*(denied|401|403)/i);
      assert.ok(!String(refused.error).includes('not-the-password'));
    } finally {
      await secured.dispose();
    }
  });

  it('a blob two repositories share is uploaded once and mounted into the second (cross-repository mount)', async () => {
    const bytes = randomBlob(4096);
    const layer = await c.pushBlob('admin/m1', bytes);
    await c.pushBlob('admin/m2', bytes);
    const digests: string[] = [];
    for (const repo of ['admin/m1', 'admin/m2']) {
      const config = await c.pushBlob(repo, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', repo })));
      const m = await putManifest(
        c,
        repo,
        {
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          config: { mediaType: MT.ociConfig, digest: config.digest, size: config.size },
          layers: [{ mediaType: MT.ociLayer, digest: layer.digest, size: layer.size }],
        },
        'v1',
      );
      digests.push(m.digest);
    }
    const p = await createPolicy(src, {
      name: 'mounting',
      direction: 'push',
      remoteUrl: tap.url,
      remotePrefix: 'mount',
      repositories: ['admin/m?'],
      trigger: 'manual',
    });
    tap.reset();
    const run = await replicationOf(src).runner.runAndWait(p.id);
    assert.deepEqual([run.status, run.copied], ['succeeded', 2], JSON.stringify(run));
    assert.deepEqual([await digestAt(upClient, 'mount/admin/m1', 'v1'), await digestAt(upClient, 'mount/admin/m2', 'v1')], digests);
    const uploadsOfLayer = tap
      .list({ method: 'PUT', kind: 'upload' })
      .filter((r) => r.url.includes(encodeURIComponent(layer.digest)) || r.url.includes(layer.digest));
    assert.equal(uploadsOfLayer.length, 1, JSON.stringify(tap.summary()));
    const mounts = tap.list({ method: 'POST', kind: 'upload' }).filter((r) => r.url.includes('mount='));
    assert.deepEqual(
      mounts.map((r) => [r.repo, r.status]),
      [['mount/admin/m2', 201]],
    );
  });
});
