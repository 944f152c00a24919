// Running retention policies on demand (POST …/retention-policies/{name}/run) on a server whose
// clock the tests advance: a dry run lists tags, manifests and bytes and changes nothing; the
// real run deletes exactly that (through the registry's delete path: tag history, quota usage);
// keep-N by push and by pull time, pushedWithin, immutable tags protected, a kept multi-arch
// index keeps its children and referrers, untagged manifests go only after the duration.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { addUser, call, expect } from '../api-v1/helpers.js';
import { TokenClient } from '../helpers/token-client.js';
import { DAY, TestClock, createPolicy, head, policies, pull, pushImage, pushIndex, pushReferrer, retentionServer, run, tagsOf } from './helpers.js';

const clock = new TestClock();
const s = retentionServer(clock);
let alice: { user: string; password: string };
let c: TokenClient;

/** Tags pushed one day apart, oldest first; returns their digests. */
async function pushDaily(repo: string, tags: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of tags) {
    out[t] = (await pushImage(c, repo, t)).digest;
    clock.advance(DAY);
  }
  return out;
}

const names = (r: { tags: { tag: string }[] }) => r.tags.map((t) => t.tag).sort();
const digests = (r: { manifests: { digest: string }[] }) => r.manifests.map((m) => m.digest).sort();

describe('retention runs', () => {
  before(async () => {
    alice = await addUser(s, 'alice');
    c = new TokenClient(s.url, alice);
  });

  it('a dry run lists tags, manifests and bytes and changes nothing; the real run deletes exactly that', async () => {
    const loose = await pushImage(c, 'alice/app'); // untagged from now
    clock.advance(DAY);
    const d = await pushDaily('alice/app', ['t1', 't2', 't3', 't4']);
    clock.advance(10 * DAY);
    await createPolicy(s, 'alice', alice, { name: 'keep2', repository: 'alice/app', rules: [{ tags: 't*', keep: { latestPushed: 2 }, untagged: '7d' }] });
    const used = async () => expect(await call(s, 'GET', '/namespaces/alice/quota', alice), 200).body.used as number;
    const usedBefore = await used();

    const dry = await run(s, 'alice', 'keep2', alice, true);
    assert.equal(dry.policy, 'keep2');
    assert.equal(dry.dryRun, true);
    assert.equal(Date.parse(dry.at), Math.floor(Date.parse(dry.at)), 'at is ISO 8601');
    assert.deepEqual(names(dry), ['t1', 't2']);
    const t1 = dry.tags.find((t: { tag: string }) => t.tag === 't1');
    assert.deepEqual({ ...t1, pushedAt: typeof t1.pushedAt }, { repository: 'alice/app', tag: 't1', digest: d.t1, pushedAt: 'string', pulledAt: null });
    assert.deepEqual(dry.manifests, [{ repository: 'alice/app', digest: loose.digest, size: dry.manifests[0].size }]);
    assert.deepEqual(dry.protected, []);
    assert.equal(dry.kept, 2);
    assert.equal(dry.bytes, loose.bytes, 'the untagged image: its manifest, config and layer, which nothing else uses');
    // Nothing changed.
    assert.deepEqual(await tagsOf(c, 'alice/app'), ['t1', 't2', 't3', 't4']);
    assert.equal(await head(c, 'alice/app', loose.digest), 200);
    assert.equal(await usedBefore, await used());
    assert.equal(expect(await call(s, 'GET', `${policies('alice')}/keep2`, alice), 200).body.lastRun, null, 'a dry run is not a run');

    const real = await run(s, 'alice', 'keep2', alice, false);
    assert.deepEqual({ ...real, dryRun: true, at: dry.at }, dry, 'the real run deleted exactly what the dry run listed');
    assert.deepEqual(await tagsOf(c, 'alice/app'), ['t3', 't4']);
    assert.equal(await head(c, 'alice/app', loose.digest), 404);
    assert.equal(await head(c, 'alice/app', d.t1), 200, 'a manifest that just lost its tag stays until untagged 7d');
    assert.equal(usedBefore - (await used()), real.bytes, 'the quota usage drops by the bytes reported');
    const history = expect(await call(s, 'GET', '/repositories/alice/app/tag-history?tag=t1', alice), 200).body.entries;
    assert.deepEqual([history[0].action, history[0].actor, history[0].previousDigest], ['delete', 'retention:keep2', d.t1]);
    const policy = expect(await call(s, 'GET', `${policies('alice')}/keep2`, alice), 200).body;
    assert.deepEqual(policy.lastRun, { at: real.at, dryRun: false, tagsDeleted: 2, manifestsDeleted: 1, bytes: real.bytes, protected: 0 });
    // Nothing left to do.
    const again = await run(s, 'alice', 'keep2', alice, true);
    assert.deepEqual([again.tags, again.manifests, again.bytes], [[], [], 0]);
  });

  it('latestPulled keeps the most recently pulled tags (pulled over /v2, by tag or by digest)', async () => {
    const d = await pushDaily('alice/pulled', ['p1', 'p2', 'p3', 'p4']);
    await pull(s, c, 'alice/pulled', 'p1');
    clock.advance(60_000);
    await pull(s, c, 'alice/pulled', d.p3);
    await createPolicy(s, 'alice', alice, { name: 'pulled', repository: 'alice/pulled', rules: [{ tags: '*', keep: { latestPulled: 2 } }] });
    const dry = await run(s, 'alice', 'pulled', alice, true);
    assert.deepEqual(names(dry), ['p2', 'p4'], 'p4 is the newest push, but never pulled');
    // Pull p4 now: it is among the two latest pulls, p1 is not.
    clock.advance(60_000);
    await pull(s, c, 'alice/pulled', 'p4');
    const real = await run(s, 'alice', 'pulled', alice, false);
    assert.deepEqual(names(real), ['p1', 'p2']);
    const p1 = real.tags.find((t: { tag: string }) => t.tag === 'p1');
    assert.ok(p1.pulledAt !== null && Date.parse(p1.pulledAt) < Date.parse(real.at), 'the pull time is reported');
    assert.deepEqual(await tagsOf(c, 'alice/pulled'), ['p3', 'p4']);
  });

  it('pushedWithin keeps what was pushed within the duration of the clock', async () => {
    await pushImage(c, 'alice/recent', 'r1');
    clock.advance(10 * DAY);
    await pushImage(c, 'alice/recent', 'r2');
    await createPolicy(s, 'alice', alice, { name: 'recent', repository: 'alice/recent', rules: [{ tags: '*', keep: { pushedWithin: '5d' } }] });
    assert.deepEqual(names(await run(s, 'alice', 'recent', alice, false)), ['r1']);
    assert.deepEqual(await tagsOf(c, 'alice/recent'), ['r2']);
    clock.advance(4 * DAY);
    assert.deepEqual(names(await run(s, 'alice', 'recent', alice, false)), []);
    clock.advance(2 * DAY);
    assert.deepEqual(names(await run(s, 'alice', 'recent', alice, false)), ['r2']);
    assert.deepEqual(await tagsOf(c, 'alice/recent'), []);
  });

  it('never deletes an immutable tag: it is reported as protected with the rule', async () => {
    await pushDaily('alice/imm', ['v1', 'dev1', 'dev2']);
    expect(await call(s, 'POST', '/namespaces/alice/immutable-tag-rules', alice, { name: 'releases', repositories: 'imm', tags: 'v*' }), 201);
    await createPolicy(s, 'alice', alice, { name: 'imm', repository: 'alice/imm', rules: [{ tags: '*', keep: { latestPushed: 1 } }] });
    const dry = await run(s, 'alice', 'imm', alice, true);
    assert.deepEqual(names(dry), ['dev1']);
    assert.deepEqual(dry.protected, [{ repository: 'alice/imm', tag: 'v1', rule: 'releases' }]);
    const real = await run(s, 'alice', 'imm', alice, false);
    assert.deepEqual([names(real), real.protected], [['dev1'], dry.protected]);
    assert.deepEqual(await tagsOf(c, 'alice/imm'), ['dev2', 'v1']);
    expect(await call(s, 'DELETE', '/namespaces/alice/immutable-tag-rules/releases', alice), 204);
  });

  it('a kept multi-arch index keeps its untagged children and its referrer; an old index goes with its children', async () => {
    const kept = await pushIndex(c, 'alice/multi', 'old');
    clock.advance(DAY);
    const latest = await pushIndex(c, 'alice/multi', 'latest');
    const sbom = await pushReferrer(c, 'alice/multi', latest.index.digest);
    const childSbom = await pushReferrer(c, 'alice/multi', latest.children[0].digest);
    clock.advance(30 * DAY);
    await createPolicy(s, 'alice', alice, { name: 'multi', repository: 'alice/multi', rules: [{ tags: '*', keep: { latestPushed: 1 }, untagged: '0s' }] });
    const dry = await run(s, 'alice', 'multi', alice, true);
    assert.deepEqual(names(dry), ['old']);
    // 'old' loses its tag in this run and untagged 0s applies: the index and its children go, index first.
    assert.deepEqual(digests(dry), [kept.index.digest, ...kept.children.map((x) => x.digest)].sort());
    assert.equal(dry.manifests[0].digest, kept.index.digest, 'the index before its children');
    const real = await run(s, 'alice', 'multi', alice, false);
    assert.deepEqual([names(real), digests(real), real.bytes], [names(dry), digests(dry), dry.bytes]);
    assert.equal(real.bytes, kept.index.size + kept.children.reduce((n, x) => n + x.bytes, 0));
    for (const d of [latest.index.digest, ...latest.children.map((x) => x.digest), sbom.digest, childSbom.digest])
      assert.equal(await head(c, 'alice/multi', d), 200, d);
    for (const d of [kept.index.digest, ...kept.children.map((x) => x.digest)]) assert.equal(await head(c, 'alice/multi', d), 404, d);
  });

  it('untagged manifests go after the duration, not before; without untagged they stay', async () => {
    const loose = await pushImage(c, 'alice/loose');
    await pushImage(c, 'alice/loose', 'stable');
    await createPolicy(s, 'alice', alice, { name: 'loose', repository: 'alice/loose', rules: [{ tags: '*', keep: { forever: true }, untagged: '7d' }] });
    await createPolicy(s, 'alice', alice, { name: 'loose-none', repository: 'alice/loose', rules: [{ tags: '*', keep: { forever: true } }] });
    clock.advance(6 * DAY);
    assert.deepEqual(digests(await run(s, 'alice', 'loose', alice, false)), []);
    clock.advance(2 * DAY);
    assert.deepEqual(digests(await run(s, 'alice', 'loose-none', alice, false)), []);
    assert.equal(await head(c, 'alice/loose', loose.digest), 200);
    const r = await run(s, 'alice', 'loose', alice, false);
    assert.deepEqual([digests(r), r.bytes, r.kept], [[loose.digest], loose.bytes, 1]);
    assert.equal(await head(c, 'alice/loose', loose.digest), 404);
    assert.equal(await head(c, 'alice/loose', 'stable'), 200);
  });
});
