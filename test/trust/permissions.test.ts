// The trust permission rules of src/auth/policy.ts, as pure functions: the registry-wide policy is
// for administrators signed in with a password; a repository's for its administrators (never an
// access token or a robot); reading a repository's policy and signatures for whoever may pull it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mayManageRegistryTrust, mayManageRepositoryTrust, mayReadRepositoryTrust, type Principal, type RepositoryFacts } from '../../src/auth/policy.js';

const user = (name: string, extra: Partial<Principal> = {}): Principal => ({ userId: 1, username: name, isAdmin: false, robotOrgId: null, ...extra });
const facts = (name: string, extra: Partial<RepositoryFacts> = {}): RepositoryFacts => ({
  name,
  exists: true,
  visibility: 'private',
  namespaceKind: 'user',
  orgRole: null,
  teamPermissions: [],
  collaborator: null,
  ...extra,
});
const token = { accessTokenId: 7, limits: { actions: ['pull', 'push', 'delete'] as ('pull' | 'push' | 'delete')[], resource: null } };

describe('trust permissions (policy.ts)', () => {
  it('mayManageRegistryTrust: administrators with a password; not tokens, robots, other users or anonymous callers', () => {
    assert.ok(mayManageRegistryTrust(user('root', { isAdmin: true })));
    assert.ok(!mayManageRegistryTrust(user('root', { isAdmin: true, ...token })));
    assert.ok(!mayManageRegistryTrust(user('bot', { isAdmin: true, robotOrgId: 3 })));
    assert.ok(!mayManageRegistryTrust(user('alice')));
    assert.ok(!mayManageRegistryTrust(null));
  });

  it('mayManageRepositoryTrust: the repository administrators, signed in with a password', () => {
    assert.ok(mayManageRepositoryTrust(user('alice'), facts('alice/app')));
    assert.ok(!mayManageRepositoryTrust(user('alice', token), facts('alice/app')));
    assert.ok(!mayManageRepositoryTrust(user('bob'), facts('alice/app', { visibility: 'public' })));
    assert.ok(!mayManageRepositoryTrust(user('bob'), facts('alice/app', { collaborator: 'write' })));
    assert.ok(mayManageRepositoryTrust(user('bob'), facts('alice/app', { collaborator: 'admin' })));
    assert.ok(mayManageRepositoryTrust(user('olga'), facts('acme/app', { namespaceKind: 'org', orgRole: 'owner' })));
    assert.ok(!mayManageRepositoryTrust(user('mona'), facts('acme/app', { namespaceKind: 'org', orgRole: 'member' })));
  });

  it('mayReadRepositoryTrust: whoever may pull (anonymous callers on public repositories, tokens with pull)', () => {
    assert.ok(mayReadRepositoryTrust(null, facts('alice/app', { visibility: 'public' })));
    assert.ok(!mayReadRepositoryTrust(null, facts('alice/app')));
    assert.ok(mayReadRepositoryTrust(user('alice', token), facts('alice/app')));
    assert.ok(!mayReadRepositoryTrust(user('bob'), facts('alice/app')));
    assert.ok(mayReadRepositoryTrust(user('bob'), facts('alice/app', { collaborator: 'read' })));
  });
});
