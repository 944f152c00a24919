// Retention policies through /api/v1/namespaces/{ns}/retention-policies: create, read, replace
// (renaming), delete, with the contract's JSON shapes; bad input answers 400 and changes nothing;
// namespace administrators manage and run for real, members read and dry-run, strangers get 404,
// access tokens and robots 403 on anything that changes or deletes.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ADMIN, addUser, call, expect } from '../api-v1/helpers.js';
import { TestClock, createPolicy, policies, retentionServer } from './helpers.js';

const clock = new TestClock();
const s = retentionServer(clock);
type User = { user: string; password: string };
let alice: User, bob: User, olga: User, mona: User;

const example = {
  name: 'nightly',
  rules: [
    {
      repositories: '**',
      excludeRepositories: [],
      tags: '*',
      excludeTags: [],
      keep: { latestPushed: 10, latestPulled: 5, pushedWithin: '30d', pulledWithin: '14d', forever: false },
      untagged: '7d',
    },
  ],
};

describe('retention policies: REST API', () => {
  before(async () => {
    alice = await addUser(s, 'alice');
    bob = await addUser(s, 'bob');
    olga = await addUser(s, 'olga');
    mona = await addUser(s, 'mona');
    expect(await call(s, 'POST', '/orgs', olga, { name: 'acme' }), 201);
    expect(await call(s, 'PUT', '/orgs/acme/members/mona', olga, { role: 'member' }), 200);
  });

  it('creates, reads, lists, replaces (renaming) and deletes a policy in the contract shape', async () => {
    const at = clock.now();
    const p = await createPolicy(s, 'alice', alice, example);
    assert.deepEqual(
      { ...p, createdAt: 0, updatedAt: 0 },
      { ...example, namespace: 'alice', repository: null, enabled: true, createdBy: 'alice', createdAt: 0, updatedAt: 0, lastRun: null },
    );
    assert.ok(Math.abs(Date.parse(p.createdAt) - at) < 5000, `createdAt ${p.createdAt} is ISO 8601 of the app clock`);
    assert.deepEqual(expect(await call(s, 'GET', `${policies('alice')}/nightly`, alice), 200).body, p);
    // Defaults: every repository, no exclusions, untagged left alone.
    const minimal = await createPolicy(s, 'alice', alice, {
      name: 'min',
      repository: 'alice/app',
      enabled: false,
      rules: [{ tags: 'v*', keep: { forever: true } }],
    });
    assert.deepEqual(minimal.rules, [{ repositories: '**', excludeRepositories: [], tags: 'v*', excludeTags: [], keep: { forever: true }, untagged: null }]);
    assert.equal(minimal.repository, 'alice/app');
    assert.equal(minimal.enabled, false);
    assert.deepEqual(
      expect(await call(s, 'GET', policies('alice'), alice), 200).body.policies.map((x: { name: string }) => x.name),
      ['min', 'nightly'],
    );

    clock.advance(60_000);
    const put = expect(
      await call(s, 'PUT', `${policies('alice')}/min`, alice, { name: 'renamed', rules: [{ tags: '*', keep: { latestPushed: 3 } }] }),
      200,
    ).body;
    assert.equal(put.name, 'renamed');
    assert.equal(put.repository, null, 'PUT replaces: an absent repository means all');
    assert.equal(put.enabled, true);
    assert.equal(put.createdAt, minimal.createdAt);
    assert.ok(Date.parse(put.updatedAt) > Date.parse(minimal.updatedAt));
    expect(await call(s, 'GET', `${policies('alice')}/min`, alice), 404, 'NOT_FOUND');
    expect(await call(s, 'PUT', `${policies('alice')}/renamed`, alice, { ...example }), 409, 'CONFLICT');
    expect(await call(s, 'POST', policies('alice'), alice, { ...example }), 409, 'CONFLICT');
    expect(await call(s, 'DELETE', `${policies('alice')}/renamed`, alice), 204);
    expect(await call(s, 'DELETE', `${policies('alice')}/renamed`, alice), 404, 'NOT_FOUND');
    expect(await call(s, 'PUT', `${policies('alice')}/renamed`, alice, example), 404, 'NOT_FOUND');
    const audit = expect(await call(s, 'GET', '/audit?n=50', ADMIN), 200).body.entries.map((e: { action: string }) => e.action);
    for (const a of ['retention-policy.create', 'retention-policy.update', 'retention-policy.delete']) assert.ok(audit.includes(a), a);
  });

  it('refuses bad input with 400 and a message that names the problem; nothing is stored', async () => {
    const rule = example.rules[0];
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ...example, name: 'bad name' }, /name/],
      [{ ...example, name: 'x'.repeat(65) }, /name/],
      [{ ...example, rules: [] }, /rules/],
      [{ ...example, rules: Array(21).fill(rule) }, /rules/],
      [{ ...example, rules: [{ ...rule, keep: {} }] }, /rules\[0\]\.keep: name at least one/],
      [{ ...example, rules: [{ ...rule, keep: { forever: false } }] }, /at least one/],
      [{ ...example, rules: [{ ...rule, keep: { pushedWithin: 'a month' } }] }, /pushedWithin: expected a duration/],
      [{ ...example, rules: [{ ...rule, untagged: '7 days' }] }, /untagged/],
      [{ ...example, rules: [{ ...rule, keep: { latestPushed: 0 } }] }, /latestPushed/],
      [{ ...example, rules: [{ ...rule, tags: '!v*' }] }, /negated/],
      [{ ...example, rules: [{ ...rule, repositories: 'a b' }] }, /repositories pattern/],
      [{ ...example, rules: [{ ...rule, keep: { latestPushed: 1, newest: 3 } }] }, /newest/],
      [{ ...example, rules: [{ keep: { forever: true } }] }, /tags/],
      [{ ...example, repository: 'bob/app' }, /not a repository name in namespace alice/],
      [{ ...example, repository: 'alice/BAD' }, /not a repository name/],
      [{ ...example, extra: 1 }, /extra|additional/],
    ];
    for (const [body, why] of bad) {
      const r = expect(await call(s, 'POST', policies('alice'), alice, body), 400, 'INVALID', JSON.stringify(body).slice(0, 200));
      assert.match(r.body.errors[0].message, why, JSON.stringify(body).slice(0, 200));
    }
    expect(await call(s, 'POST', `${policies('alice')}/nightly/run`, alice, {}), 400, 'INVALID');
    const names = expect(await call(s, 'GET', policies('alice'), alice), 200).body.policies.map((x: { name: string }) => x.name);
    assert.deepEqual(names, ['nightly']);
    // A bad replacement leaves the policy as it was.
    const before = expect(await call(s, 'GET', `${policies('alice')}/nightly`, alice), 200).body;
    expect(await call(s, 'PUT', `${policies('alice')}/nightly`, alice, { ...example, rules: [{ ...rule, untagged: 'soon' }] }), 400, 'INVALID');
    assert.deepEqual(expect(await call(s, 'GET', `${policies('alice')}/nightly`, alice), 200).body, before);
  });

  it('administrators manage and run for real, members read and dry-run, strangers get 404, tokens and robots 403', async () => {
    await createPolicy(s, 'acme', olga, example);
    const path = `${policies('acme')}/nightly`;
    // A member reads and dry-runs, but may not change or run for real.
    assert.equal(expect(await call(s, 'GET', policies('acme'), mona), 200).body.policies.length, 1);
    expect(await call(s, 'GET', path, mona), 200);
    assert.equal(expect(await call(s, 'POST', `${path}/run`, mona, { dryRun: true }), 200).body.dryRun, true);
    expect(await call(s, 'POST', `${path}/run`, mona, { dryRun: false }), 403, 'DENIED');
    expect(await call(s, 'POST', policies('acme'), mona, { ...example, name: 'x' }), 403, 'DENIED');
    expect(await call(s, 'PUT', path, mona, example), 403, 'DENIED');
    expect(await call(s, 'DELETE', path, mona), 403, 'DENIED');
    // A stranger is told what a missing namespace tells.
    const missing = expect(await call(s, 'GET', policies('no-such-namespace'), bob), 404, 'NOT_FOUND');
    assert.deepEqual(expect(await call(s, 'GET', policies('acme'), bob), 404, 'NOT_FOUND').body, missing.body);
    for (const [method, p, body] of [
      ['GET', path, undefined],
      ['POST', policies('acme'), { ...example, name: 'x' }],
      ['PUT', path, example],
      ['DELETE', path, undefined],
      ['POST', `${path}/run`, { dryRun: true }],
      ['POST', `${path}/run`, { dryRun: false }],
    ] as const) {
      expect(await call(s, method, p, bob, body), 404, 'NOT_FOUND', `${method} ${p}`);
    }
    expect(await call(s, 'GET', policies('alice'), bob), 404, 'NOT_FOUND');
    expect(await call(s, 'GET', policies('acme'), null), 401, 'UNAUTHORIZED');
    expect(await call(s, 'GET', policies('acme'), ADMIN), 200);
    // An access token, however wide, and a robot's secret neither change policies nor run them for real.
    const t = expect(await call(s, 'POST', '/user/tokens', olga, { name: 'all', scopes: ['pull', 'push', 'delete'] }), 201).body.secret;
    const robot = { user: 'acme+ci', password: expect(await call(s, 'POST', '/orgs/acme/robots', olga, { name: 'ci' }), 201).body.secret as string };
    for (const who of [{ bearer: t }, robot]) {
      expect(await call(s, 'POST', `${path}/run`, who, { dryRun: false }), 403, 'DENIED');
      expect(await call(s, 'PUT', path, who, example), 403, 'DENIED');
      expect(await call(s, 'DELETE', path, who), 403, 'DENIED');
      expect(await call(s, 'POST', policies('acme'), who, { ...example, name: 'x' }), 403, 'DENIED');
    }
    assert.equal(expect(await call(s, 'GET', path, { bearer: t }), 200).body.name, 'nightly', 'a token reads');
    expect(await call(s, 'PUT', path, olga, { ...example, enabled: false }), 200);
    expect(await call(s, 'POST', `${path}/run`, olga, { dryRun: false }), 200);
    expect(await call(s, 'DELETE', path, ADMIN), 204);
  });
});
