// Helpers of the scanning tests: images with an apk package database listing known-vulnerable
// versions, an OSV advisory fixture written to a directory, token-mode Berth servers that scan,
// and waiting for a report.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { backgroundOf } from '../../src/app.js';
import type { BerthConfig, DeepPartial } from '../../src/config/index.js';
import type { Scanning } from '../../src/scan/index.js';
import { ADMIN, call, pushLayerAs } from '../api-v1/helpers.js';
import { digestOf, startServer, type StartOptions, type TestServer } from '../helpers/api-server.js';

export { ADMIN };

/** apk packages of the test images: name → version. */
export type Packages = Record<string, string>;

/** A gzipped layer holding lib/apk/db/installed with the packages (and an os-release naming Alpine), and its diff id. */
export async function apkLayer(packages: Packages): Promise<{ bytes: Buffer; diffId: string }> {
  const db = Object.entries(packages)
    .map(([name, version]) => `C:Q1${randomBytes(20).toString('base64')}\nP:${name}\nV:${version}\nA:x86_64\nS:1000\nI:4000\nT:${name}\nL:MIT\n`)
    .join('\n');
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((r) => pack.on('end', () => r()));
  pack.entry({ name: 'etc/os-release' }, 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.16.2\n');
  pack.entry({ name: 'lib/apk/db/installed' }, `${db}\n`);
  pack.finalize();
  await ended;
  const tarBytes = Buffer.concat(chunks);
  return { bytes: gzipSync(tarBytes), diffId: digestOf(tarBytes) };
}

/** The advisories of the fixture: openssl (a Critical and a High), busybox (a Medium), zlib (fixed before the image's version). */
export const OSV = {
  critical: {
    id: 'BERTH-TEST-0001',
    aliases: ['CVE-2099-0001'],
    summary: 'openssl: remote code execution',
    affected: [
      { package: { ecosystem: 'Alpine:v3.16', name: 'openssl' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.7-r0' }] }] },
    ],
    severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
    database_specific: { severity: 'CRITICAL' },
  },
  high: {
    id: 'BERTH-TEST-0002',
    aliases: ['CVE-2099-0002'],
    summary: 'openssl: denial of service',
    affected: [
      { package: { ecosystem: 'Alpine:v3.16', name: 'openssl' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '3.0.5-r0' }] }] },
    ],
    severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H' }],
    database_specific: { severity: 'HIGH' },
  },
  medium: {
    id: 'BERTH-TEST-0003',
    aliases: ['CVE-2099-0003'],
    summary: 'busybox: out-of-bounds read',
    affected: [
      { package: { ecosystem: 'Alpine:v3.16', name: 'busybox' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.35.0-r18' }] }] },
    ],
    severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:L/A:N' }],
    database_specific: { severity: 'MODERATE' },
  },
  fixedBefore: {
    id: 'BERTH-TEST-0004',
    aliases: ['CVE-2099-0004'],
    summary: 'zlib: heap overflow (fixed before the image)',
    affected: [
      { package: { ecosystem: 'Alpine:v3.16', name: 'zlib' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.2.11-r0' }] }] },
    ],
    severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' }],
    database_specific: { severity: 'CRITICAL' },
  },
  /** Added later (the advisory data changes): busybox gets a High too. */
  later: {
    id: 'BERTH-TEST-0005',
    aliases: ['CVE-2099-0005'],
    summary: 'busybox: command injection',
    affected: [
      { package: { ecosystem: 'Alpine:v3.16', name: 'busybox' }, ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }, { fixed: '1.36.0-r0' }] }] },
    ],
    severity: [{ type: 'CVSS_V3', score: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N' }],
    database_specific: { severity: 'HIGH' },
  },
} as const;

/** The vulnerable image: openssl 3.0.1 (Critical + High), busybox 1.35.0 (Medium), zlib 1.2.12 (not affected). */
export const VULNERABLE: Packages = { openssl: '3.0.1-r0', busybox: '1.35.0-r17', zlib: '1.2.12-r3' };
/** Nothing in the fixture affects these. */
export const CLEAN: Packages = { openssl: '3.0.8-r0', busybox: '1.36.1-r0', zlib: '1.2.13-r0' };

/** Writes OSV files (one per advisory, in an ecosystem directory as OSV lays them out). */
export function writeAdvisories(dir: string, advisories: readonly object[]): void {
  mkdirSync(path.join(dir, 'Alpine'), { recursive: true });
  for (const a of advisories) writeFileSync(path.join(dir, 'Alpine', `${(a as { id: string }).id}.json`), JSON.stringify(a));
}

export function scanningConfig(advisoryDir: string, extra: DeepPartial<BerthConfig> = {}): DeepPartial<BerthConfig> {
  return merge(
    {
      auth: { token: {}, accounts: { adminpassword: ADMIN.password, bcryptcost: 4, loginlimit: 1000, addresslimit: 1000 } },
      scanning: { enabled: true, onpush: false, interval: 200, backoff: 100, advisories: { directory: advisoryDir } },
    },
    extra,
  );
}

function merge<T>(a: T, b: unknown): T {
  if (!b || typeof b !== 'object' || Array.isArray(b)) return (b ?? a) as T;
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [k, v] of Object.entries(b)) out[k] = k in out ? merge(out[k], v) : v;
  return out as T;
}

export function startScanning(advisoryDir: string, extra: DeepPartial<BerthConfig> = {}, opts: StartOptions = {}): Promise<TestServer> {
  return startServer({ ...opts, config: scanningConfig(advisoryDir, extra) });
}

export function scanningOf(s: TestServer): Scanning {
  const sc = backgroundOf(s.app).scanning;
  assert.ok(sc, 'scanning is on');
  return sc;
}

/** Pushes an image whose one layer holds the apk database (as `creds`, admin by default). */
export async function pushApkImage(
  s: TestServer,
  repo: string,
  tag: string,
  packages: Packages,
  creds: { user: string; password: string } = ADMIN,
): Promise<{ digest: string; size: number; mediaType: string; layer: string }> {
  const { bytes, diffId } = await apkLayer(packages);
  return pushLayerAs(s, creds, repo, tag, bytes, { rootfs: { type: 'layers', diff_ids: [diffId] }, config: {} });
}

/** The report once its status is not pending (or fails after `ms`). */
export async function reportWhen(
  s: TestServer,
  repo: string,
  digest: string,
  done: (r: { status: string; advisoryVersion: string | null; [k: string]: unknown }) => boolean = (r) => r.status === 'scanned' || r.status === 'failed',
  ms = 20_000,
): Promise<any> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const r = await call(s, 'GET', `/repositories/${repo}/manifests/${digest}/vulnerabilities`, ADMIN);
    assert.equal(r.status, 200, r.text);
    last = r.body;
    if (done(r.body)) return r.body;
    if (Date.now() > deadline) throw new Error(`report of ${repo}@${digest} not ready within ${ms} ms: ${JSON.stringify(last).slice(0, 500)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}
