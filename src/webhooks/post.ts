// One webhook request: POST with an overall timeout, no redirects followed, at most
// the first KiB of the response kept. Optionally refuses private destinations by
// checking the addresses the socket actually connects to (so DNS rebinding cannot
// swap a public name for an internal address between a check and the request).
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';

export const RESPONSE_KEEP_BYTES = 1024;

export interface PostResult {
  statusCode: number | null;
  error: string | null;
  responseBody: string | null;
  durationMs: number;
}

// Always refused: link-local (cloud metadata services live there) and unspecified addresses.
const alwaysDenied = new BlockList();
alwaysDenied.addSubnet('169.254.0.0', 16, 'ipv4');
alwaysDenied.addSubnet('0.0.0.0', 8, 'ipv4');
alwaysDenied.addSubnet('fe80::', 10, 'ipv6');
alwaysDenied.addAddress('::', 'ipv6');
// Refused with notifications.webhooks.denyprivate.
const privateNets = new BlockList();
for (const [net, bits] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['127.0.0.0', 8], ['100.64.0.0', 10]] as const) privateNets.addSubnet(net, bits, 'ipv4');
privateNets.addAddress('::1', 'ipv6');
privateNets.addSubnet('fc00::', 7, 'ipv6');

export function deniedAddress(address: string, denyPrivate: boolean): boolean {
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  let a = address;
  // IPv4-mapped IPv6 (::ffff:10.0.0.1) is checked as IPv4.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) a = mapped[1];
  const fam = mapped ? 'ipv4' : family;
  return alwaysDenied.check(a, fam) || (denyPrivate && privateNets.check(a, fam));
}

function guardedLookup(denyPrivate: boolean) {
  return (hostname: string, options: object, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const list = addresses as LookupAddress[];
      const bad = list.find((a) => deniedAddress(a.address, denyPrivate));
      if (bad) return callback(Object.assign(new Error(`destination address ${bad.address} is not allowed`), { code: 'EDENIED' }), '');
      if ((options as { all?: boolean }).all) return callback(null, list);
      callback(null, list[0].address, list[0].family);
    });
  };
}

export function post(url: string, headers: Record<string, string | string[]>, body: string, timeoutMs: number, denyPrivate: boolean): Promise<PostResult> {
  const started = performance.now();
  const done = (r: Omit<PostResult, 'durationMs'>): PostResult => ({ ...r, durationMs: Math.round(performance.now() - started) });
  return new Promise((resolve) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return resolve(done({ statusCode: null, error: 'invalid URL', responseBody: null }));
    }
    // A literal IP never goes through lookup: check it here.
    const host = u.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && deniedAddress(host, denyPrivate)) return resolve(done({ statusCode: null, error: `destination address ${host} is not allowed`, responseBody: null }));
    const mod = u.protocol === 'https:' ? https : http;
    let settled = false;
    const finish = (r: Omit<PostResult, 'durationMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(done(r));
    };
    const req = mod.request(
      u,
      {
        method: 'POST',
        headers: { ...headers, 'Content-Length': Buffer.byteLength(body) },
        agent: false,
        lookup: guardedLookup(denyPrivate) as never,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        const end = () => finish({ statusCode: res.statusCode ?? null, error: null, responseBody: Buffer.concat(chunks).toString('utf8') });
        res.on('data', (c: Buffer) => {
          if (kept < RESPONSE_KEEP_BYTES) {
            chunks.push(c.subarray(0, RESPONSE_KEEP_BYTES - kept));
            kept += Math.min(c.length, RESPONSE_KEEP_BYTES - kept);
            if (kept >= RESPONSE_KEEP_BYTES) {
              end();
              res.destroy();
            }
          }
        });
        res.on('end', end);
        res.on('error', end);
        res.on('close', end);
      },
    );
    const timer = setTimeout(() => {
      finish({ statusCode: null, error: `timed out after ${timeoutMs} ms`, responseBody: null });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => finish({ statusCode: null, error: err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message, responseBody: null }));
    req.end(body);
  });
}
