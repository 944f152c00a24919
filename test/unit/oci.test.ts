import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidDigestError, UnsupportedDigestError, digestOf, parseDigest } from '../../src/oci/digest.js';
import { ManifestInvalidError, ManifestUnsupportedError, parseManifest } from '../../src/oci/manifest.js';
import { isValidRepositoryName, isValidTag } from '../../src/oci/names.js';
import { parseContentRange, parseRangeHeader } from '../../src/oci/range.js';

const HEX = 'a'.repeat(64);
const d = (c: string) => `sha256:${c.repeat(64)}`;

describe('digests', () => {
  it('parses sha256 and sha512', () => {
    assert.deepEqual(parseDigest(`sha256:${HEX}`), { algorithm: 'sha256', hex: HEX, value: `sha256:${HEX}` });
    assert.equal(parseDigest(`sha512:${'b'.repeat(128)}`).algorithm, 'sha512');
  });
  it('rejects malformed and unsupported digests', () => {
    for (const bad of ['', 'sha256', `sha256:${'a'.repeat(63)}`, `sha256:${'A'.repeat(64)}`, `sha256:${'g'.repeat(64)}`, `sha512:${HEX}`]) {
      assert.throws(() => parseDigest(bad), InvalidDigestError, bad);
    }
    assert.throws(() => parseDigest(`md5:${'a'.repeat(32)}`), UnsupportedDigestError);
  });
  it('hashes bytes', () => {
    assert.equal(digestOf('{}'), 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  });
});

describe('names and tags', () => {
  it('accepts valid repository names', () => {
    for (const n of ['a', 'library/ubuntu', 'a.b/c_d/e__f/g-h---i', 'x'.repeat(255)]) assert.ok(isValidRepositoryName(n), n);
  });
  it('rejects invalid repository names', () => {
    for (const n of ['', 'A', 'a//b', '/a', 'a/', '../a', 'a/../b', 'a..b', 'a___b', '-a', 'a-', 'x'.repeat(256), 'a b']) {
      assert.ok(!isValidRepositoryName(n), n);
    }
  });
  it('validates tags', () => {
    assert.ok(isValidTag('latest') && isValidTag('_x') && isValidTag('V1.2-rc_3') && isValidTag('a'.repeat(128)));
    for (const t of ['', '.a', '-a', 'a'.repeat(129), 'a:b', 'a/b']) assert.ok(!isValidTag(t), t);
  });
});

describe('manifest parsing', () => {
  const image = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('1'), size: 10 },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('2'), size: 20 }],
  };
  const bytes = (o: unknown) => Buffer.from(JSON.stringify(o));

  it('parses an OCI image manifest and lists its blobs', () => {
    const p = parseManifest(bytes(image), 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(p.kind, 'image');
    assert.deepEqual(
      p.blobs.map((b) => b.digest),
      [d('1'), d('2')],
    );
    assert.equal(p.artifactType, 'application/vnd.oci.image.config.v1+json');
  });
  it('detects an OCI manifest without mediaType or Content-Type', () => {
    const { mediaType: _omit, ...bare } = image;
    assert.equal(parseManifest(bytes(bare), undefined).mediaType, 'application/vnd.oci.image.manifest.v1+json');
  });
  it('parses an index with a subject and artifactType', () => {
    const idx = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      artifactType: 'application/x.test',
      manifests: [{ mediaType: image.mediaType, digest: d('3'), size: 5, platform: { os: 'linux', architecture: 'amd64' } }],
      subject: { mediaType: image.mediaType, digest: d('4'), size: 7 },
    };
    const p = parseManifest(bytes(idx), 'application/vnd.oci.image.index.v1+json; charset=utf-8');
    assert.equal(p.kind, 'index');
    assert.deepEqual(
      p.manifests.map((m) => m.digest),
      [d('3')],
    );
    assert.equal(p.subject?.digest, d('4'));
    assert.equal(p.artifactType, 'application/x.test');
  });
  it('skips foreign layers when listing required blobs', () => {
    const docker = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: d('1'), size: 1 },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: d('5'), size: 1, urls: ['https://x'] }],
    };
    assert.deepEqual(
      parseManifest(bytes(docker), docker.mediaType).blobs.map((b) => b.digest),
      [d('1')],
    );
  });
  it('rejects invalid documents', () => {
    const cases: [unknown, string | undefined][] = [
      ['not json', undefined],
      [[], undefined],
      [{ ...image, schemaVersion: 3 }, undefined],
      [{ ...image, config: { ...image.config, digest: 'sha256:xyz' } }, undefined],
      [{ ...image, layers: [{ ...image.layers[0], size: -1 }] }, undefined],
      [image, 'application/vnd.docker.distribution.manifest.v2+json'],
      [{ ...image, mediaType: 'application/x-unknown' }, undefined],
      [{ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json' }, undefined],
    ];
    for (const [doc, ct] of cases) {
      const b = typeof doc === 'string' ? Buffer.from(doc) : bytes(doc);
      assert.throws(() => parseManifest(b, ct), ManifestInvalidError, JSON.stringify(doc).slice(0, 80));
    }
    assert.throws(() => parseManifest(bytes({ schemaVersion: 1, name: 'x' }), undefined), ManifestUnsupportedError);
    // Without a Content-Type or a mediaType, a document that could be either kind is refused.
    const { mediaType: _omit, ...bare } = image;
    assert.throws(() => parseManifest(bytes({ ...bare, manifests: [] }), undefined), ManifestInvalidError);
  });
  it('accepts only manifest media types as Content-Type', () => {
    for (const ct of ['text/plain', 'application/json', 'application/octet-stream', 'application/vnd.oci.image.config.v1+json']) {
      assert.throws(() => parseManifest(bytes(image), ct), ManifestUnsupportedError, ct);
    }
    for (const ct of [undefined, '', 'application/vnd.oci.image.manifest.v1+json; charset=utf-8', 'Application/VND.oci.image.manifest.v1+json']) {
      assert.equal(parseManifest(bytes(image), ct).mediaType, image.mediaType, String(ct));
    }
  });
});

describe('ranges', () => {
  it('parses single, suffix, open and multiple ranges', () => {
    assert.deepEqual(parseRangeHeader('bytes=0-9', 100), [{ start: 0, end: 9 }]);
    assert.deepEqual(parseRangeHeader('bytes=-10', 100), [{ start: 90, end: 99 }]);
    assert.deepEqual(parseRangeHeader('bytes=95-', 100), [{ start: 95, end: 99 }]);
    assert.deepEqual(parseRangeHeader('bytes=90-200', 100), [{ start: 90, end: 99 }]);
    assert.deepEqual(parseRangeHeader('bytes=0-1, 5-6', 100), [
      { start: 0, end: 1 },
      { start: 5, end: 6 },
    ]);
  });
  it('reports unsatisfiable and ignores malformed headers', () => {
    assert.equal(parseRangeHeader('bytes=100-', 100), 'unsatisfiable');
    assert.equal(parseRangeHeader('bytes=5-1', 100), null);
    assert.equal(parseRangeHeader('items=0-1', 100), null);
    assert.equal(parseRangeHeader('bytes=abc', 100), null);
  });
  it('parses upload Content-Range', () => {
    assert.deepEqual(parseContentRange('0-99'), { start: 0, end: 99 });
    assert.deepEqual(parseContentRange('bytes 100-199/*'), { start: 100, end: 199 });
    assert.equal(parseContentRange('99-0'), null);
    assert.equal(parseContentRange('abc'), null);
  });
});
