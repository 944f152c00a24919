// Immutable-tag rules as pure functions (src/registry/tag-rules.ts): which repositories and tags a
// rule matches (picomatch globs with exclusions), which patterns are refused; and the permission
// rules of tag history, restore and rule management in src/auth/policy.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  mayManageNamespaceRules,
  mayReadTagHistory,
  mayRestoreTag,
  mayViewNamespaceRules,
  type Principal,
  type RepositoryFacts,
} from '../../src/auth/policy.js';
import { invalidGlob, invalidRule, ruleMatches } from '../../src/registry/tag-rules.js';

const rule = (tags: string, extra: Partial<{ repositories: string; excludeRepositories: string[]; excludeTags: string[] }> = {}) => ({
  repositories: '**',
  excludeRepositories: [],
  excludeTags: [],
  tags,
  ...extra,
});

describe('ruleMatches', () => {
  it('matches tags by glob: *, ?, classes, alternatives; case-sensitive and anchored', () => {
    const cases: [string, string, boolean][] = [
      ['v*', 'v1.2.3', true],
      ['v*', 'latest', false],
      ['v*', 'V1', false],
      ['v?', 'v1', true],
      ['v?', 'v10', false],
      ['v[0-9]*', 'v1.0', true],
      ['v[0-9]*', 'vx', false],
      ['{latest,stable}', 'stable', true],
      ['{latest,stable}', 'latest-rc', false],
      ['*', '.hidden-like', true],
      ['release-*', 'my-release-1', false],
    ];
    for (const [glob, tag, want] of cases) assert.equal(ruleMatches(rule(glob), 'alice/app', tag), want, `${glob} ~ ${tag}`);
  });

  it('matches repositories below the namespace; * stays in one path segment, ** crosses them', () => {
    assert.equal(ruleMatches(rule('*', { repositories: 'app' }), 'alice/app', 'x'), true);
    assert.equal(ruleMatches(rule('*', { repositories: 'app' }), 'alice/app2', 'x'), false);
    assert.equal(ruleMatches(rule('*', { repositories: 'team/*' }), 'alice/team/a', 'x'), true);
    assert.equal(ruleMatches(rule('*', { repositories: 'team/*' }), 'alice/team/a/b', 'x'), false);
    assert.equal(ruleMatches(rule('*', { repositories: 'team/**' }), 'alice/team/a/b', 'x'), true);
    assert.equal(ruleMatches(rule('*', { repositories: '*' }), 'alice/team/a', 'x'), false);
    assert.equal(ruleMatches(rule('*'), 'alice/team/a/b', 'x'), true);
    // A repository named like its namespace: only "**" covers it.
    assert.equal(ruleMatches(rule('*'), 'alice', 'x'), true);
    assert.equal(ruleMatches(rule('*', { repositories: '*' }), 'alice', 'x'), false);
  });

  it('exclusions win', () => {
    const r = rule('v*', { excludeTags: ['*-dev', 'v0.*'], excludeRepositories: ['scratch/**', 'tmp'] });
    assert.equal(ruleMatches(r, 'alice/app', 'v1'), true);
    assert.equal(ruleMatches(r, 'alice/app', 'v1-dev'), false);
    assert.equal(ruleMatches(r, 'alice/app', 'v0.9'), false);
    assert.equal(ruleMatches(r, 'alice/scratch/x', 'v1'), false);
    assert.equal(ruleMatches(r, 'alice/tmp', 'v1'), false);
    assert.equal(ruleMatches(r, 'alice/tmp2', 'v1'), true);
  });
});

describe('invalidGlob and invalidRule', () => {
  it('accepts globs of tag and name characters', () => {
    for (const g of ['v*', '*', 'v[0-9]*', '{a,b}', 'release-?.*', '@(a|b)']) assert.equal(invalidGlob(g, 'tags'), null, g);
    for (const g of ['**', 'team/*', 'a/b/c', '{app,web}']) assert.equal(invalidGlob(g, 'repositories'), null, g);
  });

  it('refuses negation, other characters, unclosed brackets and overlong patterns', () => {
    for (const g of ['!v*', 'a b', 'v/1', 'v[0-9', '', 'x'.repeat(129), 'tag\u0000']) assert.ok(invalidGlob(g, 'tags'), JSON.stringify(g));
    assert.ok(invalidGlob('a b', 'repositories'));
    assert.match(invalidRule(rule('v*', { excludeTags: ['!x'] })) ?? '', /negated/);
    assert.match(invalidRule(rule('v*', { excludeTags: Array(21).fill('x') })) ?? '', /at most 20/);
    assert.equal(invalidRule(rule('v*', { excludeTags: ['*-dev'] })), null);
  });
});

describe('policy: tag history, restore, rules', () => {
  const user = (name: string, extra: Partial<Principal> = {}): Principal => ({ userId: 1, username: name, isAdmin: false, robotOrgId: null, ...extra });
  const facts = (extra: Partial<RepositoryFacts> = {}): RepositoryFacts => ({
    name: 'alice/app',
    exists: true,
    visibility: 'private',
    namespaceKind: 'user',
    orgRole: null,
    teamPermissions: [],
    collaborator: null,
    ...extra,
  });

  it('history: whoever may pull; restore: whoever may push', () => {
    assert.equal(mayReadTagHistory(user('alice'), facts()), true);
    assert.equal(mayReadTagHistory(user('bob'), facts()), false);
    assert.equal(mayReadTagHistory(null, facts({ visibility: 'public' })), true);
    assert.equal(mayRestoreTag(null, facts({ visibility: 'public' })), false);
    assert.equal(mayReadTagHistory(user('bob'), facts({ collaborator: 'read' })), true);
    assert.equal(mayRestoreTag(user('bob'), facts({ collaborator: 'read' })), false);
    assert.equal(mayRestoreTag(user('bob'), facts({ collaborator: 'write' })), true);
    assert.equal(mayRestoreTag(user('alice', { limits: { actions: ['pull'], resource: null }, accessTokenId: 3 }), facts()), false);
    assert.equal(mayRestoreTag(user('alice', { limits: { actions: ['pull', 'push'], resource: 'alice/app' }, accessTokenId: 3 }), facts()), true);
  });

  it('rules: administrators of the namespace with a password manage; members read', () => {
    assert.equal(mayManageNamespaceRules(user('alice'), 'alice', 'user', null), true);
    assert.equal(mayManageNamespaceRules(user('bob'), 'alice', 'user', null), false);
    assert.equal(mayManageNamespaceRules(user('olga'), 'acme', 'org', 'owner'), true);
    assert.equal(mayManageNamespaceRules(user('mona'), 'acme', 'org', 'member'), false);
    assert.equal(
      mayManageNamespaceRules(user('olga', { accessTokenId: 1, limits: { actions: ['pull', 'push', 'delete'], resource: null } }), 'acme', 'org', 'owner'),
      false,
    );
    assert.equal(mayManageNamespaceRules(user('root', { isAdmin: true }), 'acme', 'org', null), true);
    assert.equal(mayViewNamespaceRules(user('mona'), 'acme', 'org', 'member'), true);
    assert.equal(mayViewNamespaceRules(user('bob'), 'acme', 'org', null), false);
    assert.equal(mayViewNamespaceRules(user('acme+ci', { robotOrgId: 9 }), 'acme', 'org', null), false);
    assert.equal(mayViewNamespaceRules(user('bob'), 'nobody', null, null), false);
    assert.equal(mayViewNamespaceRules(null, 'alice', 'user', null), false);
  });
});
