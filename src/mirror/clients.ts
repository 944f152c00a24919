// One upstream client per configured upstream (src/upstream/ once it lands).
import type { RoutingTable } from './routing.js';
import type { UpstreamReader } from './service.js';

export function upstreamClients(table: RoutingTable, _now: () => number): Map<string, UpstreamReader> {
  const out = new Map<string, UpstreamReader>();
  for (const u of table.upstreams) out.set(u.name, unavailable(u.name));
  return out;
}

function unavailable(name: string): UpstreamReader {
  const fail = async (): Promise<never> => {
    const err = new Error(`no upstream client for ${name} yet`) as Error & { kind: string };
    err.name = 'UpstreamError';
    err.kind = 'unavailable';
    throw err;
  };
  return { headManifest: fail, getManifest: fail, getBlob: fail, headBlob: fail, tags: fail, referrers: fail };
}
