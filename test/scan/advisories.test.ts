// Advisory data and the schedule: a new version of the OSV data (files added to the directory; a
// zip served at a URL changing) re-queues the images reported with the old one, and their reports
// follow; an unchanged URL answers 304 to the conditional reload; a URL on an internal address is
// refused by the outbound rules unless scanning.allow names it, and then scans fail rather than
// report an image clean.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { zipSync, strToU8 } from 'fflate';
import { backgroundOf } from '../../src/app.js';
import { removeDir, startServer, tempDir, type TestServer } from '../helpers/api-server.js';
import { OSV, VULNERABLE, pushApkImage, reportWhen, scanningConfig, writeAdvisories } from './helpers.js';

const rescan = (s: TestServer) => backgroundOf(s.app).jobs.runNow('scan-advisories');

describe('advisory data from a directory', () => {
  let s: TestServer;
  let dir: string;
  before(async () => {
    dir = tempDir('berth-osv-');
    writeAdvisories(dir, [OSV.critical, OSV.high, OSV.medium]);
    s = await startServer({ config: scanningConfig(dir, { scanning: { onpush: true } }) });
  });
  after(async () => {
    await s?.close();
    if (s) removeDir(s.dir);
    removeDir(dir);
  });

  test('a push is scanned without being asked; new advisories re-scan it and its report follows', async () => {
    const img = await pushApkImage(s, 'admin/app', 'v1', VULNERABLE);
    const first = await reportWhen(s, 'admin/app', img.digest);
    assert.deepEqual(first.counts, { critical: 1, high: 1, medium: 1, low: 0, unknown: 0 });
    await rescan(s);
    const same = await reportWhen(s, 'admin/app', img.digest);
    assert.equal(same.scannedAt, first.scannedAt, 'unchanged data: no re-scan');

    writeAdvisories(dir, [OSV.later]);
    await rescan(s);
    const next = await reportWhen(s, 'admin/app', img.digest, (r) => r.status === 'scanned' && r.advisoryVersion !== first.advisoryVersion);
    assert.deepEqual(next.counts, { critical: 1, high: 2, medium: 1, low: 0, unknown: 0 });
    assert.ok(next.findings.some((f: { id: string }) => f.id === 'BERTH-TEST-0005'));
  });
});

/** Serves one zip of OSV files at /osv/all.zip, with an ETag; counts requests and 304s. */
class AdvisoryServer {
  zip: Buffer = Buffer.alloc(0);
  requests = 0;
  notModified = 0;
  private server = http.createServer((req, res) => {
    this.requests++;
    const etag = `"${createHash('sha256').update(this.zip).digest('hex').slice(0, 16)}"`;
    if (req.url !== '/osv/all.zip') return void res.writeHead(404).end();
    if (req.headers['if-none-match'] === etag) {
      this.notModified++;
      return void res.writeHead(304, { etag }).end();
    }
    res.writeHead(200, { 'content-type': 'application/zip', etag, 'content-length': this.zip.length }).end(this.zip);
  });

  set(advisories: readonly { id: string }[]): void {
    this.zip = Buffer.from(zipSync(Object.fromEntries(advisories.map((a) => [`${a.id}.json`, strToU8(JSON.stringify(a))]))));
  }

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/osv/all.zip`;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

describe('advisory data from a URL', () => {
  const osv = new AdvisoryServer();
  let url: string;
  let allowed: TestServer;
  let refused: TestServer;
  before(async () => {
    osv.set([OSV.critical, OSV.medium]);
    url = await osv.start();
    allowed = await startServer({ config: scanningConfig('', { scanning: { onpush: true, allow: ['127.0.0.1'], advisories: { directory: '', url } } }) });
    refused = await startServer({ config: scanningConfig('', { scanning: { onpush: true, attempts: 1, advisories: { directory: '', url } } }) });
  });
  after(async () => {
    for (const s of [allowed, refused]) {
      await s?.close();
      if (s) removeDir(s.dir);
    }
    await osv.close();
  });

  test('a zip at an allowed URL is loaded; a changed zip re-scans, an unchanged one answers 304', async () => {
    const img = await pushApkImage(allowed, 'admin/app', 'v1', VULNERABLE);
    const first = await reportWhen(allowed, 'admin/app', img.digest);
    assert.deepEqual(first.counts, { critical: 1, high: 0, medium: 1, low: 0, unknown: 0 });

    const before304 = osv.notModified;
    await rescan(allowed);
    assert.equal(osv.notModified, before304 + 1, 'the reload asked with If-None-Match and got 304');

    osv.set([OSV.critical, OSV.medium, OSV.high]);
    await rescan(allowed);
    const next = await reportWhen(allowed, 'admin/app', img.digest, (r) => r.status === 'scanned' && r.advisoryVersion !== first.advisoryVersion);
    assert.deepEqual(next.counts, { critical: 1, high: 1, medium: 1, low: 0, unknown: 0 });
  });

  test('an internal URL the allow-list does not name is never fetched; scans fail instead of reporting the image clean', async () => {
    const before = osv.requests;
    const img = await pushApkImage(refused, 'admin/app', 'v1', VULNERABLE);
    const r = await reportWhen(refused, 'admin/app', img.digest);
    assert.equal(r.status, 'failed');
    assert.match(r.error, /advisory data has not been loaded/);
    assert.equal(osv.requests, before, 'nothing reached the advisory server');
  });
});
