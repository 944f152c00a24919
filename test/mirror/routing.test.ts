// The mirror's configuration and routing (src/mirror/routing.ts), and the read-only rule for
// mirrored names in the permission policy (src/auth/policy.ts): pure functions, no server.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { repositoryActions, type Principal, type RepositoryFacts } from '../../src/auth/policy.js';
import { ConfigError, defaultConfig, loadConfig, type BerthConfig, type DeepPartial } from '../../src/config/index.js';
import { mirrorLookup, mirrorTarget, route, routingTable } from '../../src/mirror/routing.js';

const HOUR = 3_600_000;

function table(over: DeepPartial<BerthConfig>) {
  return routingTable(defaultConfig(over));
}

const many = table({
  mirror: {
    upstreams: {
      hub: { url: 'https://registry-1.docker.io', default: true },
      ghcr: { url: 'https://ghcr.io' },
      central: { url: 'http://central.example:5000', hosts: ['registry.example.com'] },
    },
  },
});

describe('mirror configuration', () => {
  it('mirror.upstreams: defaults, hosts from the URL (docker.io for Docker Hub), durations', () => {
    const hub = many.upstreams.find((u) => u.name === 'hub')!;
    assert.deepEqual(hub.hosts.sort(), ['docker.io', 'index.docker.io', 'registry-1.docker.io']);
    assert.equal(hub.default, true);
    assert.equal(hub.prefixed, true);
    assert.equal(hub.tagTtl, 5 * 60_000);
    assert.equal(hub.maxStale, 168 * HOUR);
    assert.equal(hub.timeout, 30_000);
    assert.deepEqual(many.upstreams.find((u) => u.name === 'ghcr')!.hosts, ['ghcr.io']);
    assert.deepEqual(many.upstreams.find((u) => u.name === 'central')!.hosts, ['registry.example.com']);
    assert.equal(many.proxyAll, false);
    assert.deepEqual(table({}).upstreams, []);
  });

  it('registry:2 proxy.* from REGISTRY_PROXY_* variables: one unprefixed default upstream for every name', () => {
    const c = loadConfig({
      env: { REGISTRY_PROXY_REMOTEURL: 'http://127.0.0.1:5001', REGISTRY_PROXY_USERNAME: 'bob', REGISTRY_PROXY_PASSWORD: 's3cret', REGISTRY_PROXY_TTL: '24h' },
    });
    assert.deepEqual(c.proxy, {
      remoteurl: 'http://127.0.0.1:5001',
      username: 'bob',
      password: 's3cret',
      ttl: 24 * HOUR,
      tagttl: 5 * 60_000,
      maxstale: 168 * HOUR,
    });
    const t = routingTable(c);
    assert.equal(t.proxyAll, true);
    assert.deepEqual(
      t.upstreams.map((u) => [u.name, u.url, u.prefixed, u.default, u.username]),
      [['proxy', 'http://127.0.0.1:5001', false, true, 'bob']],
    );
    assert.equal(loadConfig({ env: {} }).proxy, undefined);
  });

  it('mirror.upstreams from REGISTRY_MIRROR_UPSTREAMS_<NAME>_<KEY> variables, lists as comma-separated values', () => {
    const c = loadConfig({
      env: {
        REGISTRY_MIRROR_UPSTREAMS_HUB_URL: 'https://registry-1.docker.io',
        REGISTRY_MIRROR_UPSTREAMS_HUB_DEFAULT: 'true',
        REGISTRY_MIRROR_UPSTREAMS_HUB_TAGTTL: '10m',
        REGISTRY_MIRROR_UPSTREAMS_QUAY_URL: 'https://quay.io',
        REGISTRY_MIRROR_UPSTREAMS_QUAY_HOSTS: 'quay.io, quay.example.com',
        REGISTRY_MIRROR_LOCAL: 'team,infra',
        REGISTRY_MIRROR_BUDGET: '50GiB',
      },
    });
    assert.equal(c.mirror.upstreams.hub.tagttl, 10 * 60_000);
    assert.equal(c.mirror.upstreams.hub.default, true);
    assert.deepEqual(c.mirror.upstreams.quay.hosts, ['quay.io', 'quay.example.com']);
    assert.deepEqual(c.mirror.local, ['team', 'infra']);
    assert.equal(c.mirror.budget, 50 * 1024 ** 3);
  });

  it('refuses URLs with credentials or paths, two default upstreams, a default beside proxy.remoteurl, and bad names', () => {
    const bad: [NodeJS.ProcessEnv, RegExp][] = [
      [{ REGISTRY_PROXY_REMOTEURL: 'https://u:p@hub.example' }, /proxy\.remoteurl: expected scheme:\/\/host\[:port\] only/],
      [{ REGISTRY_PROXY_REMOTEURL: 'ftp://hub.example' }, /proxy\.remoteurl: expected an http or https URL/],
      [{ REGISTRY_MIRROR_UPSTREAMS_HUB_URL: 'https://hub.example/v2' }, /mirror\.upstreams\.hub\.url/],
      [
        {
          REGISTRY_MIRROR_UPSTREAMS_A_URL: 'https://a.example',
          REGISTRY_MIRROR_UPSTREAMS_A_DEFAULT: 'true',
          REGISTRY_MIRROR_UPSTREAMS_B_URL: 'https://b.example',
          REGISTRY_MIRROR_UPSTREAMS_B_DEFAULT: 'true',
        },
        /only one upstream may be the default \(a, b\)/,
      ],
      [
        { REGISTRY_PROXY_REMOTEURL: 'https://a.example', REGISTRY_MIRROR_UPSTREAMS_B_URL: 'https://b.example', REGISTRY_MIRROR_UPSTREAMS_B_DEFAULT: 'yes' },
        /the proxy is the default upstream/,
      ],
      [{ REGISTRY_MIRROR_UPSTREAMS_HUB_TAGTTL: '5m' }, /mirror\.upstreams\.hub\.url: required/],
      [{ REGISTRY_PROXY_USERNAME: 'bob' }, /proxy\.remoteurl: required/],
    ];
    for (const [env, message] of bad) {
      assert.throws(
        () => loadConfig({ env }),
        (err: unknown) => err instanceof ConfigError && message.test(err.message),
        JSON.stringify(env),
      );
    }
    assert.throws(
      () => defaultConfig({ mirror: { upstreams: { 'Hub!': { url: 'https://a.example' } } } }),
      (err: unknown) => err instanceof ConfigError && /an upstream name is a path component/.test(err.message),
    );
  });
});

describe('routing', () => {
  it('ns= first: the upstream whose hosts contain it, the name kept as asked (a prefix sent as well is dropped)', () => {
    assert.deepEqual(route(many, 'library/alpine', 'docker.io'), {
      kind: 'mirror',
      target: { upstream: 'hub', remote: 'library/alpine', local: 'hub/library/alpine', via: 'ns' },
    });
    assert.deepEqual(route(many, 'ghcr/x/y', 'ghcr.io'), { kind: 'mirror', target: { upstream: 'ghcr', remote: 'x/y', local: 'ghcr/x/y', via: 'ns' } });
    assert.deepEqual(route(many, 'team/app', 'registry.example.com'), {
      kind: 'mirror',
      target: { upstream: 'central', remote: 'team/app', local: 'central/team/app', via: 'ns' },
    });
    // The host match ignores case; an ns= naming no upstream is some other registry's name: local.
    assert.equal(route(many, 'x/y', 'GHCR.IO').kind, 'mirror');
    assert.deepEqual(route(many, 'team/app', 'quay.io'), { kind: 'local' });
  });

  it('then the first path segment naming an upstream; official Docker Hub images get library/', () => {
    assert.deepEqual(route(many, 'hub/library/alpine', null), {
      kind: 'mirror',
      target: { upstream: 'hub', remote: 'library/alpine', local: 'hub/library/alpine', via: 'prefix' },
    });
    assert.deepEqual(route(many, 'hub/alpine', null), {
      kind: 'mirror',
      target: { upstream: 'hub', remote: 'library/alpine', local: 'hub/library/alpine', via: 'prefix' },
    });
    assert.deepEqual(route(many, 'ghcr/owner/tool', null), {
      kind: 'mirror',
      target: { upstream: 'ghcr', remote: 'owner/tool', local: 'ghcr/owner/tool', via: 'prefix' },
    });
    // Not Docker Hub: no library/.
    assert.equal((route(many, 'ghcr/tool', null) as { target: { remote: string } }).target.remote, 'tool');
  });

  it('then the default upstream, unless the namespace is a local one', () => {
    assert.deepEqual(route(many, 'library/alpine', null), {
      kind: 'default',
      target: { upstream: 'hub', remote: 'library/alpine', local: 'hub/library/alpine', via: 'default' },
    });
    assert.equal(mirrorTarget(many, 'library/alpine', null, false)?.local, 'hub/library/alpine');
    assert.equal(mirrorTarget(many, 'team/app', null, true), null);
    assert.equal(mirrorTarget(many, 'alpine', null, false)?.remote, 'library/alpine');
    // Without a default upstream, names with no prefix are local.
    const noDefault = table({ mirror: { upstreams: { ghcr: { url: 'https://ghcr.io' } } } });
    assert.deepEqual(route(noDefault, 'library/alpine', null), { kind: 'local' });
    assert.deepEqual(route(table({}), 'hub/library/alpine', 'docker.io'), { kind: 'local' });
  });

  it("registry:2 mode: every name is the proxy's, under its own name, except those another upstream takes", () => {
    const both = table({ proxy: { remoteurl: 'http://127.0.0.1:5001' }, mirror: { upstreams: { ghcr: { url: 'https://ghcr.io' } } } });
    assert.deepEqual(route(both, 'team/app', null), { kind: 'mirror', target: { upstream: 'proxy', remote: 'team/app', local: 'team/app', via: 'proxy' } });
    assert.deepEqual(route(both, 'team/app', 'quay.io'), {
      kind: 'mirror',
      target: { upstream: 'proxy', remote: 'team/app', local: 'team/app', via: 'proxy' },
    });
    assert.equal(mirrorTarget(both, 'team/app', null, true)?.upstream, 'proxy', 'nothing is local in registry:2 mode');
    assert.equal(mirrorTarget(both, 'ghcr/o/t', null, false)?.upstream, 'ghcr');
  });
});

describe('policy: mirrored names are read-only', () => {
  const facts = (name: string, over: Partial<RepositoryFacts> = {}): RepositoryFacts => ({
    name,
    exists: true,
    visibility: 'private',
    namespaceKind: null,
    orgRole: null,
    teamPermissions: [],
    collaborator: null,
    ...over,
  });
  const admin: Principal = { userId: 1, username: 'root', isAdmin: true, robotOrgId: null };
  const user: Principal = { userId: 2, username: 'ann', isAdmin: false, robotOrgId: null };
  const lookup = mirrorLookup(defaultConfig({ mirror: { upstreams: { hub: { url: 'https://registry-1.docker.io', default: true } } } }));

  it('the token service grants pull, never push or delete, administrators included; anonymous only with mirror.anonymous', () => {
    const mirror = lookup('hub/library/alpine', false);
    assert.deepEqual(mirror, { upstream: 'hub', anonymous: false });
    assert.deepEqual([...repositoryActions(admin, facts('hub/library/alpine', { mirror }))], ['pull']);
    assert.deepEqual([...repositoryActions(user, facts('hub/library/alpine', { mirror, exists: false }))], ['pull']);
    assert.deepEqual([...repositoryActions(null, facts('hub/library/alpine', { mirror }))], []);
    assert.deepEqual([...repositoryActions(null, facts('hub/library/alpine', { mirror: { upstream: 'hub', anonymous: true } }))], ['pull']);
    // A token limited to other repositories gets nothing here.
    const limited: Principal = { ...user, limits: { actions: ['pull', 'push'], resource: 'ann/*' } };
    assert.deepEqual([...repositoryActions(limited, facts('hub/library/alpine', { mirror }))], []);
  });

  it('a name of an account or organisation is not sent to the default upstream', () => {
    assert.equal(lookup('ann/app', true), null);
    assert.deepEqual(lookup('library/alpine', false), { upstream: 'hub', anonymous: false });
    assert.deepEqual([...repositoryActions(user, facts('ann/app', { namespaceKind: 'user', mirror: lookup('ann/app', true) }))].sort(), [
      'delete',
      'pull',
      'push',
    ]);
  });
});
