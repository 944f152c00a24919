// Sockets for outbound requests under an OutboundPolicy. The host name is resolved here
// and every address is checked before a packet is sent; the socket's remote address is
// checked again on connect, before a byte is written. So the address judged is the
// address used: DNS rebinding (a public answer once, an internal one the next time)
// cannot slip past a check made on an earlier lookup.
import { lookup as dnsLookup } from 'node:dns/promises';
import net, { isIP, type LookupFunction } from 'node:net';
import tls from 'node:tls';
import type { Destination, OutboundPolicy } from './outbound.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Host name to addresses; injectable (the composition root passes the system resolver). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) => (await dnsLookup(hostname, { all: true, verbatim: true })) as ResolvedAddress[];

/** A connection the policy refused; nothing was sent to the destination. */
export class OutboundRefused extends Error {
  readonly code = 'EOUTBOUNDREFUSED';
  constructor(
    message: string,
    /** The refused address (for the operator's log; users see only the range). */
    readonly address: string,
  ) {
    super(message);
  }
}

export interface OutboundGuard {
  policy: OutboundPolicy;
  resolve: Resolver;
}

interface ConnectOptions {
  host?: string | null;
  hostname?: string | null;
  port?: number | string | null;
  servername?: string;
}

/**
 * A `createConnection` for `http.request`/`https.request` (with no agent) that reaches
 * only addresses the policy allows for the request's destination.
 */
export function guardedConnection(
  guard: OutboundGuard,
  secure: boolean,
): (opts: ConnectOptions, done: (err: Error | null, socket?: net.Socket) => void) => net.Socket | undefined {
  return (opts, done) => {
    const host = String(opts.hostname ?? opts.host ?? 'localhost').replace(/^\[|\]$/g, '');
    const port = Number(opts.port ?? (secure ? 443 : 80));
    const dest: Destination = { host, port };
    const refused = (address: string): OutboundRefused | null => {
      const why = guard.policy.refusal(address, dest);
      return why ? new OutboundRefused(isIP(host) ? `${address} is ${why}` : `${host} resolves to ${why}`, address) : null;
    };

    // A literal IP never goes through lookup: judged here, and never connected to if refused.
    const literal = isIP(host) ? refused(host) : null;
    if (literal) {
      done(literal);
      return undefined;
    }
    const socket = net.connect({ host, port, lookup: guardedLookup(guard.resolve, refused) });
    // A second check on the address actually connected to, before the request (or TLS) writes anything.
    socket.prependListener('connect', () => {
      const err = refused(socket.remoteAddress ?? '');
      if (err) socket.destroy(err);
    });
    if (!secure) return socket;
    return tls.connect({ socket, servername: opts.servername ?? (isIP(host) ? undefined : host) });
  };
}

/** net's `lookup` hook: resolves with `resolve` and refuses the whole answer if any address is refused. */
function guardedLookup(resolve: Resolver, refused: (address: string) => OutboundRefused | null): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (found) => {
        const list = options.family === 4 || options.family === 6 ? found.filter((a) => a.family === options.family) : found;
        if (list.length === 0) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
        for (const a of list) {
          const err = refused(a.address);
          if (err) return callback(err, '', 0);
        }
        if (options.all) return (callback as unknown as (e: null, all: ResolvedAddress[]) => void)(null, list);
        callback(null, list[0].address, list[0].family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}
