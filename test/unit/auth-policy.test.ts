// The pure access rules of src/auth/policy.ts and scope parsing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseScope } from '../../src/auth/authorizer.js';
import {
  canAdministerNamespace,
  mayAdministerRepository,
  mayManageQuotas,
  mayManageReplication,
  mayReadNamespaceUsage,
  repositoryActions,
  resourceMatches,
  type Principal,
  type RepositoryFacts,
} from '../../src/auth/policy.js';

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
const acts = (p: Principal | null, f: RepositoryFacts) => [...repositoryActions(p, f)].sort();

describe('repositoryActions', () => {
  it('owners do everything in their namespace; others nothing on private repositories', () => {
    assert.deepEqual(acts(user('alice'), facts('alice/app')), ['delete', 'pull', 'push']);
    assert.deepEqual(acts(user('bob'), facts('alice/app')), []);
    assert.deepEqual(acts(null, facts('alice/app')), []);
  });

  it('public repositories are pullable by anyone, writable only by their owners', () => {
    assert.deepEqual(acts(null, facts('alice/app', { visibility: 'public' })), ['pull']);
    assert.deepEqual(acts(user('bob'), facts('alice/app', { visibility: 'public' })), ['pull']);
  });

  it('a missing repository: its namespace owner may create (and so check) it; nobody else sees anything', () => {
    assert.deepEqual(acts(user('alice'), facts('alice/new', { exists: false })), ['delete', 'pull', 'push']);
    assert.deepEqual(acts(user('bob'), facts('alice/new', { exists: false, visibility: 'public' })), []);
    assert.deepEqual(acts(user('bob'), facts('nobody/new', { exists: false, namespaceKind: null })), []);
  });

  it('organisations: owner all, member read, team permissions add up', () => {
    const org = (extra: Partial<RepositoryFacts>) => facts('acme/app', { namespaceKind: 'org', ...extra });
    assert.deepEqual(acts(user('o'), org({ orgRole: 'owner' })), ['delete', 'pull', 'push']);
    assert.deepEqual(acts(user('m'), org({ orgRole: 'member' })), ['pull']);
    assert.deepEqual(acts(user('w'), org({ orgRole: 'member', teamPermissions: ['read', 'write'] })), ['pull', 'push']);
    assert.deepEqual(acts(user('w'), org({ exists: false, teamPermissions: ['write'] })), ['pull', 'push'], 'team writers create repositories');
  });

  it('collaborators act on existing repositories only', () => {
    assert.deepEqual(acts(user('bob'), facts('alice/app', { collaborator: 'write' })), ['pull', 'push']);
    assert.deepEqual(acts(user('bob'), facts('alice/app', { collaborator: 'admin' })), ['delete', 'pull', 'push']);
    assert.deepEqual(acts(user('bob'), facts('alice/new', { exists: false, collaborator: 'admin' })), []);
  });

  it('a robot never owns a namespace of its name; admins do everything', () => {
    assert.deepEqual(acts(user('acme+ci', { robotOrgId: 3 }), facts('acme+ci/app')), []);
    assert.deepEqual(acts(user('root', { isAdmin: true }), facts('alice/app')), ['delete', 'pull', 'push']);
  });

  it('access tokens narrow the owner’s rights to their actions and resource, never below anonymous', () => {
    const limited = user('alice', { limits: { actions: ['pull'], resource: 'alice/*' } });
    assert.deepEqual(acts(limited, facts('alice/app')), ['pull']);
    assert.deepEqual(acts(user('alice', { limits: { actions: ['pull', 'push'], resource: 'alice/one' } }), facts('alice/two')), []);
    assert.deepEqual(acts(user('alice', { limits: { actions: [], resource: 'x/y' } }), facts('bob/app', { visibility: 'public' })), ['pull']);
  });
});

describe('mayAdministerRepository', () => {
  const may = (p: Principal | null, f: RepositoryFacts) => mayAdministerRepository(p, f);
  const org = (extra: Partial<RepositoryFacts> = {}) => facts('acme/app', { namespaceKind: 'org', ...extra });
  const token = (name: string, limits: Principal['limits'], extra: Partial<Principal> = {}) => user(name, { limits, accessTokenId: 7, ...extra });
  const everything = (): Principal['limits'] => ({ actions: ['pull', 'push', 'delete'], resource: null });

  it('the user whose namespace it is; nobody else without a role', () => {
    assert.ok(may(user('alice'), facts('alice/app')));
    assert.ok(may(user('alice'), facts('alice/deep/app')));
    assert.ok(!may(user('bob'), facts('alice/app')));
    assert.ok(!may(user('bob'), facts('alice/app', { visibility: 'public' })));
    assert.ok(!may(null, facts('alice/app', { visibility: 'public' })));
  });

  it('organisation owners and admin teams; members and read or write teams do not', () => {
    assert.ok(may(user('olga'), org({ orgRole: 'owner' })));
    assert.ok(may(user('tom'), org({ orgRole: 'member', teamPermissions: ['read', 'admin'] })));
    assert.ok(!may(user('mia'), org({ orgRole: 'member' })));
    assert.ok(!may(user('wes'), org({ orgRole: 'member', teamPermissions: ['write'] })));
  });

  it('collaborators with admin, in user and organisation namespaces; read and write collaborators do not', () => {
    assert.ok(may(user('bob'), facts('alice/app', { collaborator: 'admin' })));
    assert.ok(may(user('bob'), org({ collaborator: 'admin' })));
    assert.ok(!may(user('bob'), facts('alice/app', { collaborator: 'write' })));
    assert.ok(!may(user('bob'), org({ collaborator: 'read' })));
  });

  it('site administrators administer every repository', () => {
    assert.ok(may(user('root', { isAdmin: true }), facts('alice/app')));
    assert.ok(may(user('root', { isAdmin: true }), org()));
  });

  it('a robot never administers, even in an admin team or as an admin collaborator', () => {
    const robot = user('acme+ci', { robotOrgId: 3, accessTokenId: 9 });
    assert.ok(!may(robot, org({ orgRole: 'member', teamPermissions: ['admin'] })));
    assert.ok(!may(robot, org({ collaborator: 'admin' })));
    assert.ok(!may(user('acme+ci', { robotOrgId: 3 }), org({ teamPermissions: ['admin'] })), 'however it signed in');
  });

  it('an access token never administers: not within its limits, not with every action on every repository', () => {
    assert.ok(!may(token('alice', { actions: ['pull'], resource: 'alice/*' }), facts('alice/app')));
    assert.ok(!may(token('alice', { actions: ['pull', 'push', 'delete'], resource: 'alice/app' }), facts('alice/app')));
    assert.ok(!may(token('alice', everything()), facts('alice/app')));
    assert.ok(!may(token('olga', everything()), org({ orgRole: 'owner' })));
    assert.ok(!may(token('bob', everything()), facts('alice/app', { collaborator: 'admin' })));
    // An administrator's token carries no administrator rights (accounts.ts principalOf).
    assert.ok(!may(token('root', everything()), facts('alice/app')));
  });

  it('nothing to administer before the repository exists', () => {
    assert.ok(!may(user('alice'), facts('alice/new', { exists: false })));
    assert.ok(!may(user('root', { isAdmin: true }), facts('alice/new', { exists: false })));
  });
});

describe('helpers', () => {
  it('resourceMatches: null, namespace wildcards and exact names', () => {
    assert.ok(resourceMatches(null, 'a/b'));
    assert.ok(resourceMatches('a/*', 'a/b/c'));
    assert.ok(!resourceMatches('a/*', 'ab/c'));
    assert.ok(resourceMatches('a/b', 'a/b'));
    assert.ok(!resourceMatches('a/b', 'a/bc'));
  });

  it('canAdministerNamespace: own user namespace, org owners, admins; never through an access token', () => {
    assert.ok(canAdministerNamespace(user('alice'), 'alice', 'user', null));
    assert.ok(!canAdministerNamespace(user('bob'), 'alice', 'user', null));
    assert.ok(canAdministerNamespace(user('bob'), 'acme', 'org', 'owner'));
    assert.ok(!canAdministerNamespace(user('bob'), 'acme', 'org', 'member'));
    assert.ok(!canAdministerNamespace(user('alice', { limits: { actions: ['pull', 'push', 'delete'], resource: null } }), 'alice', 'user', null));
    assert.ok(!canAdministerNamespace(null, 'alice', 'user', null));
  });

  it('mayManageQuotas: administrators with a password only', () => {
    assert.ok(mayManageQuotas(user('root', { isAdmin: true })));
    assert.ok(!mayManageQuotas(user('alice')));
    assert.ok(!mayManageQuotas(user('root', { isAdmin: true, accessTokenId: 7, limits: { actions: ['pull', 'push', 'delete'], resource: null } })));
    assert.ok(!mayManageQuotas(null));
  });

  it('mayManageReplication: administrators with a password only; not access tokens, robots, namespace owners or anonymous callers', () => {
    assert.ok(mayManageReplication(user('root', { isAdmin: true })));
    assert.ok(!mayManageReplication(user('alice')));
    assert.ok(!mayManageReplication(user('root', { isAdmin: true, accessTokenId: 7, limits: { actions: ['pull', 'push', 'delete'], resource: null } })));
    assert.ok(!mayManageReplication(user('root', { isAdmin: true, accessTokenId: 7 })));
    assert.ok(!mayManageReplication(user('bot', { isAdmin: true, robotOrgId: 3 })));
    assert.ok(!mayManageReplication(null));
  });

  it("mayReadNamespaceUsage: the namespace's user, its organisation's members, administrators; not robots, outsiders or tokens for other namespaces", () => {
    assert.ok(mayReadNamespaceUsage(user('alice'), 'alice', 'user', null));
    assert.ok(!mayReadNamespaceUsage(user('bob'), 'alice', 'user', null));
    assert.ok(mayReadNamespaceUsage(user('bob'), 'acme', 'org', 'member'));
    assert.ok(mayReadNamespaceUsage(user('bob'), 'acme', 'org', 'owner'));
    assert.ok(!mayReadNamespaceUsage(user('bob'), 'acme', 'org', null));
    assert.ok(mayReadNamespaceUsage(user('root', { isAdmin: true }), 'anyone', null, null));
    assert.ok(!mayReadNamespaceUsage(user('acme+ci', { robotOrgId: 3 }), 'acme', 'org', 'member'));
    assert.ok(!mayReadNamespaceUsage(null, 'alice', 'user', null));
    const token = (resource: string | null) => user('alice', { accessTokenId: 1, limits: { actions: ['pull'], resource } });
    assert.ok(mayReadNamespaceUsage(token(null), 'alice', 'user', null));
    assert.ok(mayReadNamespaceUsage(token('alice/*'), 'alice', 'user', null));
    assert.ok(!mayReadNamespaceUsage(token('other/app'), 'alice', 'user', null));
  });

  it('parseScope: repository scopes with slashes, resource classes, the catalog, junk', () => {
    assert.deepEqual(parseScope('repository:a/b/c:pull,push'), { type: 'repository', name: 'a/b/c', actions: ['pull', 'push'] });
    assert.deepEqual(parseScope('repository(plugin):a/b:pull'), { type: 'repository', name: 'a/b', actions: ['pull'] });
    assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
    assert.equal(parseScope('junk'), null);
    assert.equal(parseScope('repository::pull'), null);
  });
});
