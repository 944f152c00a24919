// Aliyun OSS through its S3-compatible API, with the example settings of docs/storage.md (virtual-hosted
// addressing, a region name of OSS, copies above 1 GiB by UploadPartCopy), run against Ceph RGW: the
// conformance suite passes, and a recording proxy between the driver and RGW shows what OSS requires on
// the wire — the bucket in the Host name (never in the path), Content-MD5 on DeleteObjects and no
// x-amz-checksum-* header or aws-chunked body anywhere.
//
// RGW finds the bucket in the Host name because the test cluster's `rgw dns name` is `localhost`;
// `<bucket>.localhost` resolves to 127.0.0.1 through an /etc/hosts line this file adds (as root) when
// it is missing.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { S3Config } from '../../src/config/index.js';
import { S3Driver } from '../../src/storage/s3.js';
import { rgw, s3Config } from '../helpers/s3.js';
import { storageDriverSuite } from './driver-suite.js';

const MiB = 1024 * 1024;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** the body when it is small (DeleteObjects' XML), for its MD5 */
  body?: Buffer;
  status: number;
}

/** An HTTP proxy in front of RGW that records each request and passes it on unchanged (Host included). */
async function recordingProxy(target: string): Promise<{ port: number; seen: Seen[]; close(): Promise<void> }> {
  const t = new URL(target);
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const rec: Seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, status: 0 };
    seen.push(rec);
    const small = Number(req.headers['content-length'] ?? Number.NaN) <= 64 * 1024;
    const chunks: Buffer[] = [];
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      rec.status = upRes.statusCode ?? 0;
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.on('data', (c: Buffer) => {
      if (small) chunks.push(c);
    });
    req.on('end', () => {
      if (small) rec.body = Buffer.concat(chunks);
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `<name>` resolves to 127.0.0.1: an /etc/hosts line, added when missing (the tests run as root). */
function resolveToLoopback(name: string): void {
  const hosts = readFileSync('/etc/hosts', 'utf8');
  if (hosts.split('\n').some((l) => l.trim().split(/\s+/).slice(1).includes(name))) return;
  try {
    appendFileSync('/etc/hosts', `${hosts.endsWith('\n') ? '' : '\n'}127.0.0.1 ${name}\n`);
  } catch (err) {
    throw new Error(`${name} must resolve to 127.0.0.1 for the virtual-hosted test: add it to /etc/hosts (${(err as Error).message})`);
  }
}

let proxy: Awaited<ReturnType<typeof recordingProxy>>;
let config: S3Config;
let bucketHost: string;

before(async () => {
  const e = await rgw();
  resolveToLoopback(`${e.bucket}.localhost`);
  proxy = await recordingProxy(e.endpoint);
  bucketHost = `${e.bucket}.localhost:${proxy.port}`;
  // The example of docs/storage.md, with RGW behind the proxy as the endpoint.
  config = await s3Config({
    region: 'oss-cn-hangzhou',
    regionendpoint: `http://localhost:${proxy.port}`,
    forcepathstyle: false,
    multipartcopythresholdsize: 1024 * MiB,
    chunksize: 5 * MiB,
  });
});
after(() => proxy?.close());

storageDriverSuite('s3 with the Aliyun OSS settings (virtual-hosted, Ceph RGW)', async () => new S3Driver(config));

describe('s3 with the Aliyun OSS settings', () => {
  it('refuses path-style addressing with an OSS endpoint at start-up, naming the key', () => {
    for (const regionendpoint of ['https://oss-cn-hangzhou.aliyuncs.com', 'oss-cn-beijing-internal.aliyuncs.com']) {
      assert.throws(
        () => new S3Driver({ ...config, regionendpoint, forcepathstyle: true }),
        (err: Error) => {
          assert.equal(err.name, 'ConfigError');
          assert.match(err.message, /^storage\.s3\.forcepathstyle: Aliyun OSS accepts only virtual-hosted/);
          return true;
        },
      );
      assert.ok(new S3Driver({ ...config, regionendpoint, forcepathstyle: false }));
    }
    assert.ok(new S3Driver({ ...config, regionendpoint: 'https://notaliyuncs.com', forcepathstyle: true }));
  });

  it('sends DeleteObjects with Content-MD5 of its body and no CRC32, the bucket in the Host name', async () => {
    const d = new S3Driver(config);
    const keys = [`oss/${randomBytes(6).toString('hex')}/a`, `oss/${randomBytes(6).toString('hex')}/b`];
    for (const k of keys) await d.put(k, randomBytes(100));
    const from = proxy.seen.length;
    await d.deleteMany(keys);
    for (const k of keys) assert.equal(await d.stat(k), null, `${k} was deleted`);
    const deletes = proxy.seen.slice(from).filter((r) => r.method === 'POST' && /[?&]delete(=|&|$)/.test(r.url));
    assert.equal(deletes.length, 1, JSON.stringify(proxy.seen.slice(from).map((r) => `${r.method} ${r.url}`)));
    const del = deletes[0];
    assert.equal(del.status, 200);
    assert.equal(del.headers.host, bucketHost);
    assert.ok(del.body && del.body.length > 0, 'the DeleteObjects body was recorded');
    assert.equal(del.headers['content-md5'], createHash('md5').update(del.body).digest('base64'));
    assert.deepEqual(
      Object.keys(del.headers).filter((h) => h.startsWith('x-amz-checksum-') || h === 'x-amz-sdk-checksum-algorithm'),
      [],
    );
  });

  it('an upload in parts, a commit and an abort: every request virtual-hosted, none with a checksum header or aws-chunked body', async () => {
    const d = new S3Driver(config);
    const from = proxy.seen.length;
    const id = randomBytes(8).toString('hex');
    await d.uploadCreate(id);
    const data = randomBytes(6 * MiB + 123);
    assert.equal(await d.uploadAppend(id, 0, Readable.from([data.subarray(0, 3 * MiB), data.subarray(3 * MiB)])), data.length);
    const key = `blobs/sha256/0f/${randomBytes(8).toString('hex')}`;
    await d.uploadCommit(id, key);
    assert.deepEqual(await d.stat(key), { size: data.length });
    const other = randomBytes(8).toString('hex');
    await d.uploadCreate(other);
    await d.uploadAbort(other);
    await d.delete(key);
    const requests = proxy.seen.slice(from);
    const kinds = new Set(requests.map((r) => r.method));
    for (const m of ['PUT', 'POST', 'GET', 'HEAD', 'DELETE']) assert.ok(kinds.has(m), `a ${m} request was made`);
    for (const r of requests) {
      const what = `${r.method} ${r.url}`;
      assert.equal(r.headers.host, bucketHost, what);
      assert.ok(!r.url.startsWith(`/${bucketHost.split('.')[0]}/`) && !r.url.startsWith(`/${bucketHost.split('.')[0]}?`), `path-style: ${what}`);
      assert.deepEqual(
        Object.keys(r.headers).filter((h) => h.startsWith('x-amz-checksum-') || h === 'x-amz-trailer'),
        [],
        what,
      );
      assert.doesNotMatch(String(r.headers['content-encoding'] ?? ''), /aws-chunked/, what);
      assert.ok(r.status >= 200 && r.status < 300, `${what}: ${r.status}`);
    }
  });
});
