// Images for the scanner tests, built here from Node: tar layers (gzip and zstd) holding package databases
// (dpkg status and status.d, apk installed, an rpmdb.sqlite of real rpm header blobs), lock files (npm, Python)
// and a Go binary's build information, listing versions that the advisory fixture (test/fixtures/osv) marks
// vulnerable. EXPECTED says what a scan of each image must find; the scan service's tests assert it too.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import Database from 'better-sqlite3';
import tar from 'tar-stream';
import type { LayerSource } from '../../src/scan/analyze/index.js';
import { REPO_ROOT } from './shared.js';

export const OSV_FIXTURE_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'osv');

export const LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
export const LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface TarEntry {
  path: string;
  data?: Buffer | string;
  mode?: number;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  linkname?: string;
}

/** An uncompressed tar of `entries`, byte-for-byte the same on every run. */
export async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const data = type === 'file' ? Buffer.from(e.data ?? '') : undefined;
    await new Promise<void>((resolve, reject) => {
      const header = {
        name: e.path,
        type,
        mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
        mtime: new Date(1_700_000_000_000),
        ...(e.linkname ? { linkname: e.linkname } : {}),
      };
      if (data) pack.entry(header, data, (err) => (err ? reject(err) : resolve()));
      else pack.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface FixtureLayer {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  diffId: string;
}

export async function layerOf(entries: TarEntry[], compression: 'gzip' | 'zstd' | 'none' = 'gzip'): Promise<FixtureLayer> {
  const raw = await tarOf(entries);
  const bytes =
    compression === 'gzip'
      ? zlib.gzipSync(raw, { level: 6 })
      : compression === 'zstd'
        ? execFileSync('/usr/bin/zstd', ['-q', '-c', '-3'], { input: raw })
        : raw;
  const mediaType = compression === 'gzip' ? LAYER_GZIP : compression === 'zstd' ? LAYER_ZSTD : LAYER_TAR;
  return { digest: sha256(bytes), mediaType, bytes, diffId: sha256(raw) };
}

// ---------------------------------------------------------------------------------------------
// rpm header blobs and rpmdb.sqlite

const RPM_STRING = 6;
const RPM_INT32 = 4;
const RPM_I18NSTRING = 9;

/** An rpm header blob as rpmdb stores it: index entries (tag, type, offset, count) over a data store. */
export function rpmHeaderBlob(tags: { tag: number; value: string | number; i18n?: boolean }[]): Buffer {
  const index: Buffer[] = [];
  const data: Buffer[] = [];
  let size = 0;
  for (const t of [...tags].sort((a, b) => a.tag - b.tag)) {
    let bytes: Buffer;
    let type: number;
    if (typeof t.value === 'number') {
      const pad = (4 - (size % 4)) % 4; // int32 is 4-byte aligned in the store
      if (pad) {
        data.push(Buffer.alloc(pad));
        size += pad;
      }
      bytes = Buffer.alloc(4);
      bytes.writeInt32BE(t.value);
      type = RPM_INT32;
    } else {
      bytes = Buffer.from(`${t.value}\0`);
      type = t.i18n ? RPM_I18NSTRING : RPM_STRING;
    }
    const e = Buffer.alloc(16);
    e.writeInt32BE(t.tag, 0);
    e.writeUInt32BE(type, 4);
    e.writeInt32BE(size, 8);
    e.writeUInt32BE(1, 12);
    index.push(e);
    data.push(bytes);
    size += bytes.length;
  }
  const pre = Buffer.alloc(8);
  pre.writeUInt32BE(index.length, 0);
  pre.writeUInt32BE(size, 4);
  return Buffer.concat([pre, ...index, ...data]);
}

export interface RpmFixturePackage {
  name: string;
  version: string;
  release: string;
  epoch?: number;
  arch?: string;
  sourcerpm?: string;
  license?: string;
}

export function rpmPackageBlob(p: RpmFixturePackage): Buffer {
  return rpmHeaderBlob([
    { tag: 1000, value: p.name },
    { tag: 1001, value: p.version },
    { tag: 1002, value: p.release },
    ...(p.epoch !== undefined ? [{ tag: 1003, value: p.epoch }] : []),
    { tag: 1004, value: `${p.name} package`, i18n: true },
    ...(p.license ? [{ tag: 1014, value: p.license }] : []),
    { tag: 1022, value: p.arch ?? 'x86_64' },
    ...(p.sourcerpm ? [{ tag: 1044, value: p.sourcerpm }] : []),
  ]);
}

/** The bytes of an rpmdb.sqlite (rpm 4.16+ schema) holding `pkgs`. */
export function rpmdbSqlite(pkgs: RpmFixturePackage[]): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-rpmdb-fixture-'));
  try {
    const file = path.join(dir, 'rpmdb.sqlite');
    const db = new Database(file);
    db.exec('CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)');
    db.exec('CREATE TABLE Name (key TEXT NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY(key, hnum, idx))');
    const ins = db.prepare('INSERT INTO Packages (blob) VALUES (?)');
    const name = db.prepare('INSERT INTO Name (key, hnum, idx) VALUES (?, ?, 0)');
    for (const p of pkgs) name.run(p.name, ins.run(rpmPackageBlob(p)).lastInsertRowid);
    db.close();
    return fs.readFileSync(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Go build information

const MOD_START = Buffer.from('3077af0c9274080241e1c107e6d618e6', 'hex');
const MOD_END = Buffer.from('f932433186182072008242104116d8f2', 'hex');

function uvarint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/**
 * An ELF file carrying Go 1.18+ build information (the `.go.buildinfo` layout the Go linker writes: a 16-byte
 * aligned header, then the version and the framed module information as varint-prefixed strings) padded to
 * `size`, with the build information at `at` (rounded to 16).
 */
export function goBinary(goVersion: string, modinfo: string, opts: { size?: number; at?: number } = {}): Buffer {
  const size = opts.size ?? 256 * 1024;
  const at = Math.floor((opts.at ?? size - 8192) / 16) * 16;
  const header = Buffer.alloc(32);
  Buffer.from('\xff Go buildinf:', 'latin1').copy(header);
  header[14] = 8; // pointer size
  header[15] = 2; // flags: inline strings, little endian
  const mod = Buffer.concat([MOD_START, Buffer.from(modinfo), MOD_END]);
  const info = Buffer.concat([header, uvarint(goVersion.length), Buffer.from(goVersion), uvarint(mod.length), mod]);
  const out = Buffer.alloc(Math.max(size, at + info.length));
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(out); // ELF64, little endian
  info.copy(out, at);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The fixture images

export interface FixtureImage {
  name: string;
  layers: FixtureLayer[];
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  manifestDigest: string;
}

export async function imageOf(name: string, layers: FixtureLayer[]): Promise<FixtureImage> {
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) }, history: [] }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.bytes.length })),
    }),
  );
  return { name, layers, config, configDigest: sha256(config), manifest, manifestDigest: sha256(manifest) };
}

/** The layers as analyzeImage takes them (each opened as a fresh stream). */
export function layerSources(image: FixtureImage): LayerSource[] {
  return image.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, open: async () => Readable.from([l.bytes]) }));
}

const DEBIAN_OS_RELEASE = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`;

const DPKG_STATUS = `Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.11-1~deb12u1
Description: Secure Sockets Layer toolkit - shared libraries
 This package is part of the OpenSSL project's implementation of the SSL
 and TLS cryptographic protocols for secure communication over the Internet.

Package: openssl
Status: install ok installed
Architecture: amd64
Version: 3.0.11-1~deb12u1
Description: Secure Sockets Layer toolkit - cryptographic utility

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
Description: compression library - runtime

Package: bash
Essential: yes
Status: install ok installed
Architecture: amd64
Source: bash (5.2.15-2)
Version: 5.2.15-2+b2
Description: GNU Bourne Again SHell

Package: tar
Status: install ok installed
Architecture: amd64
Version: 1.34+dfsg-1.2
Description: GNU version of the tar archiving utility

Package: libold
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
Description: removed, only its configuration files are left
`;

const TZDATA_STATUS_D = `Package: tzdata
Version: 2024a-0+deb12u1
Architecture: all
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Description: time zone and daylight-saving time data
`;

const PACKAGE_LOCK = {
  name: 'app',
  version: '1.0.0',
  lockfileVersion: 3,
  requires: true,
  packages: {
    '': { name: 'app', version: '1.0.0', dependencies: { lodash: '^4.17.20', minimist: '1.2.5', express: '4.18.2' } },
    'node_modules/lodash': { version: '4.17.20', resolved: 'https://registry.npmjs.org/lodash/-/lodash-4.17.20.tgz', license: 'MIT' },
    'node_modules/minimist': { version: '1.2.5', license: 'MIT' },
    'node_modules/express': { version: '4.18.2', license: 'MIT' },
    'node_modules/@babel/traverse': { version: '7.22.5', license: 'MIT' },
    'node_modules/mocha': { version: '10.0.0', dev: true, license: 'MIT' },
  },
};

const GO_MODINFO = [
  'path\texample.com/app/cmd/app',
  'mod\texample.com/app\t(devel)\t',
  'dep\tgithub.com/example/noseverity\tv1.0.0\th1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
  'dep\tgolang.org/x/net\tv0.17.0\th1:pVaXccu2ozPjCXewfr1S7xza/zcXTity9cCdXQYSjIM=',
  'dep\tgolang.org/x/text\tv0.3.4\th1:0YWbFKbhXG/wIiuHDSKpS0Iy7FSA+u45VtBMfQcFTTc=',
  '=>\tgolang.org/x/text\tv0.3.5\th1:i6eZZ+zk0SOf0xgBpEpPD18qWcJda6q1sxt3S0kzyUQ=',
  'build\t-compiler=gc',
  'build\tCGO_ENABLED=0',
  'build\tGOARCH=amd64',
  'build\tGOOS=linux',
  '',
].join('\n');

/**
 * Debian 12 with an application: dpkg status and a distroless status.d file, a package-lock.json v3 and
 * node_modules, Python dist-info and requirements.txt, a Go binary. The second layer (zstd) deletes a
 * vulnerable npm package with a whiteout and replaces a Python package by an opaque directory.
 */
export async function debianImage(): Promise<FixtureImage> {
  const base = await layerOf([
    { path: 'etc/', type: 'directory' },
    { path: 'usr/lib/os-release', data: DEBIAN_OS_RELEASE },
    { path: 'etc/os-release', type: 'symlink', linkname: '../usr/lib/os-release' },
    { path: 'var/lib/dpkg/status', data: DPKG_STATUS },
    { path: 'var/lib/dpkg/status.d/tzdata', data: TZDATA_STATUS_D },
    { path: 'var/lib/dpkg/status.d/tzdata.md5sums', data: 'd41d8cd98f00b204e9800998ecf8427e  usr/share/zoneinfo/UTC\n' },
    { path: 'app/package.json', data: JSON.stringify({ name: 'app', version: '1.0.0' }) },
    { path: 'app/package-lock.json', data: JSON.stringify(PACKAGE_LOCK, null, 2) },
    { path: 'app/node_modules/lodash/package.json', data: JSON.stringify({ name: 'lodash', version: '4.17.20', license: 'MIT' }) },
    { path: 'app/node_modules/@babel/traverse/package.json', data: JSON.stringify({ name: '@babel/traverse', version: '7.22.5' }) },
    { path: 'app/node_modules/event-stream/package.json', data: JSON.stringify({ name: 'event-stream', version: '3.3.6' }) },
    {
      path: 'usr/lib/python3/dist-packages/requests-2.25.0.dist-info/METADATA',
      data: 'Metadata-Version: 2.1\nName: requests\nVersion: 2.25.0\nLicense: Apache 2.0\n\nRequests is an HTTP library.\n',
    },
    { path: 'opt/venv/lib/python3.11/site-packages/Django-4.2.1.dist-info/METADATA', data: 'Metadata-Version: 2.1\nName: Django\nVersion: 4.2.1\n' },
    { path: 'app/requirements.txt', data: '# pinned\nurllib3==1.26.4\nidna[all]==3.6 ; python_version >= "3.8"\nsix>=1.0\n-r other.txt\n' },
  ]);
  const app = await layerOf(
    [
      { path: 'app/node_modules/.wh.event-stream', data: '' },
      { path: 'opt/venv/lib/python3.11/site-packages/.wh..wh..opq', data: '' },
      { path: 'opt/venv/lib/python3.11/site-packages/certifi-2024.2.2.dist-info/METADATA', data: 'Metadata-Version: 2.1\nName: certifi\nVersion: 2024.2.2\n' },
      { path: 'usr/local/bin/app', data: goBinary('go1.20.1', GO_MODINFO), mode: 0o755 },
    ],
    'zstd',
  );
  return imageOf('scan/debian-app', [base, app]);
}

const ALPINE_OS_RELEASE = `NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.19.1
PRETTY_NAME="Alpine Linux v3.19"
`;

const APK_INSTALLED = `C:Q1abc=
P:busybox
V:1.36.1-r15
A:x86_64
S:500000
I:900000
T:Size optimized toolbox of many common UNIX utilities
U:https://busybox.net/
L:GPL-2.0-only
o:busybox
m:Sören Tempel <soeren+alpine@soeren-tempel.net>
t:1700000000
c:abcdef
F:bin
R:busybox
a:0:0:755
Z:Q1xyz=

C:Q1def=
P:ssl_client
V:1.36.1-r15
A:x86_64
L:GPL-2.0-only
o:busybox

C:Q1ghi=
P:libcrypto3
V:3.1.4-r5
A:x86_64
L:Apache-2.0
o:openssl

C:Q1jkl=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
L:MIT
o:musl
`;

const POETRY_LOCK = `# This file is automatically @generated by Poetry and should not be changed by hand.

[[package]]
name = "django"
version = "4.2.1"
description = "A high-level Python web framework"
optional = false
python-versions = ">=3.8"

[package.dependencies]
asgiref = ">=3.6.0,<4"

[[package]]
name = "asgiref"
version = "3.7.2"
description = "ASGI specs, helper code, and adapters"
optional = false

[metadata]
lock-version = "2.0"
content-hash = "abc"
`;

/** Alpine 3.19: apk installed database (busybox and ssl_client share the busybox origin) and a poetry.lock. */
export async function alpineImage(): Promise<FixtureImage> {
  const layer = await layerOf([
    { path: 'etc/os-release', data: ALPINE_OS_RELEASE },
    { path: 'lib/apk/db/installed', data: APK_INSTALLED },
    { path: 'srv/poetry.lock', data: POETRY_LOCK },
  ]);
  return imageOf('scan/alpine', [layer]);
}

const RHEL_OS_RELEASE = `NAME="Red Hat Enterprise Linux"
VERSION="9.3 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.3"
PRETTY_NAME="Red Hat Enterprise Linux 9.3 (Plow)"
`;

const PIPFILE_LOCK = {
  _meta: { hash: { sha256: 'abc' }, 'pipfile-spec': 6 },
  default: { flask: { hashes: [], version: '==2.2.0' }, werkzeug: { version: '==3.0.1' } },
  develop: { pytest: { version: '==7.1.0' } },
};

/** Red Hat Enterprise Linux 9 (UBI): an rpmdb.sqlite of rpm header blobs and a Pipfile.lock. */
export async function rhelImage(): Promise<FixtureImage> {
  const rpmdb = rpmdbSqlite([
    { name: 'openssl-libs', epoch: 1, version: '3.0.7', release: '24.el9', sourcerpm: 'openssl-3.0.7-24.el9.src.rpm', license: 'ASL 2.0' },
    { name: 'glibc', version: '2.34', release: '83.el9_3.7', sourcerpm: 'glibc-2.34-83.el9_3.7.src.rpm', license: 'LGPLv2+' },
    { name: 'bash', version: '5.1.8', release: '6.el9_1', sourcerpm: 'bash-5.1.8-6.el9_1.src.rpm', license: 'GPLv3+' },
    { name: 'gpg-pubkey', version: 'fd431d51', release: '4ae0493b' },
  ]);
  const layer = await layerOf([
    { path: 'etc/os-release', data: RHEL_OS_RELEASE },
    { path: 'var/lib/rpm/rpmdb.sqlite', data: rpmdb },
    { path: 'opt/app/Pipfile.lock', data: JSON.stringify(PIPFILE_LOCK) },
  ]);
  return imageOf('scan/rhel', [layer]);
}

export interface Counts {
  critical: number;
  high: number;
  medium: number;
  low: number;
  unknown: number;
}

export interface Expected {
  os: { id: string; version: string };
  /** ecosystem/name@version of every package the analyser must report. */
  packages: string[];
  /** `<advisory id> <package>` of every finding. */
  findings: string[];
  counts: Counts;
}

/** What a scan of each fixture image against test/fixtures/osv must report. */
export const EXPECTED: Record<'debian' | 'alpine' | 'rhel', Expected> = {
  debian: {
    os: { id: 'debian', version: '12' },
    packages: [
      'Debian:12/bash@5.2.15-2+b2',
      'Debian:12/libssl3@3.0.11-1~deb12u1',
      'Debian:12/openssl@3.0.11-1~deb12u1',
      'Debian:12/tar@1.34+dfsg-1.2',
      'Debian:12/tzdata@2024a-0+deb12u1',
      'Debian:12/zlib1g@1:1.2.13.dfsg-1',
      'Go/github.com/example/noseverity@v1.0.0',
      'Go/golang.org/x/net@v0.17.0',
      'Go/golang.org/x/text@v0.3.5',
      'Go/stdlib@v1.20.1',
      'PyPI/certifi@2024.2.2',
      'PyPI/idna@3.6',
      'PyPI/requests@2.25.0',
      'PyPI/urllib3@1.26.4',
      'npm/@babel/traverse@7.22.5',
      'npm/express@4.18.2',
      'npm/lodash@4.17.20',
      'npm/minimist@1.2.5',
    ],
    findings: [
      'DEBIAN-CVE-2023-45853 zlib1g',
      'DSA-5585-1 libssl3',
      'DSA-5585-1 openssl',
      'GHSA-35jh-r3h4-6jhm lodash',
      'GHSA-67hx-6x53-jw92 @babel/traverse',
      'GHSA-j8r2-6x86-q33q requests',
      'GHSA-q2q7-5pp4-w6pg urllib3',
      'GHSA-rv95-896h-c2vc express',
      'GHSA-xvch-5gv4-984h minimist',
      'GO-2021-0113 golang.org/x/text',
      'GO-2023-1621 stdlib',
      'GO-2024-0001 github.com/example/noseverity',
      'PYSEC-2024-60 idna',
    ],
    counts: { critical: 3, high: 3, medium: 5, low: 1, unknown: 1 },
  },
  alpine: {
    os: { id: 'alpine', version: '3.19.1' },
    packages: [
      'Alpine:v3.19/busybox@1.36.1-r15',
      'Alpine:v3.19/libcrypto3@3.1.4-r5',
      'Alpine:v3.19/musl@1.2.4_git20230717-r4',
      'Alpine:v3.19/ssl_client@1.36.1-r15',
      'PyPI/asgiref@3.7.2',
      'PyPI/django@4.2.1',
    ],
    findings: ['ALPINE-CVE-2023-42366 busybox', 'ALPINE-CVE-2023-42366 ssl_client', 'ALPINE-CVE-2024-0727 libcrypto3', 'GHSA-2m57-hf25-phgg django'],
    counts: { critical: 1, high: 1, medium: 2, low: 0, unknown: 0 },
  },
  rhel: {
    os: { id: 'rhel', version: '9.3' },
    packages: [
      'PyPI/flask@2.2.0',
      'PyPI/werkzeug@3.0.1',
      'Red Hat:9/bash@5.1.8-6.el9_1',
      'Red Hat:9/glibc@2.34-83.el9_3.7',
      'Red Hat:9/openssl-libs@1:3.0.7-24.el9',
    ],
    findings: ['GHSA-m2qf-hxjv-5gpq flask', 'RHSA-2024:0310 openssl-libs', 'RHSA-2024:2722 glibc'],
    counts: { critical: 0, high: 3, medium: 0, low: 0, unknown: 0 },
  },
};

/** The advisory fixture's files, as loadOsv takes them. */
export async function* osvFixtureFiles(dir = OSV_FIXTURE_DIR): AsyncIterable<{ path: string; bytes: Buffer }> {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    yield { path: path.relative(dir, full), bytes: fs.readFileSync(full) };
  }
}

/**
 * Pushes a fixture image to a registry (blobs by POST + PUT ?digest=, then the manifest under `ref`), with
 * `headers` (e.g. a bearer token) on every request. Returns the manifest's descriptor.
 */
export async function pushFixtureImage(
  baseUrl: string,
  repo: string,
  ref: string,
  image: FixtureImage,
  headers: Record<string, string> = {},
): Promise<{ digest: string; size: number; mediaType: string }> {
  const blob = async (digest: string, bytes: Buffer) => {
    const start = await fetch(`${baseUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
    if (start.status !== 202) throw new Error(`upload start in ${repo}: ${start.status} ${await start.text()}`);
    const loc = new URL(start.headers.get('location')!, baseUrl);
    loc.searchParams.set('digest', digest);
    const put = await fetch(loc, { method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: new Uint8Array(bytes) });
    if (put.status !== 201) throw new Error(`upload ${digest} in ${repo}: ${put.status} ${await put.text()}`);
  };
  for (const l of image.layers) await blob(l.digest, l.bytes);
  await blob(image.configDigest, image.config);
  const mediaType = 'application/vnd.oci.image.manifest.v1+json';
  const res = await fetch(`${baseUrl}/v2/${repo}/manifests/${ref}`, {
    method: 'PUT',
    headers: { ...headers, 'content-type': mediaType },
    body: new Uint8Array(image.manifest),
  });
  if (res.status !== 201) throw new Error(`push manifest ${repo}:${ref}: ${res.status} ${await res.text()}`);
  return { digest: image.manifestDigest, size: image.manifest.length, mediaType };
}

/** Writes the images to an OCI image layout (for skopeo, podman, umoci), tagged by `tags`. */
export function writeOciLayout(dir: string, images: { image: FixtureImage; tag: string }[]): void {
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (digest: string, bytes: Buffer) => fs.writeFileSync(path.join(blobs, digest.slice('sha256:'.length)), bytes);
  for (const { image } of images) {
    for (const l of image.layers) put(l.digest, l.bytes);
    put(image.configDigest, image.config);
    put(image.manifestDigest, image.manifest);
  }
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: images.map(({ image, tag }) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: image.manifestDigest,
        size: image.manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': tag },
      })),
    }),
  );
}
