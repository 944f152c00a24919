// Which upstream a /v2 repository name is mirrored from, and under which local name its
// cache lives (docs/mirror.md). Pure: no I/O; the caller decides whether a namespace is local.
import { namespaceOf } from '../auth/policy.js';
import type { BerthConfig } from '../config/index.js';

export interface UpstreamSettings {
  /** The upstream's name: mirror.upstreams' key (also the local path prefix), or "proxy". */
  name: string;
  url: string;
  /** containerd's ?ns= values routed here. */
  hosts: string[];
  /** Serves names with no prefix and no ns= whose namespace is not a local one. */
  default: boolean;
  /** Cached content lives under `<name>/`; false for registry:2's proxy (names kept as they are). */
  prefixed: boolean;
  username: string;
  password: string;
  tagTtl: number;
  maxStale: number;
  timeout: number;
}

export interface RoutingTable {
  upstreams: UpstreamSettings[];
  /** registry:2 mode (proxy.remoteurl): every name not routed elsewhere is the proxy's, and nothing is local. */
  proxyAll: boolean;
}

/** A request routed to an upstream. */
export interface MirrorTarget {
  upstream: string;
  /** The repository's name upstream. */
  remote: string;
  /** The cache's repository here. */
  local: string;
  via: 'ns' | 'prefix' | 'default' | 'proxy';
}

export type Routing =
  | { kind: 'local' }
  | { kind: 'mirror'; target: MirrorTarget }
  /** The default upstream's, unless the name's namespace is a local one (the caller knows). */
  | { kind: 'default'; target: MirrorTarget };

const DOCKER_HUB_HOSTS = ['registry-1.docker.io', 'docker.io', 'index.docker.io'];

export const PROXY_UPSTREAM = 'proxy';

/** The routing table of a configuration (empty when nothing is mirrored). */
export function routingTable(config: Pick<BerthConfig, 'proxy' | 'mirror'>): RoutingTable {
  const upstreams: UpstreamSettings[] = [];
  for (const [name, u] of Object.entries(config.mirror.upstreams)) {
    upstreams.push({
      name,
      url: u.url.replace(/\/+$/, ''),
      hosts: u.hosts ? [...u.hosts].map((h) => h.toLowerCase()) : defaultHosts(u.url),
      default: u.default,
      prefixed: true,
      username: u.username,
      password: u.password,
      tagTtl: u.tagttl,
      maxStale: u.maxstale,
      timeout: u.timeout,
    });
  }
  const p = config.proxy;
  if (p) {
    upstreams.push({
      name: PROXY_UPSTREAM,
      url: p.remoteurl.replace(/\/+$/, ''),
      hosts: defaultHosts(p.remoteurl),
      default: true,
      prefixed: false,
      username: p.username,
      password: p.password,
      tagTtl: p.tagttl,
      maxStale: p.maxstale,
      timeout: 30_000,
    });
  }
  return { upstreams, proxyAll: p !== undefined };
}

/** A URL's host (with its port when it has one), plus docker.io for Docker Hub. */
export function defaultHosts(url: string): string[] {
  const u = new URL(url);
  const host = u.host.toLowerCase();
  return DOCKER_HUB_HOSTS.includes(u.hostname.toLowerCase()) ? [...new Set([host, ...DOCKER_HUB_HOSTS])] : [host];
}

/**
 * Where `name` (as the client asked for it, with `ns` from containerd's ?ns=) is served from:
 * ns= first, then the first path segment naming an upstream, then the default upstream.
 * An ns= naming no upstream keeps the name local (it is some other registry's name).
 */
export function route(table: RoutingTable, name: string, ns: string | null): Routing {
  if (table.upstreams.length === 0) return { kind: 'local' };
  if (ns) {
    const host = ns.toLowerCase();
    const u = table.upstreams.find((x) => x.hosts.includes(host));
    if (u) {
      // A mirror configured with a path (containerd's override_path) may send the prefix as well.
      const remote = u.prefixed && name.startsWith(`${u.name}/`) ? name.slice(u.name.length + 1) : name;
      return mirror(u, remote, 'ns');
    }
  }
  const slash = name.indexOf('/');
  if (slash > 0) {
    const u = table.upstreams.find((x) => x.prefixed && x.name === name.slice(0, slash));
    if (u) return mirror(u, name.slice(slash + 1), 'prefix');
  }
  if (ns) return table.proxyAll ? proxied(table, name) : { kind: 'local' };
  if (table.proxyAll) return proxied(table, name);
  const d = table.upstreams.find((x) => x.default);
  if (!d) return { kind: 'local' };
  const target = mirror(d, name, 'default').target;
  return { kind: 'default', target };
}

function proxied(table: RoutingTable, name: string): Routing {
  const p = table.upstreams.find((x) => !x.prefixed)!;
  return mirror(p, name, 'proxy');
}

function mirror(u: UpstreamSettings, remote: string, via: MirrorTarget['via']): { kind: 'mirror'; target: MirrorTarget } {
  const upstreamName = officialName(u, remote);
  return {
    kind: 'mirror',
    target: { upstream: u.name, remote: upstreamName, local: u.prefixed ? `${u.name}/${upstreamName}` : upstreamName, via },
  };
}

/** Docker Hub keeps official images under library/: `hub/alpine` is `library/alpine` there. */
function officialName(u: UpstreamSettings, remote: string): string {
  if (remote.includes('/')) return remote;
  return u.hosts.includes('docker.io') ? `library/${remote}` : remote;
}

/**
 * The target when `name` is mirrored: routed to an upstream, or the default upstream's when its
 * namespace is not a local one (`localNamespace`: an account's or organisation's, or in mirror.local).
 */
export function mirrorTarget(table: RoutingTable, name: string, ns: string | null, localNamespace: boolean): MirrorTarget | null {
  const r = route(table, name, ns);
  if (r.kind === 'mirror') return r.target;
  return r.kind === 'default' && !localNamespace ? r.target : null;
}

/** For the token service's grants (auth/policy.ts): which names are mirrored, as a request without ns= is routed. */
export function mirrorLookup(
  config: Pick<BerthConfig, 'proxy' | 'mirror'>,
): (name: string, localNamespace: boolean) => { upstream: string; anonymous: boolean } | null {
  const table = routingTable(config);
  const local = new Set(config.mirror.local);
  return (name, localNamespace) => {
    const t = mirrorTarget(table, name, null, localNamespace || local.has(namespaceOf(name)));
    return t ? { upstream: t.upstream, anonymous: config.mirror.anonymous } : null;
  };
}
