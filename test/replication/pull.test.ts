// Pull replication from Debian's docker-registry (filled with skopeo: an image under two tags, a
// multi-arch index, an artifact behind the referrers tag schema) into a Berth on a schedule: the
// job runs a due policy, digests are equal, the writes go through the registry's services (tag
// history names `replication:<policy>`, quotas refuse what does not fit), the next scheduled run
// changes nothing, and with deletes replicated a tag gone upstream goes here too.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { removeDir, type TestServer } from '../helpers/api-server.js';
import { TestClock } from '../helpers/clock.js';
import { fillUpstream, pushFixture, startUpstream, type Upstream, type UpstreamContent } from '../helpers/upstream.js';
import { startTap } from '../helpers/upstream-tap.js';
import { ADMIN, call, expect } from '../api-v1/helpers.js';
import type { ReplicationRun } from '../../src/metadata/replication-store.js';
import type { UpstreamClient } from '../../src/upstream/client.js';
import { clientOf, createPolicy, eventually, replicationOf, startReplicating } from './helpers.js';

const HOUR = 3_600_000;

describe('pull replication from docker-registry', () => {
  const clock = new TestClock();
  let up: Upstream;
  let content: UpstreamContent;
  let s: TestServer;
  let here: UpstreamClient;
  let there: UpstreamClient;
  before(async () => {
    up = await startUpstream({ name: 'repl-source' });
    content = await fillUpstream(up, { only: ['tiny', 'multi', 'referrer'] });
    await pushFixture(up, 'tiny', 'small/tiny', 'latest');
    await pushFixture(up, 'tiny', 'library/gone', 'x');
    s = await startReplicating({ parts: { now: clock.now } });
    here = clientOf(s.url, ADMIN);
    there = clientOf(up.url);
  });
  after(async () => {
    await Promise.all([s?.close(), up?.dispose()]);
    if (s) removeDir(s.dir);
  });

  /** The next finished run of the policy after `afterId`. */
  const nextRun = (policyId: number, afterId = 0) =>
    eventually(
      'a finished scheduled run',
      async (): Promise<ReplicationRun | undefined> => (await replicationOf(s).store.runs(policyId, 5)).find((r) => r.id > afterId && r.status !== 'running'),
      30_000,
    );

  it('the job runs a due pull policy: images, the index with its children and the artifact arrive with equal digests, written as replication:<policy>', async () => {
    const p = await createPolicy(s, { name: 'from-registry', direction: 'pull', remoteUrl: up.url, repositories: ['library/*'], replicateDeletes: true });
    assert.deepEqual([p.trigger, p.intervalMs, p.nextRunAt], ['schedule', HOUR, p.createdAt]);
    const run = await nextRun(p.id);
    assert.deepEqual([run.trigger, run.status, run.error, run.failed], ['schedule', 'succeeded', null, 0], JSON.stringify(run));

    for (const tag of ['latest', '1']) assert.equal((await here.headManifest('library/tiny', tag))?.digest, content.tiny.digest);
    assert.equal((await here.headManifest('library/multi', 'latest'))?.digest, content.multi.digest);
    for (const child of content.multi.manifests) assert.equal((await here.headManifest('library/multi', child))?.digest, child);
    for (const blob of content.tiny.blobs) assert.notEqual(await here.headBlob('library/tiny', blob), null, blob);
    for (const blob of content.multi.blobs) assert.notEqual(await here.headBlob('library/multi', blob), null, blob);
    // The artifact, found upstream through the tag schema, is a referrer here (the referrers API).
    assert.deepEqual(
      (await here.referrers('library/tiny', content.tiny.digest)).map((d) => d.digest),
      [content.referrer.digest],
    );
    // Written through the registry's services: the tag history names the policy.
    const history = await s
      .meta!.db.selectFrom('tag_history as h')
      .innerJoin('repositories as r', 'r.id', 'h.repository_id')
      .select(['r.name', 'h.name as tag', 'h.actor', 'h.digest'])
      .where('r.name', '=', 'library/tiny')
      .where('h.name', '=', 'latest')
      .execute();
    assert.deepEqual(history, [{ name: 'library/tiny', tag: 'latest', actor: 'replication:from-registry', digest: content.tiny.digest }]);
    // Not selected: small/tiny.
    assert.equal(await here.headManifest('small/tiny', 'latest'), null);

    // The next run is due an hour later; it changes nothing.
    const policy = (await replicationOf(s).store.get(p.id))!;
    assert.equal(policy.nextRunAt, run.finishedAt! + HOUR);
    assert.equal(policy.lastRun?.id, run.id);
    clock.advance(HOUR);
    const second = await nextRun(p.id, run.id);
    assert.deepEqual([second.status, second.copied, second.bytes, second.deleted], ['succeeded', 0, 0, 0], JSON.stringify(second));
    assert.ok(second.skipped >= 4, JSON.stringify(second));

    // A tag gone upstream goes here too (the policy replicates deletes).
    const gone = await there.headManifest('library/gone', 'x');
    assert.ok(gone);
    assert.equal((await here.headManifest('library/gone', 'x'))?.digest, gone.digest);
    assert.equal(await there.deleteManifest('library/gone', gone.digest), true);
    clock.advance(HOUR);
    const third = await nextRun(p.id, second.id);
    assert.deepEqual([third.status, third.deleted], ['succeeded', 1], JSON.stringify(third));
    assert.equal(await here.headManifest('library/gone', 'x'), null);
    assert.equal((await here.headManifest('library/tiny', 'latest'))?.digest, content.tiny.digest);
  });

  it("a namespace's quota refuses what does not fit: the run fails and says why, nothing is stored", async () => {
    expect(await call(s, 'PUT', '/namespaces/small/quota', ADMIN, { limit: 100 }), 200);
    const p = await createPolicy(s, { name: 'into-small', direction: 'pull', remoteUrl: up.url, repositories: ['small/*'], trigger: 'manual' });
    const run = await replicationOf(s).runner.runAndWait(p.id);
    assert.equal(run.status, 'failed');
    assert.match(String(run.error), /small\/tiny:latest: .*quota/i);
    assert.equal(await here.headManifest('small/tiny', 'latest'), null);
  });

  it('a policy naming its repositories without wildcards needs no catalog (Docker Hub offers none)', async () => {
    const tap = await startTap(up.url);
    try {
      const p = await createPolicy(s, { name: 'named', direction: 'pull', remoteUrl: tap.url, repositories: ['small/tiny'], trigger: 'manual' });
      expect(await call(s, 'DELETE', '/namespaces/small/quota', ADMIN), 204);
      const run = await replicationOf(s).runner.runAndWait(p.id);
      assert.deepEqual([run.status, run.error, run.copied], ['succeeded', null, 1], JSON.stringify(run));
      assert.equal((await here.headManifest('small/tiny', 'latest'))?.digest, content.tiny.digest);
      assert.equal(tap.count({ kind: 'catalog' }), 0, JSON.stringify(tap.summary()));
    } finally {
      await tap.close();
    }
  });
});
