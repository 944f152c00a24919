// The retention runner with fakes around it (the real database and registry are in
// test/retention/): an immutable-tag refusal met while applying (a rule made after the facts
// were read) is reported as protected and the run goes on; a deletion whose facts changed is
// left out of the result; a failing policy releases its claim and the next one still runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../src/errors/catalog.js';
import type { ImmutableTagRuleStore } from '../../src/metadata/immutable-tag-rules.js';
import type { GatheredManifest, RetentionPolicy, RetentionStore } from '../../src/metadata/retention-store.js';
import type { Origin } from '../../src/registry/events.js';
import type { Reference } from '../../src/registry/manifests.js';
import { RetentionRunner } from '../../src/retention/runner.js';

const NOW = 1_800_000_000_000;
const dg = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

function policy(id: number, name: string): RetentionPolicy {
  return {
    id,
    namespace: 'ns',
    name,
    repository: null,
    enabled: true,
    rules: [{ repositories: '**', excludeRepositories: [], tags: '*', excludeTags: [], keep: { latestPushed: 1 }, untagged: null }],
    createdBy: null,
    createdAt: 0,
    updatedAt: 0,
    lastRun: null,
  };
}

function setUp(refuse: (ref: Reference) => 'deny' | 'changed' | 'fail' | 'ok', clock: { now: () => number; renew?: () => boolean } = { now: () => NOW }) {
  const renewals: number[] = [];
  const finished: [number, string, unknown][] = [];
  const calls: { ref: Reference; origin: Origin }[] = [];
  const manifests: GatheredManifest[] = [1, 2, 3].map((n) => ({
    id: n,
    digest: dg(n),
    size: 10,
    untaggedAt: null,
    pulledAt: null,
    subject: null,
    children: [],
    blobs: [],
  }));
  const store = {
    facts: async () => [{ id: 1, name: 'ns/app', tags: manifests.map((m, i) => ({ name: `t${m.id}`, digest: m.digest, pushedAt: NOW - i })), manifests }],
    freedBytes: async () => 0,
    claim: async () => true,
    claimDue: async () => [policy(1, 'first'), policy(2, 'second')],
    finish: async (id: number, token: string, summary: unknown) => void finished.push([id, token, summary]),
    renew: async (_id: number, _token: string, now: number) => {
      renewals.push(now);
      return clock.renew?.() ?? true;
    },
    tagAt: async () => true,
    stillUntagged: async () => true,
  } as unknown as RetentionStore;
  const runner = new RetentionRunner({
    store,
    immutable: { forNamespace: async () => [] } as unknown as ImmutableTagRuleStore,
    manifests: {
      async deleteIf(_repository: string, ref: Reference, origin: Origin = { actor: null }) {
        calls.push({ ref, origin });
        const what = refuse(ref);
        if (what === 'deny') throw new RegistryError('DENIED', 'immutable', { status: 409, detail: { rule: 'late-rule', namespace: 'ns' } });
        if (what === 'fail') throw new Error('database went away');
        return what === 'changed' ? 'changed' : 'deleted';
      },
    },
    now: clock.now,
    interval: 3_600_000,
  });
  return { runner, finished, calls, renewals };
}

describe('retention runner', () => {
  it('reports an immutable-tag refusal met while deleting as protected, and goes on', async () => {
    const { runner, calls } = setUp((ref) => ('tag' in ref && ref.tag === 't2' ? 'deny' : 'tag' in ref && ref.tag === 't3' ? 'changed' : 'ok'));
    const r = await runner.run(policy(1, 'p'), false);
    assert.deepEqual(
      calls.map((c) => ('tag' in c.ref ? c.ref.tag : '')),
      ['t2', 't3'],
    );
    assert.deepEqual(calls[0].origin, { actor: 'retention', retention: { namespace: 'ns', policy: 'p' } });
    assert.deepEqual(r.protected, [{ repository: 'ns/app', tag: 't2', rule: 'late-rule' }]);
    assert.deepEqual(r.tags, [], 't3 moved meanwhile: not deleted, not listed');
  });

  it('a failing scheduled policy releases its claim; the next one still runs', async () => {
    let n = 0;
    const { runner, finished } = setUp(() => (n++ === 0 ? 'fail' : 'ok'));
    const results = await runner.runDue();
    assert.deepEqual(
      results.map((r) => [r.policy, r.tags.map((t) => t.tag)]),
      [['second', ['t2', 't3']]],
    );
    assert.deepEqual(
      finished.map(([id, , summary]) => [id, summary === null]),
      [
        [1, true],
        [2, false],
      ],
    );
  });

  it('a long run renews its claim, and stops when the claim was lost', async () => {
    // Each deletion takes 11 minutes of the clock: the 30-minute lease needs renewing.
    let now = NOW;
    const tick = { now: () => now };
    const { runner, renewals, calls } = setUp(() => {
      now += 11 * 60_000;
      return 'ok';
    }, tick);
    const r = await runner.run(policy(1, 'p'), false);
    assert.deepEqual(
      r.tags.map((t) => t.tag),
      ['t2', 't3'],
    );
    assert.deepEqual(renewals, [NOW + 11 * 60_000], 'renewed before the deletion that started 11 minutes in');
    assert.equal(calls.length, 2);

    now = NOW;
    const lost = setUp(
      () => {
        now += 11 * 60_000;
        return 'ok';
      },
      { now: () => now, renew: () => false },
    );
    await assert.rejects(lost.runner.run(policy(1, 'p'), false), /another replica took it/);
    assert.equal(lost.calls.length, 1, 'no deletion after the claim was lost');
  });
});
