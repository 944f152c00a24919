// The image analyser: layers read as streams (gzip, zstd, plain tar), whiteouts and opaque directories
// honoured, each package database and lock file read, files over maxFileBytes skipped and named.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { scanGoBinary } from '../../src/scan/analyze/go-buildinfo.js';
import { type AnalyzeResult, analyzeImage, LayerFormatError, type LayerSource } from '../../src/scan/analyze/index.js';
import { parsePackageLock } from '../../src/scan/analyze/npm.js';
import { parsePoetryLock, parseRequirements } from '../../src/scan/analyze/python.js';
import { berkeleyHashValues, BerkeleyDbError } from '../../src/scan/analyze/berkeley-db.js';
import { parseRpmBerkeleyDb, parseRpmHeader, RpmHeaderError, rpmPackage } from '../../src/scan/analyze/rpm.js';
import { alpineImage, debianImage, EXPECTED, goBinary, layerOf, layerSources, rhelImage, rpmPackageBlob } from '../helpers/scan-images.js';

const MAX = 1 << 20;
/** A ustar header for a regular file. */
function tarHeader(name: string, size: number, mode: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write(`${mode.toString(8).padStart(7, '0')}\0`, 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\x0000', 257, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

const ids = (r: AnalyzeResult) => r.packages.map((p) => `${p.ecosystem}/${p.name}@${p.version}`).sort();
const sources = (layers: Awaited<ReturnType<typeof layerOf>>[]): LayerSource[] =>
  layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, open: async () => Readable.from([l.bytes]) }));

describe('analyzeImage', () => {
  it('reads dpkg, npm, Python and Go build information of a Debian image across gzip and zstd layers', async () => {
    const image = await debianImage();
    assert.deepEqual(
      image.layers.map((l) => l.mediaType),
      ['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar+zstd'],
    );
    const r = await analyzeImage(layerSources(image), { maxFileBytes: MAX });
    assert.deepEqual(r.os && { id: r.os.id, version: r.os.version }, EXPECTED.debian.os);
    assert.deepEqual(ids(r), EXPECTED.debian.packages.slice().sort());
    assert.deepEqual(r.skipped, []);
    const libssl = r.packages.find((p) => p.name === 'libssl3')!;
    assert.equal(libssl.purl, 'pkg:deb/debian/libssl3@3.0.11-1~deb12u1?arch=amd64&distro=debian-12');
    assert.equal(libssl.sourceName, 'openssl');
    assert.equal(libssl.source, 'var/lib/dpkg/status');
    assert.equal(libssl.layer, image.layers[0].digest);
    const bash = r.packages.find((p) => p.name === 'bash')!;
    assert.deepEqual([bash.sourceName, bash.sourceVersion], ['bash', '5.2.15-2'], 'a binNMU carries its source version');
    const text = r.packages.find((p) => p.name === 'golang.org/x/text')!;
    assert.equal(text.version, 'v0.3.5', 'a replaced Go module reports the replacement');
    assert.equal(text.purl, 'pkg:golang/golang.org/x/text@v0.3.5');
    assert.equal(text.layer, image.layers[1].digest);
    assert.equal(r.packages.find((p) => p.name === '@babel/traverse')!.purl, 'pkg:npm/%40babel/traverse@7.22.5');
  });

  it('does not report what a later layer deleted (whiteout, opaque directory) or dpkg marks removed', async () => {
    const r = await analyzeImage(layerSources(await debianImage()), { maxFileBytes: MAX });
    const names = new Set(r.packages.map((p) => p.name));
    assert.ok(!names.has('event-stream'), 'whited out by app/node_modules/.wh.event-stream');
    assert.ok(!names.has('Django'), 'hidden by the opaque site-packages directory');
    assert.ok(names.has('certifi'), 'what the opaque directory itself holds stays');
    assert.ok(!names.has('libold'), 'Status: deinstall ok config-files');
    assert.ok(!names.has('mocha'), 'a development dependency of package-lock.json');
    assert.ok(!names.has('six'), 'requirements.txt without an exact pin');
  });

  it('a file replaced or deleted in a later layer takes its packages with it', async () => {
    const lower = await layerOf([
      { path: 'var/lib/dpkg/status', data: 'Package: a\nStatus: install ok installed\nVersion: 1\n' },
      { path: 'lib/apk/db/installed', data: 'P:b\nV:1-r0\n' },
      { path: 'srv/app/package-lock.json', data: JSON.stringify({ lockfileVersion: 3, packages: { 'node_modules/c': { version: '1.0.0' } } }) },
    ]);
    const upper = await layerOf(
      [
        { path: 'var/lib/dpkg/status', data: 'Package: a2\nStatus: install ok installed\nVersion: 2\n' },
        { path: 'lib/apk/db/.wh.installed' },
        { path: 'srv/.wh.app' },
      ],
      'none',
    );
    const r = await analyzeImage(sources([lower, upper]), { maxFileBytes: MAX });
    assert.deepEqual(ids(r), ['Debian/a2@2']);
    // without the upper layer all three are there (and, with no os-release, the ecosystems carry no release)
    assert.deepEqual(ids(await analyzeImage(sources([lower]), { maxFileBytes: MAX })), ['Alpine/b@1-r0', 'Debian/a@1', 'npm/c@1.0.0']);
  });

  it('reads apk installed (origins) and poetry.lock of an Alpine image', async () => {
    const r = await analyzeImage(layerSources(await alpineImage()), { maxFileBytes: MAX });
    assert.deepEqual(r.os && { id: r.os.id, version: r.os.version }, EXPECTED.alpine.os);
    assert.deepEqual(ids(r), EXPECTED.alpine.packages.slice().sort());
    const ssl = r.packages.find((p) => p.name === 'ssl_client')!;
    assert.equal(ssl.sourceName, 'busybox');
    assert.equal(ssl.purl, 'pkg:apk/alpine/ssl_client@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1');
  });

  it('reads the rpm headers of rpmdb.sqlite and a Pipfile.lock of a RHEL image', async () => {
    const r = await analyzeImage(layerSources(await rhelImage()), { maxFileBytes: MAX });
    assert.deepEqual(r.os && { id: r.os.id, version: r.os.version }, EXPECTED.rhel.os);
    assert.deepEqual(ids(r), EXPECTED.rhel.packages.slice().sort());
    const ssl = r.packages.find((p) => p.name === 'openssl-libs')!;
    assert.equal(ssl.sourceName, 'openssl');
    assert.equal(ssl.license, 'ASL 2.0');
    assert.equal(ssl.purl, 'pkg:rpm/redhat/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rhel-9.3&epoch=1');
  });

  it('skips a package database over maxFileBytes and says so', async () => {
    const image = await debianImage();
    const r = await analyzeImage(layerSources(image), { maxFileBytes: 400 });
    assert.ok(!r.packages.some((p) => p.name === 'libssl3'));
    const skip = r.skipped.find((s) => s.path === 'var/lib/dpkg/status');
    assert.ok(skip, JSON.stringify(r.skipped));
    assert.equal(skip.layer, image.layers[0].digest);
    assert.match(skip.reason, /maxFileBytes 400/);
    assert.ok(
      r.packages.some((p) => p.name === 'tzdata'),
      'small files are still read',
    );
  });

  it("reads this machine's own dpkg database as dpkg-query lists it", async () => {
    const layer = await layerOf([
      { path: 'etc/os-release', data: fs.readFileSync('/etc/os-release') },
      { path: 'var/lib/dpkg/status', data: fs.readFileSync('/var/lib/dpkg/status') },
    ]);
    const r = await analyzeImage(sources([layer]), { maxFileBytes: 64 << 20 });
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    const listed = execFileSync('dpkg-query', ['-W', '-f=${db:Status-Status} ${Package}@${Version}\\n'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.startsWith('installed '))
      .map((l) => l.slice('installed '.length));
    assert.ok(listed.length > 100, `dpkg-query listed ${listed.length} packages`);
    assert.deepEqual(new Set(r.packages.map((p) => `${p.name}@${p.version}`)), new Set(listed));
    const osId = /^ID=(.*)$/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))![1].replace(/"/g, '');
    assert.equal(r.os?.id, osId);
    assert.ok(r.packages.every((p) => p.ecosystem.startsWith(osId === 'ubuntu' ? 'Ubuntu' : 'Debian')));
  });

  it('stops between entries when its signal aborts', async () => {
    const ac = new AbortController();
    const reason = new Error('lease lost');
    let opened = 0;
    const image = await debianImage();
    const layers = layerSources(image).map((l) => ({
      ...l,
      open: async () => {
        if (++opened === 1) ac.abort(reason); // aborted while the first layer is read
        return l.open();
      },
    }));
    await assert.rejects(analyzeImage(layers, { maxFileBytes: MAX, signal: ac.signal }), (e) => e === reason);
    assert.equal(opened, 1, 'the next layer is never opened');
  });

  it('reads a zstd:chunked layer as buildah writes it (zstd frames and skippable metadata frames)', async () => {
    const bytes = Buffer.from(ZSTD_CHUNKED_LAYER, 'base64');
    const layer: LayerSource = {
      digest: 'sha256:05eff940900fc5067768a04eab5bca6aa249db6d760c961518f3a46371220a4b',
      mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
      open: async () => Readable.from([bytes]),
    };
    assert.deepEqual(ids(await analyzeImage([layer], { maxFileBytes: MAX })), ['Debian/hello@2.10-3']);
    // a stream that opens with a skippable frame
    const skippable = Buffer.alloc(12);
    skippable.writeUInt32LE(0x184d2a5e, 0);
    skippable.writeUInt32LE(4, 4);
    const first: LayerSource = { ...layer, open: async () => Readable.from([Buffer.concat([skippable, bytes])]) };
    assert.deepEqual(ids(await analyzeImage([first], { maxFileBytes: MAX })), ['Debian/hello@2.10-3']);
  });

  it('fails with LayerFormatError on a blob that is not a tar layer', async () => {
    const bad: LayerSource = {
      digest: 'sha256:00',
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      open: async () => Readable.from([Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3])]),
    };
    await assert.rejects(analyzeImage([bad], { maxFileBytes: MAX }), LayerFormatError);
    const zstd: LayerSource = { ...bad, open: async () => Readable.from([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff, 0xff])]) };
    await assert.rejects(analyzeImage([zstd], { maxFileBytes: MAX }), LayerFormatError);
  });

  it('streams a large layer without holding it: a 192 MiB executable costs far less than its size', async () => {
    // a plain tar produced lazily, a fresh buffer per MiB (so that bytes the analyser kept would show),
    // measuring external memory each time the analyser asks for more
    const SIZE = 192 << 20;
    const MiB = 1 << 20;
    const dpkg = Buffer.from('Package: z\nVersion: 1\n');
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    const sample = () => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
    };
    async function* tarStream() {
      yield tarHeader('usr/bin/big', SIZE, 0o755);
      const elf = Buffer.alloc(MiB);
      elf.write('\x7fELF', 'latin1');
      yield elf;
      for (let n = MiB; n < SIZE; n += MiB) {
        sample();
        yield Buffer.alloc(MiB);
      }
      yield tarHeader('var/lib/dpkg/status', dpkg.length, 0o644);
      yield Buffer.concat([dpkg, Buffer.alloc(512 - dpkg.length)]);
      yield Buffer.alloc(1024);
    }
    const src: LayerSource = { digest: 'sha256:big', mediaType: 'application/vnd.oci.image.layer.v1.tar', open: async () => Readable.from(tarStream()) };
    const r = await analyzeImage([src], { maxFileBytes: MAX });
    assert.deepEqual(ids(r), ['Debian/z@1']);
    assert.ok(peak < 96 * MiB, `external memory grew by ${(peak / MiB).toFixed(1)} MiB while reading a 192 MiB entry`);
  });

  it('reads the Go version and modules of a binary built by the Go 1.18+ linker layout', async () => {
    const bin = goBinary('go1.21.3', 'path\tx/cmd\nmod\tx\tv1.2.3\th1:a=\ndep\tgithub.com/a/b\tv0.1.0\th1:b=\n=>\t../local\t\t\nbuild\tGOOS=linux\n', {
      at: 100_003,
    });
    const chunks = [];
    for (let i = 0; i < bin.length; i += 4099) chunks.push(bin.subarray(i, i + 4099)); // the magic straddles chunk boundaries
    const info = await scanGoBinary(Readable.from(chunks));
    assert.deepEqual(info, {
      goVersion: 'go1.21.3',
      path: 'x/cmd',
      main: { path: 'x', version: 'v1.2.3' },
      deps: [{ path: 'github.com/a/b', version: 'v0.1.0' }],
    });
    // chunks shorter than the magic, and a magic that is not 16-byte aligned before the real one
    const decoy = Buffer.from(bin);
    Buffer.from('\xff Go buildinf:', 'latin1').copy(decoy, 50_001);
    const tiny = [];
    for (let i = 0; i < decoy.length; i += 5) tiny.push(decoy.subarray(i, i + 5));
    assert.deepEqual(await scanGoBinary(Readable.from(tiny)), info);
    assert.equal(await scanGoBinary(Readable.from([Buffer.from('#!/bin/sh\necho \xff Go buildinf:\n')])), null, 'not an ELF file');
  });

  it('reads a real Go binary of this machine: skopeo, built by Debian with the Go its package names', async () => {
    // dpkg records the Go toolchain a Debian Go package was built with: "Built-Using: ..., golang-1.19 (= 1.19.8-2), ..."
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    const builtUsing = execFileSync('dpkg-query', ['-W', '-f=${Built-Using}', 'skopeo'], { encoding: 'utf8' });
    const m = /golang-(\d+\.\d+) \(= (\d+\.\d+(?:\.\d+)?)-/.exec(builtUsing);
    assert.ok(m, `no golang in Built-Using: ${builtUsing}`);
    const info = await scanGoBinary(fs.createReadStream('/usr/bin/skopeo'));
    assert.ok(info, 'no build information found in /usr/bin/skopeo');
    assert.equal(info.goVersion, `go${m[2]}`);
    assert.equal(info.path, 'github.com/containers/skopeo/cmd/skopeo');
  });
});

describe('package file readers', () => {
  it('package-lock.json v1 nests dependencies; dev, workspace and non-registry versions are left out', () => {
    const v1 = {
      lockfileVersion: 1,
      dependencies: {
        a: { version: '1.0.0', dependencies: { b: { version: '2.0.0' } } },
        c: { version: '1.0.0', dev: true },
        d: { version: 'github:x/d#abc' },
      },
    };
    assert.deepEqual(
      parsePackageLock(JSON.stringify(v1)).map((p) => `${p.name}@${p.version}`),
      ['a@1.0.0', 'b@2.0.0'],
    );
    const v2 = {
      lockfileVersion: 2,
      packages: {
        '': { name: 'root' },
        'node_modules/a/node_modules/@s/b': { version: '3.0.0' },
        'packages/w': { version: '1.0.0', name: 'w' },
        'node_modules/w': { link: true },
      },
    };
    assert.deepEqual(
      parsePackageLock(JSON.stringify(v2)).map((p) => `${p.name}@${p.version}`),
      ['@s/b@3.0.0'],
    );
  });

  it('Python metadata in dist-info, egg-info directories and distutils egg-info files', async () => {
    const meta = (n: string, v: string) => `Metadata-Version: 1.1\nName: ${n}\nVersion: ${v}\nLicense: UNKNOWN\n\nName: not-this\n`;
    const layer = await layerOf([
      { path: 'usr/lib/python3/dist-packages/a-1.0.dist-info/METADATA', data: meta('a', '1.0') },
      { path: 'usr/lib/python3/dist-packages/b-2.0.egg-info/PKG-INFO', data: meta('b', '2.0') },
      { path: 'usr/lib/python3/dist-packages/c-3.0.egg-info', data: meta('c', '3.0') },
      { path: 'usr/lib/python3/dist-packages/d-4.0.dist-info/RECORD', data: 'x' },
    ]);
    const r = await analyzeImage(sources([layer]), { maxFileBytes: MAX });
    assert.deepEqual(ids(r), ['PyPI/a@1.0', 'PyPI/b@2.0', 'PyPI/c@3.0']);
    assert.ok(
      r.packages.every((p) => p.license === undefined),
      'UNKNOWN is no license',
    );
  });

  it('requirements.txt and poetry.lock give exact versions only', () => {
    assert.deepEqual(
      parseRequirements('a==1.0\nB_c == 2.0.post1  # note\nd>=1\ne===3 ; sys_platform=="linux"\n--index-url x\nf==1.*\n').map((p) => `${p.name}@${p.version}`),
      ['a@1.0', 'B_c@2.0.post1', 'e@3'],
    );
    assert.deepEqual(
      parsePoetryLock('[[package]]\nname = "x"\nversion = "1"\n[package.extras]\nname = "no"\n[[package]]\nname = "y"\nversion = "2"\n').map(
        (p) => `${p.name}@${p.version}`,
      ),
      ['x@1', 'y@2'],
    );
  });

  it('a header blob written by rpm itself (rpm 4.18 --justdb into an sqlite rpmdb, from rpmbuild of a noarch package)', () => {
    assert.deepEqual(rpmPackage(parseRpmHeader(Buffer.from(REAL_RPM_HEADER, 'base64'))), {
      type: 'rpm',
      name: 'berth-hello',
      version: '3:1.2.3-4.el9',
      epoch: 3,
      sourceName: 'berth-hello',
      arch: 'noarch',
      license: 'MIT',
    });
  });

  it('a Berkeley DB Packages file (rpm < 4.16) with inline values and overflow page chains, as rpm itself reads it', async () => {
    const bytes = Buffer.from(REAL_BDB_PACKAGES, 'base64');
    const want = ['berth-hello@3:1.2.3-4.el9', 'openssl-libs@1:1.1.1k-9.el8_7', 'tzdata@2024a-1.el8'];
    assert.deepEqual(
      parseRpmBerkeleyDb(bytes)
        .map((p) => `${p.name}@${p.version}`)
        .sort(),
      want,
    );
    const layer = await layerOf([
      { path: 'etc/os-release', data: 'ID="centos"\nVERSION_ID="8"\n' },
      { path: 'var/lib/rpm/Packages', data: bytes },
    ]);
    const r = await analyzeImage(sources([layer]), { maxFileBytes: MAX });
    assert.deepEqual(ids(r), want.map((w) => `Red Hat:8/${w}`).sort());
    // cut short, it is named as unreadable rather than read in part
    const cut = await layerOf([{ path: 'var/lib/rpm/Packages', data: bytes.subarray(0, 2048) }]);
    const partial = await analyzeImage(sources([cut]), { maxFileBytes: MAX });
    assert.deepEqual(partial.packages, []);
    assert.match(partial.skipped[0]?.reason ?? '', /unreadable: truncated/);
    assert.throws(() => berkeleyHashValues(Buffer.alloc(4096)), BerkeleyDbError);
  });

  it('rpm header blobs: tags read by type and bounds checked', () => {
    const blob = rpmPackageBlob({ name: 'curl', epoch: 2, version: '7.76.1', release: '26.el9', sourcerpm: 'curl-7.76.1-26.el9.src.rpm' });
    assert.deepEqual(rpmPackage(parseRpmHeader(blob)), { type: 'rpm', name: 'curl', version: '2:7.76.1-26.el9', epoch: 2, sourceName: 'curl', arch: 'x86_64' });
    // the same blob with rpm's 8-byte header magic in front, as in .rpm files
    assert.equal(rpmPackage(parseRpmHeader(Buffer.concat([Buffer.from([0x8e, 0xad, 0xe8, 1, 0, 0, 0, 0]), blob])))?.name, 'curl');
    assert.throws(() => parseRpmHeader(blob.subarray(0, blob.length - 5)), RpmHeaderError);
    const lying = Buffer.from(blob);
    lying.writeInt32BE(1 << 20, 8 + 8); // first entry's offset far past the data store
    assert.throws(() => parseRpmHeader(lying), RpmHeaderError);
  });
});

// Packages.blob of berth-hello-1.2.3-4.el9 (Epoch: 3, License: MIT, BuildArch: noarch), as rpm 4.18 stored it
const REAL_RPM_HEADER =
  'AAAAPQAAAyAAAAA/AAAABwAAAnkAAAAQAAAAZAAAAAgAAAAAAAAAAQAAA+gAAAAGAAAAAgAAAAEAAAPpAAAABgAAAA4AAAABAAAD6gAAAAYAAAAUAAAAAQAAA+sAAAAEAAAAHAAAAAEAAAPsAAAACQAAACAAAAABAAAD7QAAAAkAAAAvAAAAAQAAA+4AAAAEAAAANAAAAAEAAAPvAAAABgAAADgAAAABAAAD8QAAAAQAAAA8AAAAAQAAA/YAAAAGAAAAQAAAAAEAAAP4AAAACQAAAEQAAAABAAAD/QAAAAYAAABQAAAAAQAAA/4AAAAGAAAAVgAAAAEAAAQEAAAABAAAAGAAAAABAAAEBgAAAAMAAABkAAAAAQAABAkAAAADAAAAZgAAAAEAAAQKAAAABAAAAGgAAAABAAAECwAAAAgAAABsAAAAAQAABAwAAAAIAAAArQAAAAEAAAQNAAAABAAAALAAAAABAAAEDwAAAAgAAAC0AAAAAQAABBAAAAAIAAAAuQAAAAEAAAQUAAAABgAAAL4AAAABAAAEFQAAAAQAAADgAAAAAQAABBcAAAAIAAAA5AAAAAEAAAQYAAAABAAAAPAAAAADAAAEGQAAAAgAAAD8AAAAAwAABBoAAAAIAAABSwAAAAMAAAQoAAAABgAAAWEAAAABAAAERwAAAAQAAAFoAAAAAQAABEgAAAAEAAABbAAAAAEAAARJAAAACAAAAXAAAAABAAAEWAAAAAQAAAF0AAAAAQAABFkAAAAIAAABeAAAAAEAAARcAAAABAAAAYgAAAABAAAEXQAAAAgAAAGMAAAAAQAABF4AAAAIAAABkwAAAAEAAARiAAAABgAAAasAAAABAAAEZAAAAAYAAAGyAAAAAQAABGUAAAAGAAABtwAAAAEAAARmAAAABgAAAbwAAAABAAAEbAAAAAYAAAG+AAAAAQAABHQAAAAEAAAB1AAAAAEAAAR1AAAABAAAAdgAAAABAAAEdgAAAAgAAAHcAAAAAQAAE5MAAAAEAAAB6AAAAAEAABPGAAAABgAAAewAAAABAAAT5AAAAAgAAAHyAAAAAQAAE+UAAAAEAAACNAAAAAEAABPpAAAACAAAAjgAAAABAAABAQAAAAQAAAKMAAAAAQAAAQUAAAAHAAACkAAAABAAAAENAAAABgAAAqAAAAABAAABEQAAAAYAAALJAAAAAQAAA/AAAAAEAAADDAAAAAEAAAQFAAAAAQAAAxAAAAABAAAEFgAAAAQAAAMUAAAAAQAABGcAAAAEAAADGAAAAAEAAARoAAAABAAAAxwAAAABQwBiZXJ0aC1oZWxsbwAxLjIuMwA0LmVsOQAAAAAAAANhIHRlc3QgcGFja2FnZQB0ZXN0AGsUUOF2bQAAAAAAA01JVABVbnNwZWNpZmllZABsaW51eABub2FyY2gAAAAAAAAAA4GkAABrFFDhOThlYTZlNGYyMTZmMmZiNGI2OWZmZjliM2E0NDg0MmMzODY4NmNhNjg1ZjNmNTVkYzQ4YzVkM2ZiMTEwN2JlNAAAAAAAAAAAcm9vdAByb290AGJlcnRoLWhlbGxvLTEuMi4zLTQuZWw5LnNyYy5ycG0AAAD/////YmVydGgtaGVsbG8AAQAACgEAAAoBAAAKcnBtbGliKENvbXByZXNzZWRGaWxlTmFtZXMpAHJwbWxpYihGaWxlRGlnZXN0cykAcnBtbGliKFBheWxvYWRGaWxlc0hhdmVQcmVmaXgpADMuMC40LTEANC42LjAtMQA0LjAtMQA0LjE4LjAAAAAAAQAAAAEAAAAAAAAACDM6MS4yLjMtNC5lbDkAAAAAAAAAUkVBRE1FAC91c3Ivc2hhcmUvYmVydGgtaGVsbG8vAC1PMiAtZwBjcGlvAGd6aXAAOQBub2FyY2gtZGViaWFuLWxpbnV4AAAAAAAAAAAAAABBU0NJSSB0ZXh0AAAAAAAIdXRmLTgAZmM3ZWZmYTA2NjI4NzFmMzE0MGUwOTcwMWFhMjI5ZmE0NjlmOTI1N2M0ZTlmMjVjNzY3NDcxZTU2ZWJiN2Y1NgAAAAAACGYzZjQyOTg5NzdlZGRmNDY4YzNlZWM3NDE0YTAzYzg4OWM3NjNhODc0NDA5NTE4MTNiODYyMjY2ZWViM2RmODIAAAAAPwAAAAf///zAAAAAEAAAAAAABkvQuvOhPjaUf/x1hHJxlSk6YzUwNzgzNzFmZDA3ZTBjYTE1YjJkNDhlZDA4NDAxZjg4YzBjMjEyNQA0ZTlkM2MxMzliYzhkMGQyNDNlZTVmY2NlOTZhNDc2NjljOWIxNzYyNjkzNGU4MmIwMGQ3NTczYTY4MjhhODM2AAAAaxRQ5QAAAAAAAAEQAAAAA2sUUOU=';

// A Berkeley DB hash database (512-byte pages) that db5.3_load wrote from the blob above and two smaller headers
// made by rpmPackageBlob; `rpm --define '_db_backend bdb_ro' -qa` lists berth-hello, openssl-libs and tzdata from it
const REAL_BDB_PACKAGES =
  'AAAAAAEAAAAAAAAAYRUGAAkAAAAAAgAAAAgAAAAAAAAIAAAAAAAAAAAAAAAAAAAAAAAAAIXlIAAA/gAAYT2A0xMoAAAAAAAAAQAAAAEAAAAAAAAAAAAAAAMAAADRjWheAQAAAAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAAAAEAAAAAAAAAAAAAAAIA7wEADfsB7wEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADSRK0BwAAAKwAAAABAgAAAAAAAAABAAAAAgAAAAAAAAAAAAAABADeAQAN+wHvAeoB3gEAAAAAAAAAAAAAAAAAAAAAAACF5SAAAP4AAGE9gNMTKAAAAAAAAAEAAAABAAAAAAAAAAAAAAAAAAAA0Y1oXgEAAAABAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAADSRK0CAAAANMAAAABAwAAAAMAAAADAAAA+AYAAAEBAAAAAAAAAAEAAAADAAAAAAAAAAQAAAABAOYBAAcAAAA9AAADIAAAAD8AAAAHAAACeQAAABAAAABkAAAACAAAAAAAAAABAAAD6AAAAAYAAAACAAAAAQAAA+kAAAAGAAAADgAAAAEAAAPqAAAABgAAABQAAAABAAAD6wAAAAQAAAAcAAAAAQAAA+wAAAAJAAAAIAAAAAEAAAPtAAAACQAAAC8AAAABAAAD7gAAAAQAAAA0AAAAAQAAA+8AAAAGAAAAOAAAAAEAAAPxAAAABAAAADwAAAABAAAD9gAAAAYAAABAAAAAAQAAA/gAAAAJAAAARAAAAAEAAAP9AAAABgAAAFAAAAABAAAD/gAAAAYAAABWAAAAAQAABAQAAAAEAAAAYAAAAAEAAAQGAAAAAwAAAGQAAAABAAAECQAAAAMAAABmAAAAAQAABAoAAAAEAAAAaAAAAAEAAAQLAAAACAAAAGwAAAABAAAEDAAAAAgAAACtAAAAAQAABA0AAAAEAAAAsAAAAAEAAAQPAAAACAAAALQAAAABAAAEEAAAAAgAAAC5AAAAAQAABBQAAAAGAAAAvgAAAAEAAAQVAAAABAAAAOAAAAABAAAEFwAAAAgAAADkAAAAAQAABBgAAAAEAAAA8AAAAAMAAAQZAAAACAAAAPwAAAADAAAEGgAAAAgAAAFLAAAAAAAAAQAAAAQAAAADAAAABQAAAAEA5gEABwADAAAEKAAAAAYAAAFhAAAAAQAABEcAAAAEAAABaAAAAAEAAARIAAAABAAAAWwAAAABAAAESQAAAAgAAAFwAAAAAQAABFgAAAAEAAABdAAAAAEAAARZAAAACAAAAXgAAAABAAAEXAAAAAQAAAGIAAAAAQAABF0AAAAIAAABjAAAAAEAAAReAAAACAAAAZMAAAABAAAEYgAAAAYAAAGrAAAAAQAABGQAAAAGAAABsgAAAAEAAARlAAAABgAAAbcAAAABAAAEZgAAAAYAAAG8AAAAAQAABGwAAAAGAAABvgAAAAEAAAR0AAAABAAAAdQAAAABAAAEdQAAAAQAAAHYAAAAAQAABHYAAAAIAAAB3AAAAAEAABOTAAAABAAAAegAAAABAAATxgAAAAYAAAHsAAAAAQAAE+QAAAAIAAAB8gAAAAEAABPlAAAABAAAAjQAAAABAAAT6QAAAAgAAAI4AAAAAQAAAQEAAAAEAAACjAAAAAEAAAEFAAAABwAAApAAAAAQAAABDQAAAAYAAAKgAAAAAQAAAREAAAAGAAACyQAAAAEAAAPwAAAABAAAAwwAAAABAAAEBQAAAAEAAAMQAAAAAQAABBYAAAAEAAADFAAAAAEAAARnAAAABAAAAxgAAAABAAAEaAAAAAABAAAABQAAAAQAAAAGAAAAAQDmAQAHAAAABAAAAxwAAAABQwBiZXJ0aC1oZWxsbwAxLjIuMwA0LmVsOQAAAAAAAANhIHRlc3QgcGFja2FnZQB0ZXN0AGsUUOF2bQAAAAAAA01JVABVbnNwZWNpZmllZABsaW51eABub2FyY2gAAAAAAAAAA4GkAABrFFDhOThlYTZlNGYyMTZmMmZiNGI2OWZmZjliM2E0NDg0MmMzODY4NmNhNjg1ZjNmNTVkYzQ4YzVkM2ZiMTEwN2JlNAAAAAAAAAAAcm9vdAByb290AGJlcnRoLWhlbGxvLTEuMi4zLTQuZWw5LnNyYy5ycG0AAAD/////YmVydGgtaGVsbG8AAQAACgEAAAoBAAAKcnBtbGliKENvbXByZXNzZWRGaWxlTmFtZXMpAHJwbWxpYihGaWxlRGlnZXN0cykAcnBtbGliKFBheWxvYWRGaWxlc0hhdmVQcmVmaXgpADMuMC40LTEANC42LjAtMQA0LjAtMQA0LjE4LjAAAAAAAQAAAAEAAAAAAAAACDM6MS4yLjMtNC5lbDkAAAAAAAAAUkVBRE1FAC91c3Ivc2hhcmUvYmVydGgtaGVsbG8vAC1PMiAtZwBjcGlvAGd6aXAAOQBub2FyY2gtZGViaWFuLWxpbnV4AAAAAAAAAAAAAAAAAAEAAAAGAAAABQAAAAAAAAABAEYBAAcAAEFTQ0lJIHRleHQAAAAAAAh1dGYtOABmYzdlZmZhMDY2Mjg3MWYzMTQwZTA5NzAxYWEyMjlmYTQ2OWY5MjU3YzRlOWYyNWM3Njc0NzFlNTZlYmI3ZjU2AAAAAAAIZjNmNDI5ODk3N2VkZGY0NjhjM2VlYzc0MTRhMDNjODg5Yzc2M2E4NzQ0MDk1MTgxM2I4NjIyNjZlZWIzZGY4MgAAAAA/AAAAB////MAAAAAQAAAAAAAGS9C686E+NpR//HWEcnGVKTpjNTA3ODM3MWZkMDdlMGNhMTViMmQ0OGVkMDg0MDFmODhjMGMyMTI1ADRlOWQzYzEzOWJjOGQwZDI0M2VlNWZjY2U5NmE0NzY2OWM5YjE3NjI2OTM0ZTgyYjAwZDc1NzNhNjgyOGE4MzYAAABrFFDlAAAAAAAAARAAAAADaxRQ5QAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQAAAAcAAAAAAAAAAAAAAAEArAAABwAAAAYAAABEAAAD6AAAAAYAAAAAAAAAAQAAA+kAAAAGAAAABwAAAAEAAAPqAAAABgAAAA0AAAABAAAD7AAAAAkAAAATAAAAAQAAA/4AAAAGAAAAIgAAAAEAAAQUAAAABgAAACkAAAABdHpkYXRhADIwMjRhADEuZWw4AHR6ZGF0YSBwYWNrYWdlAG5vYXJjaAB0emRhdGEtMjAyNGEtMS5lbDguc3JjLnJwbQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABAAAACAAAAAAAAAAAAAAAAQDTAAAHAAAABwAAAFsAAAPoAAAABgAAAAAAAAABAAAD6QAAAAYAAAANAAAAAQAAA+oAAAAGAAAAFAAAAAEAAAPrAAAABAAAABwAAAABAAAD7AAAAAkAAAAgAAAAAQAAA/4AAAAGAAAANQAAAAEAAAQUAAAABgAAADwAAAABb3BlbnNzbC1saWJzADEuMS4xawA5LmVsOF83AAAAAAFvcGVuc3NsLWxpYnMgcGFja2FnZQB4ODZfNjQAb3BlbnNzbC0xLjEuMWstOS5lbDhfNy5zcmMucnBtAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

// The layer `buildah push --compression-format zstd:chunked` wrote for an image holding var/lib/dpkg/status
// (Package: hello, Version: 2.10-3); manifest annotation io.containers.zstd-chunked.manifest-position 238:250:763:1
const ZSTD_CHUNKED_LAYER =
  'KLUv/WQAB8UDAAJGERWQpwGb8q/JEW4MG5u2f7m/8yECxgeEv7lzR7wpY6GlztRKYFAAnIlCQCgJHeQzoaUMltDubXYYrndT4///z/Z8z5LQERAAfKCAQFppAR0GdnmAFjigEgOg9BpQBwPECfSAmIzkqMO+LhBIZ4BLxxWkMpN7A14l97QotS/9BADVAQDCgw0TkBsGuUpfzRpo8b3fii6SJq+PDlQAwhAQZbrJDiKk4H/NmtVs/desWcZPXx+0PzJluFyTnBEALKwQ3Si1L/0EeEwAAAgAAVQBAi7AEQEAAFQ4gRBQKk0Y+gAAACi1L/1EAPsBXQcAMs8uIVBpqwAAcuhaRlgMJSxT6mvBAYiqXmJlWyKpKM9mZqY5AQ2CRlIU8A7e9tkSwsTPD2Up1uqOVpawXrvgsqIEURJKGHmcGIKO8fJ7UDexUqn5SJsgzKB7TSXkDvLtU/YS34+q9k6I8metZZYH0025dLMUKF4SDU6jF8YdlKZqKKyqStmK4n4uwI623NYakhbQFhRSFCeCLLXt/RKInwM0boFwzM+b+N7eCoR5xkC77NhMpn+2nUlE2fTijBAAMxPBb2Kd5mWplowGoXaAj1G5ojFqWIyNAddRAcARXdMd5VxQgsG8ILCmHiqyPONQKk0YKAAAAO4AAAAAAAAA+gAAAAAAAAD7AgAAAAAAAAEAAAAAAAAAR25VbEluVXg=';
