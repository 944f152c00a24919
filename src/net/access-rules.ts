// Who may reach the registry by network (docs/network-rules.md): allow and deny lists of
// addresses and CIDRs, global and per namespace, for each surface (pull, push, api, ui).
// Pure: compiled rules + a client address + a surface + namespaces -> a decision.
//
// The semantics, in one place:
// - deny wins: an address in the global deny list, or in a deny list of a namespace the
//   request touches, is refused;
// - an allow list, when present (non-empty), admits only its members; a namespace's allow
//   list replaces the global one for that namespace (so `public` can be open to everyone
//   while the rest is reachable from the office only), and a namespace without one uses
//   the global allow list;
// - IPv4-mapped IPv6 (::ffff:10.0.0.1) is its IPv4 address, in the lists and in requests.
import ipaddr from 'ipaddr.js';
import { isIP } from 'node:net';

export const SURFACES = ['pull', 'push', 'api', 'ui'] as const;
export type Surface = (typeof SURFACES)[number];

export interface RuleList {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
}

/** `network.*` as configured (all lists may be empty). */
export interface NetworkRulesConfig {
  readonly pull: RuleList;
  readonly push: RuleList;
  readonly api: RuleList;
  readonly ui: RuleList;
  readonly namespaces: Readonly<Record<string, Partial<Record<Surface, RuleList>>>>;
}

type Address = ipaddr.IPv4 | ipaddr.IPv6;

interface Entry {
  /** As written in the configuration, for messages. */
  text: string;
  net: Address;
  bits: number;
}

interface CompiledList {
  /** The configuration key, e.g. network.namespaces.team.pull.deny. */
  key: string;
  entries: Entry[];
}

interface CompiledSurface {
  allow: CompiledList | null;
  deny: CompiledList | null;
}

export interface AccessRules {
  readonly global: Readonly<Record<Surface, CompiledSurface>>;
  readonly namespaces: ReadonlyMap<string, Partial<Record<Surface, CompiledSurface>>>;
  /** False when no list anywhere has an entry: the hook is then not installed at all. */
  readonly active: boolean;
}

export type Decision =
  | { allowed: true }
  | {
      allowed: false;
      /** The configuration key of the list that refused. */
      rule: string;
      /** The deny entry that matched (absent when the address is outside an allow list). */
      entry?: string;
      /** One sentence for the client: what was refused, from which address, by which rule. */
      message: string;
    };

/** The address as rules see it: IPv4-mapped IPv6 becomes IPv4; brackets and zone ids go. Null when not an IP. */
export function parseClientAddress(address: string): Address | null {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (!isIP(bare)) return null;
  return ipaddr.process(bare);
}

/** One list entry: an IPv4 or IPv6 address or CIDR. Returns the reason when it is not one. */
export function parseRuleEntry(raw: string): Entry | string {
  const text = raw.trim();
  if (!text) return 'an empty entry';
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bitsText = slash < 0 ? undefined : text.slice(slash + 1);
  const family = isIP(addr);
  if (!family) return `"${raw}" is not an IP address or CIDR (such as 10.0.0.0/8 or 2001:db8::/32)`;
  const max = family === 4 ? 32 : 128;
  if (bitsText !== undefined && (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max))
    return `"${raw}" has an invalid prefix length (0 to ${max} for IPv${family})`;
  let net: Address = ipaddr.parse(addr);
  let bits = bitsText === undefined ? max : Number(bitsText);
  if (net.kind() === 'ipv6' && (net as ipaddr.IPv6).isIPv4MappedAddress()) {
    // ::ffff:10.0.0.0/104 is 10.0.0.0/8: clients' mapped addresses are matched as IPv4.
    if (bits < 96) return `"${raw}" covers more than the IPv4-mapped range ::ffff:0:0/96`;
    net = (net as ipaddr.IPv6).toIPv4Address();
    bits -= 96;
  }
  // 10.1.0.0/8 is almost always a typo for 10.1.0.0/16: refuse host bits rather than guess.
  const network = net.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${net}/${bits}`) : ipaddr.IPv6.networkAddressFromCIDR(`${net}/${bits}`);
  if (network.toString() !== net.toString()) return `"${raw}" has host bits set: the network is ${network}/${bits}`;
  return { text, net, bits };
}

/** The reasons a list's entries are invalid, by index (for the config schema). */
export function ruleEntryErrors(entries: readonly string[]): { index: number; message: string }[] {
  const out: { index: number; message: string }[] = [];
  entries.forEach((e, index) => {
    const r = parseRuleEntry(e);
    if (typeof r === 'string') out.push({ index, message: r });
  });
  return out;
}

function compileList(key: string, entries: readonly string[] | undefined): CompiledList | null {
  if (!entries || entries.length === 0) return null;
  return {
    key,
    entries: entries.map((e) => {
      const r = parseRuleEntry(e);
      // The schema validated every entry; this is a programming error.
      if (typeof r === 'string') throw new Error(`${key}: ${r}`);
      return r;
    }),
  };
}

function compileSurface(prefix: string, l: RuleList | undefined): CompiledSurface {
  return { allow: compileList(`${prefix}.allow`, l?.allow), deny: compileList(`${prefix}.deny`, l?.deny) };
}

/**
 * The configuration's rules plus those administrators set per namespace through the API
 * (`stored`); a namespace the configuration names keeps the configuration's rules.
 */
export function compileRules(c: NetworkRulesConfig, stored: readonly { namespace: string; rules: Partial<Record<Surface, RuleList>> }[] = []): AccessRules {
  const global = Object.fromEntries(SURFACES.map((s) => [s, compileSurface(`network.${s}`, c[s])])) as Record<Surface, CompiledSurface>;
  let active = SURFACES.some((s) => global[s].allow || global[s].deny);
  const namespaces = new Map<string, Partial<Record<Surface, CompiledSurface>>>();
  const sources: [string, Partial<Record<Surface, RuleList>>, string][] = Object.entries(c.namespaces).map(([ns, l]) => [ns, l, `network.namespaces.${ns}`]);
  // Set through the API: named by where they are set, e.g. "/api/v1/namespaces/team/network-rules pull.deny".
  for (const r of stored) if (!(r.namespace in c.namespaces)) sources.push([r.namespace, r.rules, `/api/v1/namespaces/${r.namespace}/network-rules `]);
  for (const [ns, lists, prefix] of sources) {
    const compiled: Partial<Record<Surface, CompiledSurface>> = {};
    for (const s of SURFACES) {
      const cs = compileSurface(prefix.endsWith(' ') ? `${prefix}${s}` : `${prefix}.${s}`, lists[s]);
      if (cs.allow || cs.deny) compiled[s] = cs;
    }
    if (Object.keys(compiled).length > 0) {
      namespaces.set(ns, compiled);
      active = true;
    }
  }
  return { global, namespaces, active };
}

function find(list: CompiledList | null, a: Address): Entry | undefined {
  return list?.entries.find((e) => e.net.kind() === a.kind() && a.match(e.net, e.bits));
}

const VERB: Record<Surface, string> = { pull: 'pull', push: 'push', api: 'API access', ui: 'UI access' };

function ruleRefusal(surface: Surface, shown: string, namespace: string | null, list: CompiledList, entry?: Entry): Decision {
  const what = `${VERB[surface]}${namespace ? ` to namespace "${namespace}"` : ''} from ${shown}`;
  const message = entry ? `${what} is denied by network rule ${list.key} (${entry.text})` : `${what} is denied: the address is not in network rule ${list.key}`;
  return { allowed: false, rule: list.key, ...(entry ? { entry: entry.text } : {}), message };
}

function decideOne(rules: AccessRules, a: Address, shown: string, surface: Surface, namespace: string | null): Decision {
  const g = rules.global[surface];
  const n = namespace === null ? undefined : rules.namespaces.get(namespace)?.[surface];
  for (const deny of [g.deny, n?.deny ?? null]) {
    const hit = find(deny, a);
    if (hit) return ruleRefusal(surface, shown, namespace, deny!, hit);
  }
  const allow = n?.allow ?? g.allow;
  if (allow && !find(allow, a)) return ruleRefusal(surface, shown, namespace, allow);
  return { allowed: true };
}

/**
 * Whether `address` may use `surface` in every one of `namespaces` (none: the global rules
 * alone, as for the catalog). A request that may touch two namespaces (a name the default
 * mirror upstream may serve) must pass both. An address that is not an IP is refused when
 * any rule applies.
 */
export function decide(rules: AccessRules, address: string, surface: Surface, namespaces: readonly string[] = []): Decision {
  const a = parseClientAddress(address);
  if (!a) {
    const g = rules.global[surface];
    const list = g.allow ?? g.deny;
    if (!list && !namespaces.some((ns) => rules.namespaces.get(ns)?.[surface])) return { allowed: true };
    const key = list?.key ?? `network.namespaces.${namespaces[0]}.${surface}`;
    return { allowed: false, rule: key, message: `${VERB[surface]} is denied: the client address ${JSON.stringify(address)} is not an IP address` };
  }
  const shown = a.toString();
  for (const ns of namespaces.length > 0 ? namespaces : [null]) {
    const d = decideOne(rules, a, shown, surface, ns);
    if (!d.allowed) return d;
  }
  return { allowed: true };
}

/**
 * Whether `address` may use one of `surfaces` somewhere: globally, or in a namespace whose
 * own rules admit it. The entry points that name no repository (/v2/, the token service)
 * answer such an address, so the refusal of a particular pull or push comes from the
 * request that names it, with a message the client shows. Refusals name the global rule.
 */
export function decideAnywhere(rules: AccessRules, address: string, surfaces: readonly Surface[]): Decision {
  const first = decide(rules, address, surfaces[0]);
  if (first.allowed) return first;
  for (const s of surfaces) {
    if (decide(rules, address, s).allowed) return { allowed: true };
    for (const [ns, lists] of rules.namespaces) if (lists[s] && decide(rules, address, s, [ns]).allowed) return { allowed: true };
  }
  const what = surfaces.map((s) => VERB[s]).join(' and ');
  const a = parseClientAddress(address);
  return { ...first, message: `${what} from ${a ? a.toString() : JSON.stringify(address)} are denied everywhere (${first.rule})` };
}

/** For the start-up log line: "" without rules; else e.g. "pull allow 10.0.0.0/8, deny 10.66.0.0/16; push allow 10.20.0.0/16; namespaces: payments, public". */
export function describeRules(c: NetworkRulesConfig): string {
  const shown = (l: readonly string[]) => (l.length > 3 ? `${l.slice(0, 3).join(', ')} and ${l.length - 3} more` : l.join(', '));
  const parts: string[] = [];
  for (const s of SURFACES) {
    const lists = (['allow', 'deny'] as const).filter((k) => c[s][k].length > 0).map((k) => `${k} ${shown(c[s][k])}`);
    if (lists.length > 0) parts.push(`${s} ${lists.join(', ')}`);
  }
  const namespaces = Object.entries(c.namespaces)
    .filter(([, l]) => SURFACES.some((s) => (l[s]?.allow.length ?? 0) + (l[s]?.deny.length ?? 0) > 0))
    .map(([ns]) => ns)
    .sort();
  if (namespaces.length > 0) parts.push(`namespaces: ${shown(namespaces)}`);
  return parts.join('; ');
}
