// The retention evaluator (src/retention/evaluate.ts): facts in, decisions out. Every keep
// criterion, keep wins, exclusions, immutable tags, signature tags of kept subjects, untagged
// durations, and the closure of children and referrers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ImmutableTagRule } from '../../src/metadata/immutable-tag-rules.js';
import { evaluateRepository, signatureSubject, type ManifestFact, type RepositoryFacts, type TagFact } from '../../src/retention/evaluate.js';
import { invalidRetentionRules, normaliseRule, parseRule, type RetentionRule } from '../../src/retention/rules.js';

const NOW = 1_800_000_000_000;
const DAY = 86_400_000;
const hex = (n: number) => n.toString(16).padStart(64, '0');
const dg = (n: number) => `sha256:${hex(n)}`;

function manifest(n: number, over: Partial<ManifestFact> = {}): ManifestFact {
  return { digest: dg(n), size: 100 + n, untaggedAt: null, pulledAt: null, subject: null, children: [], ...over };
}

/** Tags t1…tN on manifests 1…N, tK pushed K days ago (t1 newest). */
function repoOf(n: number, name = 'ns/app'): RepositoryFacts {
  const tags: TagFact[] = [];
  const manifests: ManifestFact[] = [];
  for (let i = 1; i <= n; i++) {
    tags.push({ name: `t${i}`, digest: dg(i), pushedAt: NOW - i * DAY });
    manifests.push(manifest(i));
  }
  return { name, tags, manifests };
}

const rule = (r: Partial<RetentionRule> & Pick<RetentionRule, 'keep'>) => parseRule(normaliseRule({ tags: '*', ...r }));
const deletedTags = (p: ReturnType<typeof evaluateRepository>) => p.tags.map((t) => t.tag).sort();
const deletedManifests = (p: ReturnType<typeof evaluateRepository>) => p.manifests.map((m) => m.digest);

describe('retention evaluation: keep criteria', () => {
  it('latestPushed keeps the N newest pushes and deletes the other selected tags', () => {
    const p = evaluateRepository(repoOf(5), [rule({ keep: { latestPushed: 2 } })], [], NOW);
    assert.deepEqual(deletedTags(p), ['t3', 't4', 't5']);
    assert.equal(p.kept, 2);
    assert.deepEqual(
      p.tags.find((t) => t.tag === 't3'),
      { tag: 't3', digest: dg(3), pushedAt: NOW - 3 * DAY, pulledAt: null },
    );
  });

  it('latestPulled keeps the N most recently pulled; never pulled ranks oldest', () => {
    const repo = repoOf(4);
    repo.manifests[3].pulledAt = NOW - 1000; // t4, the oldest push, pulled last
    repo.manifests[2].pulledAt = NOW - 5000; // t3
    const p = evaluateRepository(repo, [rule({ keep: { latestPulled: 2 } })], [], NOW);
    assert.deepEqual(deletedTags(p), ['t1', 't2']);
    // Fewer pulled than N: never-pulled fill up by push time.
    const q = evaluateRepository(repo, [rule({ keep: { latestPulled: 3 } })], [], NOW);
    assert.deepEqual(deletedTags(q), ['t2']);
  });

  it('pushedWithin and pulledWithin keep what is newer than now − duration', () => {
    const repo = repoOf(5);
    repo.manifests[4].pulledAt = NOW - DAY; // t5 pulled yesterday
    assert.deepEqual(deletedTags(evaluateRepository(repo, [rule({ keep: { pushedWithin: '2d12h' } })], [], NOW)), ['t3', 't4', 't5']);
    assert.deepEqual(deletedTags(evaluateRepository(repo, [rule({ keep: { pulledWithin: '2d' } })], [], NOW)), ['t1', 't2', 't3', 't4']);
    // Both: either keeps.
    assert.deepEqual(deletedTags(evaluateRepository(repo, [rule({ keep: { pushedWithin: '2d12h', pulledWithin: '2d' } })], [], NOW)), ['t3', 't4']);
  });

  it('forever keeps every selected tag; tags no rule selects are never touched', () => {
    const repo = repoOf(3);
    repo.tags.push({ name: 'release-1', digest: dg(1), pushedAt: NOW - 100 * DAY });
    const p = evaluateRepository(repo, [rule({ tags: 'release-*', keep: { forever: true } }), rule({ tags: 't*', keep: { latestPushed: 1 } })], [], NOW);
    assert.deepEqual(deletedTags(p), ['t2', 't3']);
    assert.equal(p.kept, 2);
  });

  it('keep wins: a tag one rule would delete and another keeps stays', () => {
    const p = evaluateRepository(repoOf(4), [rule({ keep: { latestPushed: 1 } }), rule({ tags: 't3', keep: { forever: true } })], [], NOW);
    assert.deepEqual(deletedTags(p), ['t2', 't4']);
  });

  it('tag and repository exclusions leave tags and repositories out', () => {
    const p = evaluateRepository(repoOf(4), [rule({ excludeTags: ['t4'], keep: { latestPushed: 1 } })], [], NOW);
    assert.deepEqual(deletedTags(p), ['t2', 't3']);
    const other = evaluateRepository(repoOf(4, 'ns/tools/x'), [rule({ excludeRepositories: ['tools/**'], keep: { latestPushed: 1 } })], [], NOW);
    assert.deepEqual(deletedTags(other), []);
    const byGlob = evaluateRepository(repoOf(4, 'ns/tools/x'), [rule({ repositories: 'app', keep: { latestPushed: 1 } })], [], NOW);
    assert.deepEqual(deletedTags(byGlob), []);
  });

  it('latestPushed counts per rule among the tags that rule selects', () => {
    const repo = repoOf(4);
    const p = evaluateRepository(repo, [rule({ tags: '{t1,t2}', keep: { latestPushed: 1 } }), rule({ tags: '{t3,t4}', keep: { latestPushed: 1 } })], [], NOW);
    assert.deepEqual(deletedTags(p), ['t2', 't4']);
  });
});

describe('retention evaluation: what is never deleted', () => {
  const immutable: ImmutableTagRule[] = [
    {
      id: 1,
      namespace: 'ns',
      name: 'releases',
      repositories: '**',
      tags: 't3',
      excludeRepositories: [],
      excludeTags: [],
      createdBy: null,
      createdAt: 0,
      updatedAt: 0,
    },
  ];

  it('immutable tags are reported as protected with the rule, not deleted', () => {
    const p = evaluateRepository(repoOf(4), [rule({ keep: { latestPushed: 1 } })], immutable, NOW);
    assert.deepEqual(deletedTags(p), ['t2', 't4']);
    assert.deepEqual(p.protected, [{ tag: 't3', rule: 'releases' }]);
    assert.equal(p.kept, 2);
  });

  it('cosign-style signature tags stay while their subject stays in the repository', () => {
    const repo = repoOf(2);
    repo.manifests.push(manifest(50), manifest(51));
    repo.tags.push({ name: `sha256-${hex(1)}.sig`, digest: dg(50), pushedAt: NOW - 30 * DAY });
    repo.tags.push({ name: `sha256-${hex(99)}.att`, digest: dg(51), pushedAt: NOW - 30 * DAY }); // subject not here
    assert.equal(signatureSubject(`sha256-${hex(1)}.sbom`), dg(1));
    assert.equal(signatureSubject('sha256-abc.sig'), null);
    const p = evaluateRepository(repo, [rule({ keep: { latestPushed: 1 } })], [], NOW);
    assert.deepEqual(deletedTags(p), [`sha256-${hex(99)}.att`, 't2']);
  });

  it('a signature tag goes when its subject goes as untagged in the same run', () => {
    const repo: RepositoryFacts = {
      name: 'ns/app',
      tags: [{ name: `sha256-${hex(1)}.sig`, digest: dg(50), pushedAt: NOW - 30 * DAY }],
      manifests: [manifest(1, { untaggedAt: NOW - 10 * DAY }), manifest(50)],
    };
    const p = evaluateRepository(
      repo,
      [rule({ tags: 'nothing', keep: { latestPushed: 1 }, untagged: '0s' }), rule({ tags: 'sha256-*', keep: { pushedWithin: '1d' } })],
      [],
      NOW,
    );
    assert.deepEqual(deletedTags(p), [`sha256-${hex(1)}.sig`]);
    // The subject is old enough; the signature manifest lost its tag now and 0s applies.
    assert.deepEqual(deletedManifests(p).sort(), [dg(1), dg(50)]);
  });
});

describe('retention evaluation: untagged manifests', () => {
  it('go after the shortest untagged duration of the covering rules, not before', () => {
    const repo = repoOf(1);
    repo.manifests.push(manifest(10, { untaggedAt: NOW - 8 * DAY }), manifest(11, { untaggedAt: NOW - 2 * DAY }));
    const p = evaluateRepository(repo, [rule({ keep: { forever: true }, untagged: '7d' }), rule({ keep: { forever: true }, untagged: '30d' })], [], NOW);
    assert.deepEqual(deletedManifests(p), [dg(10)]);
    assert.equal(p.untaggedMs, 7 * DAY);
    // Without `untagged`, untagged manifests are left alone.
    assert.deepEqual(deletedManifests(evaluateRepository(repo, [rule({ keep: { forever: true } })], [], NOW)), []);
  });

  it('a manifest whose last tag goes in this run counts as untagged from now', () => {
    const p = evaluateRepository(repoOf(2), [rule({ keep: { latestPushed: 1 }, untagged: '1h' })], [], NOW);
    assert.deepEqual(deletedTags(p), ['t2']);
    assert.deepEqual(deletedManifests(p), []);
    const q = evaluateRepository(repoOf(2), [rule({ keep: { latestPushed: 1 }, untagged: '0s' })], [], NOW);
    assert.deepEqual(deletedManifests(q), [dg(2)]);
  });

  it('children of a kept index and referrers of a kept subject stay, however long untagged', () => {
    const repo = repoOf(1);
    const old = NOW - 100 * DAY;
    repo.manifests[0].children = [dg(20), dg(21)];
    repo.manifests.push(manifest(20, { untaggedAt: old }), manifest(21, { untaggedAt: old }));
    repo.manifests.push(manifest(30, { untaggedAt: old, subject: dg(1) })); // a signature of the kept index
    repo.manifests.push(manifest(31, { untaggedAt: old, subject: dg(20) })); // an SBOM of a kept child
    repo.manifests.push(manifest(40, { untaggedAt: old })); // unrelated
    const p = evaluateRepository(repo, [rule({ keep: { forever: true }, untagged: '1d' })], [], NOW);
    assert.deepEqual(deletedManifests(p), [dg(40)]);
  });

  it('an old untagged index goes with its old children in the same run, index first', () => {
    const old = NOW - 100 * DAY;
    const repo: RepositoryFacts = {
      name: 'ns/app',
      tags: [{ name: 'keep', digest: dg(5), pushedAt: NOW }],
      manifests: [
        manifest(1, { untaggedAt: old, children: [dg(2), dg(3)] }),
        manifest(2, { untaggedAt: old }),
        manifest(3, { untaggedAt: old }),
        manifest(4, { untaggedAt: old, subject: dg(2) }),
        manifest(5, { children: [dg(3)] }), // a kept index lists child 3 too
      ],
    };
    const p = evaluateRepository(repo, [rule({ keep: { forever: true }, untagged: '7d' })], [], NOW);
    assert.deepEqual(deletedManifests(p).sort(), [dg(1), dg(2), dg(4)].sort());
    assert.equal(deletedManifests(p)[0], dg(1), 'the index before its children');
    assert.ok(deletedManifests(p).indexOf(dg(2)) < deletedManifests(p).indexOf(dg(4)), 'the subject before its referrer');
    // A young index keeps its old children.
    repo.manifests[0].untaggedAt = NOW - DAY;
    assert.deepEqual(deletedManifests(evaluateRepository(repo, [rule({ keep: { forever: true }, untagged: '7d' })], [], NOW)), []);
  });
});

describe('retention rules: validation', () => {
  const ok: RetentionRule = normaliseRule({ tags: '*', keep: { latestPushed: 10, pushedWithin: '30d' }, untagged: '7d' });

  it('accepts the contract example and rejects bad input with a message naming the field', () => {
    assert.equal(invalidRetentionRules([ok]), null);
    assert.match(invalidRetentionRules([])!, /1 to 20 rules/);
    assert.match(invalidRetentionRules(Array(21).fill(ok))!, /1 to 20 rules/);
    assert.match(invalidRetentionRules([{ ...ok, keep: {} }])!, /rules\[0\]\.keep: name at least one/);
    assert.match(invalidRetentionRules([{ ...ok, keep: { forever: false } }])!, /at least one/);
    assert.match(invalidRetentionRules([ok, { ...ok, keep: { pushedWithin: 'soon' } }])!, /rules\[1\]\.keep\.pushedWithin: expected a duration/);
    assert.match(invalidRetentionRules([{ ...ok, keep: { latestPulled: 0 } }])!, /latestPulled: a whole number/);
    assert.match(invalidRetentionRules([{ ...ok, untagged: '7 days' }])!, /rules\[0\]\.untagged/);
    assert.match(invalidRetentionRules([{ ...ok, tags: '!v*' }])!, /rules\[0\]: .*cannot be negated/);
    assert.match(invalidRetentionRules([{ ...ok, excludeRepositories: ['a b'] }])!, /rules\[0\]: /);
  });
});
