// The outbound address rule (src/net/outbound.ts): which destinations requests made on a
// user's behalf may reach, and the operator's allow-list; and the guarded sockets
// (src/net/outbound-connect.ts) that apply it to webhook POSTs over HTTP and HTTPS.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { systemResolver, type Resolver } from '../../src/net/outbound-connect.js';
import { allowEntryError, internalRange, OutboundPolicy } from '../../src/net/outbound.js';
import { post } from '../../src/webhooks/post.js';
import { selfSignedCert } from '../helpers/api-tls.js';

const dest = (host: string, port = 80) => ({ host, port });

describe('outbound address rule', () => {
  it('refuses every internal IPv4 range', () => {
    const cases: [string, RegExp][] = [
      ['127.0.0.1', /loopback/],
      ['127.255.255.254', /loopback/],
      ['10.1.2.3', /private/],
      ['172.16.0.1', /private/],
      ['172.31.255.255', /private/],
      ['192.168.1.1', /private/],
      ['100.64.0.1', /carrier-grade NAT/],
      ['100.100.100.200', /carrier-grade NAT/], // Alibaba Cloud's metadata service
      ['169.254.169.254', /cloud metadata/],
      ['169.254.1.1', /link-local/],
      ['0.0.0.0', /unspecified/],
      ['0.1.2.3', /unspecified/],
      ['192.0.0.192', /IETF/], // Oracle Cloud's metadata service
      ['198.18.0.1', /benchmarking/],
      ['198.19.255.255', /benchmarking/],
      ['224.0.0.1', /multicast/],
      ['239.255.255.250', /multicast/],
      ['240.0.0.1', /reserved/],
      ['255.255.255.255', /broadcast/],
    ];
    for (const [a, why] of cases) assert.match(internalRange(a) ?? 'allowed', why, a);
  });

  it('refuses every internal IPv6 range', () => {
    const cases: [string, RegExp][] = [
      ['::1', /loopback/],
      ['::', /unspecified/],
      ['fe80::1', /link-local/],
      ['febf:ffff::1', /link-local/],
      ['fc00::1', /unique local/],
      ['fd12:3456::1', /unique local/],
      ['fd00:ec2::254', /cloud metadata/],
      ['ff02::1', /multicast/],
      ['ff0e::1', /multicast/],
      ['fec0::1', /site-local/],
      ['::127.0.0.1', /IPv4-compatible/],
      ['64:ff9b:1::a', /NAT64/],
      ['100::1', /discard/],
      ['2001:0:4136:e378::1', /Teredo/],
    ];
    for (const [a, why] of cases) assert.match(internalRange(a) ?? 'allowed', why, a);
  });

  it('judges IPv6 forms of IPv4 addresses by the IPv4 address they carry', () => {
    const cases: [string, RegExp][] = [
      ['::ffff:127.0.0.1', /loopback/],
      ['::ffff:7f00:1', /loopback/], // the same in hex
      ['::FFFF:7F00:0001', /loopback/],
      ['::ffff:10.0.0.1', /private/],
      ['::ffff:a9fe:a9fe', /cloud metadata/],
      ['::ffff:0:0', /unspecified/],
      ['64:ff9b::10.0.0.1', /private/], // NAT64 of a private address
      ['64:ff9b::a9fe:a9fe', /cloud metadata/],
      ['::ffff:0:127.0.0.1', /loopback/], // IPv4-translated
      ['2002:7f00:1::1', /loopback/], // 6to4 of 127.0.0.1
      ['2002:c0a8:101::1', /private/],
    ];
    for (const [a, why] of cases) assert.match(internalRange(a) ?? 'allowed', why, a);
    // The same forms of a public address are public.
    for (const a of ['::ffff:93.184.216.34', '::ffff:5db8:d822', '64:ff9b::8.8.8.8', '2002:808:808::1']) assert.equal(internalRange(a), null, a);
  });

  it('allows public addresses and says so for garbage', () => {
    for (const a of [
      '93.184.216.34',
      '8.8.8.8',
      '1.1.1.1',
      '172.32.0.1',
      '100.128.0.1',
      '198.20.0.1',
      '223.255.255.255',
      '2606:4700::1111',
      '2001:4860:4860::8888',
      '[2606:4700::1111]',
    ]) {
      assert.equal(internalRange(a), null, a);
    }
    assert.equal(internalRange('localhost'), 'not an IP address');
    assert.equal(internalRange(''), 'not an IP address');
  });

  it('refuses by default and opens only what the allow-list names', () => {
    const none = new OutboundPolicy();
    assert.equal(none.refusal('127.0.0.1', dest('127.0.0.1', 8080)), 'a loopback address');
    assert.equal(none.refusal('::ffff:127.0.0.1', dest('localhost')), 'a loopback address');
    assert.equal(none.refusal('93.184.216.34', dest('example.com', 443)), null);

    const p = new OutboundPolicy(['10.0.0.0/8', '127.0.0.1:8080', '[::1]:9090', 'fd00::/8', 'ci.internal', '*.corp.example', 'hooks.lan:8443', '192.168.1.10']);
    assert.equal(p.refusal('10.200.1.1', dest('10.200.1.1')), null, 'CIDR');
    assert.equal(p.refusal('::ffff:10.200.1.1', dest('x')), null, 'a mapped address is opened by its IPv4 CIDR');
    assert.equal(p.refusal('127.0.0.1', dest('127.0.0.1', 8080)), null, 'ip:port');
    assert.equal(p.refusal('127.0.0.1', dest('127.0.0.1', 8081)), 'a loopback address', 'another port stays closed');
    assert.equal(p.refusal('::1', dest('::1', 9090)), null, '[v6]:port');
    assert.equal(p.refusal('::1', dest('::1', 80)), 'a loopback address');
    assert.equal(p.refusal('fd12::1', dest('x')), null, 'v6 CIDR');
    assert.equal(p.refusal('fe80::1', dest('x')), 'a link-local address');
    assert.equal(p.refusal('192.168.1.10', dest('x')), null, 'one IP');
    assert.equal(p.refusal('192.168.1.11', dest('x')), 'a private address');
    // Host entries open whatever that host resolves to, and nothing else.
    assert.equal(p.refusal('172.20.0.5', dest('ci.internal', 80)), null);
    assert.equal(p.refusal('172.20.0.5', dest('CI.Internal.', 80)), null, 'case and a trailing dot do not matter');
    assert.equal(p.refusal('172.20.0.5', dest('other.internal')), 'a private address');
    assert.equal(p.refusal('172.20.0.5', dest('a.b.corp.example')), null, 'wildcard');
    assert.equal(p.refusal('172.20.0.5', dest('corp.example')), 'a private address', 'a wildcard does not name the domain itself');
    assert.equal(p.refusal('172.20.0.5', dest('evilcorp.example')), 'a private address');
    assert.equal(p.refusal('172.20.0.5', dest('hooks.lan', 8443)), null);
    assert.equal(p.refusal('172.20.0.5', dest('hooks.lan', 80)), 'a private address');
    assert.equal(p.refusal('nonsense', dest('ci.internal')), 'not an IP address');
  });

  it('judges URLs with literal addresses, and leaves host names to connect time', () => {
    const p = new OutboundPolicy(['127.0.0.1:5000']);
    assert.equal(p.urlRefusal(new URL('http://127.0.0.1:8080/x')), '127.0.0.1 is a loopback address');
    assert.equal(p.urlRefusal(new URL('http://127.0.0.1:5000/x')), null);
    assert.equal(p.urlRefusal(new URL('http://[::1]/')), '::1 is a loopback address');
    assert.equal(p.urlRefusal(new URL('http://[::ffff:127.0.0.1]/')), '::ffff:7f00:1 is a loopback address');
    assert.equal(p.urlRefusal(new URL('http://2130706433/')), '127.0.0.1 is a loopback address', 'the URL parser normalises 2130706433');
    assert.equal(p.urlRefusal(new URL('http://0x7f.1/')), '127.0.0.1 is a loopback address');
    assert.equal(p.urlRefusal(new URL('https://169.254.169.254/latest/meta-data/')), '169.254.169.254 is a cloud metadata address');
    assert.equal(p.urlRefusal(new URL('http://localhost/')), null, 'a host name is judged when connecting');
    assert.equal(p.urlRefusal(new URL('https://93.184.216.34/')), null);
  });

  it('validates allow-list entries', () => {
    for (const ok of [
      'localhost',
      'ci.internal',
      '*.corp.example',
      'ci.internal:8080',
      '10.0.0.0/8',
      'fd00::/8',
      '127.0.0.1',
      '127.0.0.1:80',
      '::1',
      '[::1]',
      '[::1]:443',
      'host_name.lan',
    ]) {
      assert.equal(allowEntryError(ok), null, ok);
    }
    for (const bad of ['', '10.0.0.0/33', '10.0.0/8', 'fd00::/129', 'http://x', 'a b', 'x:0', 'x:70000', '[localhost]', '*', '10.0.0.0/8:80', '-x.lan']) {
      assert.notEqual(allowEntryError(bad), null, bad);
    }
    assert.throws(() => new OutboundPolicy(['10.0.0.0/33']), /invalid outbound allow-list entry/);
  });
});

describe('guarded connections (webhook POSTs)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-outbound-'));
  const cert = selfSignedCert(dir);
  let tcpConnections = 0;
  const sni: string[] = [];
  const received: string[] = [];
  const tlsServer = https.createServer(
    {
      cert: readFileSync(cert.certificate),
      key: readFileSync(cert.key),
      SNICallback: (name, cb) => {
        sni.push(name);
        cb(null, undefined as never);
      },
    },
    (req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    },
  );
  tlsServer.on('connection', () => tcpConnections++);
  const plain = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push(body);
      res.end('pong');
    });
  });
  plain.on('connection', () => tcpConnections++);
  let tlsPort = 0;
  let plainPort = 0;
  const lookups: string[] = [];
  const resolve: Resolver = async (host) => {
    lookups.push(host);
    return systemResolver(host);
  };

  before(async () => {
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    tlsPort = (tlsServer.address() as AddressInfo).port;
    plainPort = (plain.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise((r) => tlsServer.close(r));
    await new Promise((r) => plain.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects where the policy allows, over HTTP and HTTPS (with the host name as SNI)', async () => {
    const guard = { policy: new OutboundPolicy(['localhost']), resolve };
    const r = await post(`http://localhost:${plainPort}/x`, {}, 'ping', 2000, guard);
    assert.equal(r.statusCode, 200);
    assert.equal(r.responseBody, 'pong');
    assert.deepEqual(received, ['ping']);
    assert.deepEqual(lookups, ['localhost'], 'resolved through the injected resolver');
    // The certificate is self-signed: the handshake happening (and failing on trust) shows TLS runs over the guarded socket.
    const t = await post(`https://localhost:${tlsPort}/x`, {}, 'ping', 2000, guard);
    assert.equal(t.statusCode, null);
    assert.match(String(t.error), /self[- ]signed/i);
    assert.equal(t.refused, undefined);
    assert.deepEqual(sni, ['localhost']);
  });

  it('refuses before connecting: no TCP connection reaches the server, over HTTP or HTTPS', async () => {
    const guard = { policy: new OutboundPolicy([]), resolve };
    const before = tcpConnections;
    for (const url of [
      `https://localhost:${tlsPort}/`,
      `https://127.0.0.1:${tlsPort}/`,
      `http://localhost:${plainPort}/`,
      `http://[::ffff:127.0.0.1]:${plainPort}/`,
    ]) {
      const r = await post(url, {}, 'ping', 2000, guard);
      assert.equal(r.statusCode, null, url);
      assert.equal(r.responseBody, null);
      assert.match(String(r.refused?.reason), /loopback address/, url);
      assert.match(String(r.error), /^refused: /);
    }
    assert.equal(tcpConnections, before, 'not even a TCP handshake');
  });

  it('lets operator endpoints (no guard) reach anything', async () => {
    const r = await post(`http://127.0.0.1:${plainPort}/x`, {}, 'operator', 2000, null);
    assert.equal(r.statusCode, 200);
  });
});
