// Replication's pure policy rules: which repositories and tags a filter selects (globs over full
// names, less exclusions), and how local names map to the remote's under a prefix.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { localName, remoteName, repositoryWanted, tagWanted, withDefaults } from '../../src/replication/policy-fields.js';

describe('replication policy fields', () => {
  const f = { repositories: ['team/**', 'library/alpine'], tags: ['v*', 'latest'], excludeRepositories: ['team/scratch/**'], excludeTags: ['*-rc*'] };

  it('repositories: globs over full names, "**" across "/", less the exclusions', () => {
    assert.ok(repositoryWanted(f, 'team/app'));
    assert.ok(repositoryWanted(f, 'team/a/b/c'));
    assert.ok(repositoryWanted(f, 'library/alpine'));
    assert.ok(!repositoryWanted(f, 'library/alpine2'));
    assert.ok(!repositoryWanted(f, 'team/scratch/x'));
    assert.ok(!repositoryWanted(f, 'other/app'));
    assert.ok(repositoryWanted(withDefaults({ name: 'x', direction: 'push', remoteUrl: 'https://r' }), 'any/deep/name'));
  });

  it('tags: globs less the exclusions', () => {
    assert.ok(tagWanted(f, 'v1.2'));
    assert.ok(tagWanted(f, 'latest'));
    assert.ok(!tagWanted(f, 'v2.0-rc1'));
    assert.ok(!tagWanted(f, 'dev'));
  });

  it('names under a remote prefix, both ways', () => {
    assert.equal(remoteName('', 'team/app'), 'team/app');
    assert.equal(remoteName('dr/site1', 'team/app'), 'dr/site1/team/app');
    assert.equal(localName('', 'team/app'), 'team/app');
    assert.equal(localName('library', 'library/alpine'), 'alpine');
    assert.equal(localName('library', 'libraryx/alpine'), null);
    assert.equal(localName('library', 'library'), null);
  });
});
