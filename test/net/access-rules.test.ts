// The network rules as a pure decision (src/net/access-rules.ts): entries, IPv4/IPv6 and
// IPv4-mapped addresses, deny over allow, namespace rules over the global ones; and which
// surface and namespaces a request is in (src/net/access-hook.ts classifyRequest).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig } from '../../src/config/index.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/errors.js';
import { routingTable } from '../../src/mirror/routing.js';
import { classifyRequest } from '../../src/net/access-hook.js';
import { compileRules, decide, decideAnywhere, describeRules, parseRuleEntry, type NetworkRulesConfig, type RuleList } from '../../src/net/access-rules.js';

const none: RuleList = { allow: [], deny: [] };
function rules(c: Partial<NetworkRulesConfig>) {
  return compileRules({ pull: none, push: none, api: none, ui: none, namespaces: {}, ...c });
}
const allowed = (d: { allowed: boolean }) => d.allowed;

describe('rule entries', () => {
  it('takes IPv4 and IPv6 addresses and CIDRs', () => {
    for (const e of ['10.0.0.1', '10.0.0.0/8', '0.0.0.0/0', '::1', '2001:db8::/32', '::/0', 'fe80::/10', '192.168.1.0/24', '127.0.0.1/32']) {
      assert.equal(typeof parseRuleEntry(e), 'object', e);
    }
  });

  it('refuses what is not an address or CIDR, with the reason', () => {
    assert.match(parseRuleEntry('example.com') as string, /not an IP address or CIDR/);
    assert.match(parseRuleEntry('10.0.0.0/33') as string, /invalid prefix length \(0 to 32/);
    assert.match(parseRuleEntry('::/129') as string, /invalid prefix length \(0 to 128/);
    assert.match(parseRuleEntry('10.0.0.0/') as string, /invalid prefix length/);
    assert.match(parseRuleEntry('10.0.0.0/-1') as string, /invalid prefix length/);
    assert.match(parseRuleEntry('10.0.0.256') as string, /not an IP address/);
    assert.match(parseRuleEntry('') as string, /empty/);
  });

  it('refuses a CIDR with host bits set, naming the network it would be', () => {
    assert.equal(parseRuleEntry('10.1.0.0/8'), '"10.1.0.0/8" has host bits set: the network is 10.0.0.0/8');
    assert.match(parseRuleEntry('2001:db8::1/32') as string, /the network is 2001:db8::\/32/);
  });

  it('reads an IPv4-mapped entry as its IPv4 network', () => {
    const r = rules({ pull: { allow: [], deny: ['::ffff:10.0.0.0/104'] } });
    assert.equal(decide(r, '10.2.3.4', 'pull').allowed, false);
    assert.equal(decide(r, '11.0.0.1', 'pull').allowed, true);
    assert.match(parseRuleEntry('::ffff:0:0/95') as string, /more than the IPv4-mapped range/);
  });
});

describe('decisions', () => {
  it('with no rules everything is allowed, and the rules say they are inactive', () => {
    const r = rules({});
    assert.equal(r.active, false);
    assert.ok(allowed(decide(r, '203.0.113.9', 'push', ['team'])));
  });

  it('a deny list refuses its members only, naming the rule and entry', () => {
    const r = rules({ pull: { allow: [], deny: ['203.0.113.0/24'] } });
    assert.equal(r.active, true);
    assert.deepEqual(decide(r, '203.0.113.9', 'pull', ['team']), {
      allowed: false,
      rule: 'network.pull.deny',
      entry: '203.0.113.0/24',
      message: 'pull to namespace "team" from 203.0.113.9 is denied by network rule network.pull.deny (203.0.113.0/24)',
    });
    assert.ok(allowed(decide(r, '203.0.114.1', 'pull', ['team'])));
    // Surfaces are separate.
    assert.ok(allowed(decide(r, '203.0.113.9', 'push', ['team'])));
    assert.ok(allowed(decide(r, '203.0.113.9', 'api')));
  });

  it('an allow list admits only its members', () => {
    const r = rules({ push: { allow: ['10.0.0.0/8', '2001:db8::/32'], deny: [] } });
    assert.ok(allowed(decide(r, '10.255.255.255', 'push')));
    assert.ok(allowed(decide(r, '2001:db8:ffff::1', 'push')));
    const d = decide(r, '11.0.0.0', 'push');
    assert.equal(d.allowed, false);
    assert.equal(!d.allowed && d.rule, 'network.push.allow');
    assert.equal(!d.allowed && d.message, 'push from 11.0.0.0 is denied: the address is not in network rule network.push.allow');
    assert.equal(decide(r, '2001:db9::1', 'push').allowed, false);
    assert.ok(allowed(decide(r, '11.0.0.0', 'pull')));
  });

  it('CIDR edges: the first and last address are in, their neighbours are not', () => {
    const r = rules({ pull: { allow: ['192.168.4.0/22', 'fd00:1::/64'], deny: [] } });
    assert.ok(allowed(decide(r, '192.168.4.0', 'pull')));
    assert.ok(allowed(decide(r, '192.168.7.255', 'pull')));
    assert.equal(decide(r, '192.168.3.255', 'pull').allowed, false);
    assert.equal(decide(r, '192.168.8.0', 'pull').allowed, false);
    assert.ok(allowed(decide(r, 'fd00:1::', 'pull')));
    assert.ok(allowed(decide(r, 'fd00:1::ffff:ffff:ffff:ffff', 'pull')));
    assert.equal(decide(r, 'fd00:1:0:1::', 'pull').allowed, false);
    // /0 is everything of its family, and only its family.
    const all4 = rules({ pull: { allow: ['0.0.0.0/0'], deny: [] } });
    assert.ok(allowed(decide(all4, '255.255.255.255', 'pull')));
    assert.equal(decide(all4, '::1', 'pull').allowed, false);
    // A single address is a /32 (or /128).
    const one = rules({ pull: { allow: ['127.0.0.1', '::1'], deny: [] } });
    assert.ok(allowed(decide(one, '127.0.0.1', 'pull')));
    assert.equal(decide(one, '127.0.0.2', 'pull').allowed, false);
    assert.ok(allowed(decide(one, '0:0:0:0:0:0:0:1', 'pull')));
  });

  it('an IPv4-mapped IPv6 client address is its IPv4 address', () => {
    const r = rules({ pull: { allow: ['127.0.0.0/8'], deny: ['127.0.0.9'] } });
    assert.ok(allowed(decide(r, '::ffff:127.0.0.1', 'pull')));
    assert.ok(allowed(decide(r, '::ffff:7f00:1', 'pull')));
    const d = decide(r, '::ffff:127.0.0.9', 'pull');
    assert.equal(!d.allowed && d.entry, '127.0.0.9');
    assert.match(!d.allowed ? d.message : '', /from 127\.0\.0\.9 /);
    // IPv4 rules do not match other IPv6 addresses (::1 is not 127.0.0.1).
    assert.equal(decide(r, '::1', 'pull').allowed, false);
    // Brackets and zone ids are not part of the address.
    const six = rules({ pull: { allow: ['fe80::/10'], deny: [] } });
    assert.ok(allowed(decide(six, 'fe80::1%eth0', 'pull')));
    assert.ok(allowed(decide(six, '[fe80::1]', 'pull')));
  });

  it('deny wins over allow', () => {
    const r = rules({ pull: { allow: ['10.0.0.0/8'], deny: ['10.1.0.0/16'] } });
    assert.ok(allowed(decide(r, '10.2.0.1', 'pull')));
    const d = decide(r, '10.1.0.1', 'pull');
    assert.equal(!d.allowed && d.rule, 'network.pull.deny');
  });

  it("a namespace's allow list replaces the global one for that namespace; the global deny list still applies", () => {
    const r = rules({
      pull: { allow: ['10.0.0.0/8'], deny: ['198.51.100.0/24'] },
      namespaces: { public: { pull: { allow: ['0.0.0.0/0', '::/0'], deny: [] } }, secret: { pull: { allow: ['10.9.0.0/16'], deny: [] } } },
    });
    // public: open to everyone but the globally denied.
    assert.ok(allowed(decide(r, '203.0.113.1', 'pull', ['public'])));
    assert.equal(decide(r, '198.51.100.7', 'pull', ['public']).allowed, false);
    // secret: only its own range, narrower than the global one.
    assert.ok(allowed(decide(r, '10.9.1.1', 'pull', ['secret'])));
    const d = decide(r, '10.8.1.1', 'pull', ['secret']);
    assert.equal(!d.allowed && d.rule, 'network.namespaces.secret.pull.allow');
    // Other namespaces, and the global rules alone: the global allow list.
    assert.ok(allowed(decide(r, '10.8.1.1', 'pull', ['other'])));
    assert.equal(decide(r, '203.0.113.1', 'pull', ['other']).allowed, false);
    assert.equal(decide(r, '203.0.113.1', 'pull').allowed, false);
  });

  it("a namespace's deny list adds to the global one, and a request in two namespaces must pass both", () => {
    const r = rules({ namespaces: { team: { push: { allow: [], deny: ['10.0.0.5'] } } } });
    const d = decide(r, '10.0.0.5', 'push', ['team']);
    assert.equal(!d.allowed && d.rule, 'network.namespaces.team.push.deny');
    assert.ok(allowed(decide(r, '10.0.0.5', 'push', ['other'])));
    assert.equal(decide(r, '10.0.0.5', 'push', ['other', 'team']).allowed, false);
    assert.ok(allowed(decide(r, '10.0.0.5', 'pull', ['team'])));
  });

  it('a client address that is not an IP is refused when a rule applies', () => {
    const r = rules({ pull: { allow: [], deny: ['10.0.0.0/8'] } });
    assert.equal(decide(r, 'unix-socket', 'pull').allowed, false);
    assert.ok(allowed(decide(r, 'unix-socket', 'push')));
  });

  it('entry points answer an address that may pull or push anywhere, and refuse one that may do neither', () => {
    const r = rules({
      pull: { allow: ['10.0.0.0/8'], deny: ['192.0.2.0/24'] },
      push: { allow: ['10.0.0.0/8'], deny: [] },
      namespaces: { public: { pull: { allow: ['0.0.0.0/0'], deny: [] } } },
    });
    assert.ok(allowed(decideAnywhere(r, '10.1.1.1', ['pull', 'push'])));
    assert.ok(allowed(decideAnywhere(r, '203.0.113.1', ['pull', 'push'])), 'public is open to it');
    const d = decideAnywhere(r, '192.0.2.1', ['pull', 'push']);
    assert.equal(d.allowed, false);
    assert.equal(!d.allowed && d.message, 'pull and push from 192.0.2.1 are denied everywhere (network.pull.deny)');
  });
});

describe('configuration', () => {
  it('network.* defaults to no rules, and lists come from the file or REGISTRY_NETWORK_* variables', () => {
    assert.deepEqual(defaultConfig().network.pull, { allow: [], deny: [] });
    const c = loadConfig({
      env: {
        REGISTRY_NETWORK_PULL_ALLOW: '10.0.0.0/8, ::1',
        REGISTRY_NETWORK_PUSH_DENY: '192.0.2.0/24',
        REGISTRY_NETWORK_NAMESPACES_TEAM_UI_DENY: '127.0.0.1',
      },
    });
    assert.deepEqual(c.network.pull.allow, ['10.0.0.0/8', '::1']);
    assert.deepEqual(c.network.push.deny, ['192.0.2.0/24']);
    assert.deepEqual(c.network.namespaces.team.ui?.deny, ['127.0.0.1']);
  });

  it('a bad entry stops the start with a message naming the key', () => {
    assert.throws(
      () => defaultConfig({ network: { namespaces: { team: { pull: { allow: ['10.0.0.0/8', '10.0.0.0/40'], deny: [] } } } } }),
      (e: unknown) => e instanceof ConfigError && /network\.namespaces\.team\.pull\.allow\.1: "10\.0\.0\.0\/40" has an invalid prefix length/.test(e.message),
    );
    assert.throws(
      () => loadConfig({ env: { REGISTRY_NETWORK_PUSH_DENY: 'intranet' } }),
      (e: unknown) => e instanceof ConfigError && /network\.push\.deny\.0: "intranet" is not an IP address or CIDR.*REGISTRY_NETWORK_PUSH_DENY/.test(e.message),
    );
    assert.throws(
      () => defaultConfig({ network: { api: { allow: [], deny: [] }, web: {} } as never }),
      (e: unknown) => e instanceof ConfigError && /unknown key "network\.web"/.test(e.message),
    );
  });
});

describe('the start-up description', () => {
  it('lists the lists in force, shortened, and the namespaces with rules', () => {
    assert.equal(describeRules(defaultConfig().network), '');
    const c = defaultConfig({
      network: {
        pull: { allow: ['10.0.0.0/8', '10.1.0.0/16', '10.2.0.0/16', '10.3.0.0/16', '10.4.0.0/16'], deny: ['10.66.0.0/16'] },
        ui: { deny: ['::1'] },
        namespaces: { public: { pull: { allow: ['0.0.0.0/0'] } }, empty: {} },
      },
    });
    assert.equal(describeRules(c.network), 'pull allow 10.0.0.0/8, 10.1.0.0/16, 10.2.0.0/16 and 2 more, deny 10.66.0.0/16; ui deny ::1; namespaces: public');
  });
});

describe('which surface and namespaces a request is in', () => {
  const local = routingTable(defaultConfig());
  const c = (method: string, url: string, headers: Record<string, unknown> = {}, table = local) => classifyRequest(method, url, headers, table);
  const pull = (...namespaces: string[]) => ({ kind: 'checks', checks: [{ surface: 'pull', namespaces }], protocol: 'registry' });
  const push = (...namespaces: string[]) => ({ kind: 'checks', checks: [{ surface: 'push', namespaces }], protocol: 'registry' });
  const head = (...namespaces: string[]) => ({ kind: 'checks', checks: [{ surface: 'pull', namespaces, or: 'push' }], protocol: 'registry' });

  it('/v2: blob and manifest reads, tags and referrers are pulls; uploads, PUT and DELETE are pushes', () => {
    assert.deepEqual(c('GET', '/v2/team/app/manifests/latest'), pull('team'));
    assert.deepEqual(c('HEAD', '/v2/team/app/blobs/sha256:abc'), head('team'));
    assert.deepEqual(c('HEAD', '/v2/team/app/manifests/v1'), head('team'));
    assert.deepEqual(c('GET', '/v2/team/app/tags/list?n=10'), pull('team'));
    assert.deepEqual(c('GET', '/v2/team/app/referrers/sha256:abc'), pull('team'));
    assert.deepEqual(c('GET', '/v2/app/manifests/1'), pull('app'));
    assert.deepEqual(c('POST', '/v2/team/app/blobs/uploads/'), push('team'));
    assert.deepEqual(c('GET', '/v2/team/app/blobs/uploads/abc'), push('team'));
    assert.deepEqual(c('PATCH', '/v2/team/app/blobs/uploads/abc'), push('team'));
    assert.deepEqual(c('PUT', '/v2/team/app/manifests/latest'), push('team'));
    assert.deepEqual(c('DELETE', '/v2/team/app/manifests/sha256:abc'), push('team'));
    assert.deepEqual(c('DELETE', '/v2/team/app/blobs/sha256:abc'), push('team'));
    // A mount reads from its source: a pull there too.
    assert.deepEqual(c('POST', '/v2/team/app/blobs/uploads/?mount=sha256:abc&from=other/base'), {
      kind: 'checks',
      checks: [
        { surface: 'push', namespaces: ['team'] },
        { surface: 'pull', namespaces: ['other'] },
      ],
      protocol: 'registry',
    });
  });

  it('/v2/_catalog and unknown /v2 paths are pulls under the global rules; /v2/ and the token service are entry points', () => {
    assert.deepEqual(c('GET', '/v2/_catalog?n=5'), pull());
    assert.deepEqual(c('GET', '/v2/team/app/nonsense'), pull());
    assert.deepEqual(c('GET', '/v2/'), { kind: 'entry' });
    assert.deepEqual(c('HEAD', '/v2'), { kind: 'entry' });
    assert.deepEqual(c('GET', '/token?service=berth&scope=repository:team/app:pull'), { kind: 'entry' });
    assert.deepEqual(c('POST', '/token'), { kind: 'entry' });
    assert.deepEqual(c('GET', '/.well-known/jwks.json'), { kind: 'entry' });
    assert.deepEqual(c('GET', '/v1/search?q=x'), pull());
    assert.deepEqual(c('GET', '/healthz'), { kind: 'open' });
  });

  it('mirrored names are in their cache namespace; a name the default upstream may serve is in both', () => {
    const table = routingTable(
      defaultConfig({ mirror: { upstreams: { hub: { url: 'https://registry-1.docker.io', default: true }, quay: { url: 'https://quay.io' } } } }),
    );
    assert.deepEqual(c('GET', '/v2/quay/org/app/manifests/1', {}, table), pull('quay'));
    assert.deepEqual(c('GET', '/v2/library/alpine/manifests/3?ns=docker.io', {}, table), pull('hub'));
    assert.deepEqual(c('GET', '/v2/team/app/manifests/1', {}, table), pull('team', 'hub'));
    assert.deepEqual(c('GET', '/v2/hub/library/alpine/manifests/1', {}, table), pull('hub'));
  });

  it('/api is the api surface (namespaced for repositories and namespaces), or ui when the UI sends it', () => {
    const api = (...namespaces: string[]) => ({ kind: 'checks', checks: [{ surface: 'api', namespaces }], protocol: 'api' });
    assert.deepEqual(c('GET', '/api/v1/users'), api());
    assert.deepEqual(c('GET', '/api/v1/repositories/team/app/tags'), api('team'));
    assert.deepEqual(c('PUT', '/api/v1/namespaces/team/quota'), api('team'));
    assert.deepEqual(c('GET', '/api/v1/namespaces/te%61m/quota'), api('team'));
    assert.deepEqual(c('GET', '/api/v1/repositories/team%2Fapp/tags'), api('team'));
    assert.deepEqual(c('GET', '/api/v1/repositories/team%2fapp'), api('team'));
    assert.deepEqual(c('GET', '/api/v1/repositories/team?x=1'), api('team'));
    assert.deepEqual(c('DELETE', '/api/v1/orgs/team/members/bob'), api('team'));
    assert.deepEqual(c('GET', '/api/v1/orgs/team'), api('team'));
    assert.deepEqual(c('GET', '/api/v1/repositories/team/app', { 'x-berth-csrf': '1' }), {
      kind: 'checks',
      checks: [{ surface: 'ui', namespaces: ['team'] }],
      protocol: 'api',
    });
  });

  it('/ui pages and reads are the ui surface; reads that name a repository are in its namespace', () => {
    const ui = (...namespaces: string[]) => ({ kind: 'checks', checks: [{ surface: 'ui', namespaces }], protocol: 'ui' });
    assert.deepEqual(c('GET', '/ui/'), ui());
    assert.deepEqual(c('GET', '/ui/repositories/team/app'), ui());
    assert.deepEqual(c('GET', '/ui/api/tags?repository=team%2Fapp&n=10&page=1'), ui('team'));
    assert.deepEqual(c('GET', '/'), ui());
  });
});
