// One upstream client (src/upstream/) per configured upstream. Operators configure these, so
// no outbound guard: an internal registry (edge → central) is a normal upstream.
import { UpstreamClient } from '../upstream/index.js';
import type { RoutingTable } from './routing.js';

export function upstreamClients(table: RoutingTable, now: () => number): Map<string, UpstreamClient> {
  const out = new Map<string, UpstreamClient>();
  for (const u of table.upstreams) {
    out.set(u.name, new UpstreamClient({ url: u.url, username: u.username, password: u.password, timeoutMs: u.timeout }, { guard: null, now }));
  }
  return out;
}
