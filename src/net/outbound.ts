// Which addresses Berth may reach on a user's behalf (webhooks today; the pull-through
// mirror and scanners later). A user-supplied URL must not turn Berth into a proxy into
// the operator's network (SSRF), so internal destinations are refused unless the
// operator's allow-list names them. Pure: outbound-connect.ts applies it to every
// address a socket is about to use.
import ipaddr from 'ipaddr.js';
import { isIP } from 'node:net';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Net = [Address, number];

const cidr = (s: string): Net => ipaddr.parseCIDR(s);

/** Refused by default, the narrowest first so a refusal names the most specific range. */
const INTERNAL: readonly (readonly [Net, string])[] = (
  [
    ['169.254.169.254/32', 'a cloud metadata address'],
    ['fd00:ec2::254/128', 'a cloud metadata address'],
    ['0.0.0.0/8', 'an unspecified ("this network") address'],
    ['10.0.0.0/8', 'a private address'],
    ['100.64.0.0/10', 'a carrier-grade NAT address'],
    ['127.0.0.0/8', 'a loopback address'],
    ['169.254.0.0/16', 'a link-local address'],
    ['172.16.0.0/12', 'a private address'],
    ['192.0.0.0/24', 'an IETF protocol address'],
    ['192.168.0.0/16', 'a private address'],
    ['198.18.0.0/15', 'a benchmarking address'],
    ['224.0.0.0/4', 'a multicast address'],
    ['240.0.0.0/4', 'a reserved or broadcast address'],
    ['::/128', 'an unspecified address'],
    ['::1/128', 'a loopback address'],
    ['::/96', 'an IPv4-compatible address'],
    ['64:ff9b:1::/48', 'a local-use NAT64 address'],
    ['100::/64', 'a discard-only address'],
    ['2001::/32', 'a Teredo address'],
    ['fc00::/7', 'a unique local (private) address'],
    ['fe80::/10', 'a link-local address'],
    ['fec0::/10', 'a site-local address'],
    ['ff00::/8', 'a multicast address'],
  ] as const
).map(([net, what]) => [cidr(net), what] as const);

// IPv6 ranges that carry an IPv4 address: judged by that address (NAT64 of 10.0.0.1 is as private as 10.0.0.1).
const NAT64 = cidr('64:ff9b::/96');
const TRANSLATED = cidr('::ffff:0:0:0/96');
const SIX_TO_FOUR = cidr('2002::/16');

const v4 = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 255, lo >> 8, lo & 255]);

/** The IPv4 address an IPv6 address stands for (IPv4-mapped, NAT64, translated, 6to4), if any. */
function embeddedIPv4(a: ipaddr.IPv6): ipaddr.IPv4 | null {
  if (a.isIPv4MappedAddress()) return a.toIPv4Address();
  const p = a.parts;
  if (a.match(NAT64) || a.match(TRANSLATED)) return v4(p[6], p[7]);
  if (a.match(SIX_TO_FOUR)) return v4(p[1], p[2]);
  return null;
}

/** `a` and the IPv4 address it carries, if any: both are checked. */
function forms(a: Address): Address[] {
  const inner = a.kind() === 'ipv6' ? embeddedIPv4(a as ipaddr.IPv6) : null;
  return inner ? [inner, a] : [a];
}

function parseAddress(address: string): Address | null {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (!family) return null;
  // The URL parser's canonical IPv6 form first: ipaddr.js reads `::1.2.3.4` as IPv4-mapped, which it is not.
  return ipaddr.parse(family === 6 ? new URL(`http://[${bare}]/`).hostname.slice(1, -1) : bare);
}

const matches = (a: Address, [net, bits]: Net) => a.kind() === net.kind() && a.match(net, bits);

/**
 * The internal range `address` is in ("a loopback address"), or null for a public
 * address. IPv4-mapped IPv6 (`::ffff:127.0.0.1`, `::ffff:7f00:1`) counts as its IPv4.
 */
export function internalRange(address: string): string | null {
  const a = parseAddress(address);
  if (!a) return 'not an IP address';
  for (const f of forms(a)) {
    for (const [net, what] of INTERNAL) if (matches(f, net)) return what;
  }
  return null;
}

/** Where a request goes: the URL's host (name or IP, no brackets) and port. */
export interface Destination {
  host: string;
  port: number;
}

type AllowEntry = { net: Net; port?: number } | { host: string; wildcard: boolean; port?: number };

const HOSTNAME = /^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

const normHost = (h: string) =>
  h
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');

/** One allow-list entry: `host`, `*.domain`, an IP, a CIDR, each but a CIDR optionally with `:port` (`[v6]:port`). */
function parseAllowEntry(raw: string): AllowEntry | string {
  const s = raw.trim().toLowerCase();
  if (!s) return 'an empty entry';
  if (s.includes('/')) {
    const [addr, bits] = s.split('/', 2);
    if (!isIP(addr) || !/^\d+$/.test(bits) || Number(bits) > (isIP(addr) === 4 ? 32 : 128)) return `"${raw}" is not a valid CIDR`;
    return { net: cidr(s) };
  }
  let host = s;
  let port: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracketed) [, host, port] = bracketed;
  else if (isIP(s) !== 6) {
    const m = /^([^:]+)(?::(\d+))?$/.exec(s);
    if (!m) return `"${raw}" is not a host, host:port, IP address or CIDR`;
    [, host, port] = m;
  }
  const p = port === undefined ? undefined : Number(port);
  if (p !== undefined && !(p >= 1 && p <= 65535)) return `"${raw}" has an invalid port`;
  const family = isIP(host);
  if (family) return { net: [ipaddr.parse(host), family === 4 ? 32 : 128], port: p };
  host = host.replace(/\.$/, '');
  if (bracketed || !HOSTNAME.test(host)) return `"${raw}" is not a host, host:port, IP address or CIDR`;
  return { host: host.replace(/^\*\./, ''), wildcard: host.startsWith('*.'), port: p };
}

/** Why an allow-list entry is invalid, or null (for the config schema). */
export function allowEntryError(entry: string): string | null {
  const e = parseAllowEntry(entry);
  return typeof e === 'string' ? e : null;
}

/** The default rule (internal ranges refused) with the operator's exceptions. */
export class OutboundPolicy {
  private readonly nets: { net: Net; port?: number }[] = [];
  private readonly hosts: { host: string; wildcard: boolean; port?: number }[] = [];

  /** Throws on an invalid entry (the config schema has already refused those). */
  constructor(allow: readonly string[] = []) {
    for (const raw of allow) {
      const e = parseAllowEntry(raw);
      if (typeof e === 'string') throw new Error(`invalid outbound allow-list entry: ${e}`);
      if ('net' in e) this.nets.push(e);
      else this.hosts.push(e);
    }
  }

  /** The allow-list names this host (and port): whatever it resolves to may be reached. */
  private hostAllowed(dest: Destination): boolean {
    const host = normHost(dest.host);
    return this.hosts.some((h) => (h.port === undefined || h.port === dest.port) && (h.wildcard ? host.endsWith(`.${h.host}`) : host === h.host));
  }

  /**
   * Why connecting to `address` (an IP) for `dest` is refused — the internal range it is
   * in — or null when allowed: a public address, or one the allow-list opens.
   */
  refusal(address: string, dest: Destination): string | null {
    const a = parseAddress(address);
    if (!a) return 'not an IP address';
    const why = internalRange(address);
    if (!why || this.hostAllowed(dest)) return null;
    const opened = this.nets.some((n) => (n.port === undefined || n.port === dest.port) && forms(a).some((f) => matches(f, n.net)));
    return opened ? null : why;
  }

  /**
   * For a URL that names an IP literally, why it is refused (null otherwise). Host names
   * cannot be judged before connecting: their addresses are checked when connecting.
   */
  urlRefusal(url: URL): string | null {
    const host = normHost(url.hostname);
    if (!isIP(host)) return null;
    const why = this.refusal(host, { host, port: portOf(url) });
    return why && `${host} is ${why}`;
  }
}

export function portOf(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}
