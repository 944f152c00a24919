// Manifests: /v2/<name>/manifests/<reference> (PUT, GET, HEAD, DELETE) for OCI
// manifests and indexes and Docker schema 2 manifests and manifest lists.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MT,
  api,
  digestOf,
  expectError,
  pushBlob,
  pushImage,
  pushManifest,
  putManifest,
  randomBlob,
  removeDir,
  startServer,
  type PushedManifest,
  serverPerFile,
} from '../helpers/api-server.js';

const srv = serverPerFile();

const ACCEPT_ALL = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

async function getManifest(repo: string, ref: string, method: 'GET' | 'HEAD' = 'GET'): Promise<{ res: Response; body: Buffer }> {
  const res = await api(srv.url, `/v2/${repo}/manifests/${ref}`, { method, headers: { Accept: ACCEPT_ALL } });
  return { res, body: Buffer.from(await res.arrayBuffer()) };
}

/** GET and HEAD by `ref` both serve exactly the pushed manifest. */
async function assertServes(repo: string, ref: string, pushed: PushedManifest): Promise<void> {
  const { res, body } = await getManifest(repo, ref);
  assert.equal(res.status, 200, `GET ${repo}:${ref}: ${body.toString()}`);
  assert.ok(body.equals(pushed.bytes), `GET ${repo}:${ref} must return the pushed bytes`);
  assert.equal(res.headers.get('content-type'), pushed.mediaType, `Content-Type of ${repo}:${ref}`);
  assert.equal(res.headers.get('docker-content-digest'), pushed.digest);
  assert.equal(res.headers.get('content-length'), String(pushed.bytes.length));
  assert.equal(digestOf(body), pushed.digest);

  const head = await getManifest(repo, ref, 'HEAD');
  assert.equal(head.res.status, 200, `HEAD ${repo}:${ref}`);
  assert.equal(head.body.length, 0, 'HEAD has no body');
  assert.equal(head.res.headers.get('content-type'), pushed.mediaType);
  assert.equal(head.res.headers.get('docker-content-digest'), pushed.digest);
  assert.equal(head.res.headers.get('content-length'), String(pushed.bytes.length));
}

async function assertManifestUnknown(repo: string, ref: string): Promise<void> {
  await expectError(await api(srv.url, `/v2/${repo}/manifests/${ref}`, { headers: { Accept: ACCEPT_ALL } }), 404, 'MANIFEST_UNKNOWN', `${repo}:${ref}`);
  const head = await getManifest(repo, ref, 'HEAD');
  assert.equal(head.res.status, 404, `HEAD ${repo}:${ref}`);
}

async function tagsOf(repo: string): Promise<string[]> {
  const res = await api(srv.url, `/v2/${repo}/tags/list`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { tags: string[] | null }).tags ?? [];
}

describe('manifest round trips', () => {
  it('OCI image manifest: PUT by tag, then GET/HEAD by tag and by digest', async () => {
    const img = await pushImage(srv.url, 'm/oci', { ref: 'v1', layers: 2 });
    const put = img.manifest.res;
    assert.equal(put.status, 201);
    // Absolute or relative (RFC 7231 §7.1.2): either way it must resolve to the manifest's URL.
    assert.equal(new URL(put.headers.get('location') ?? '', srv.url).href, `${srv.url}/v2/m/oci/manifests/${img.manifest.digest}`);
    await assertServes('m/oci', 'v1', img.manifest);
    await assertServes('m/oci', img.manifest.digest, img.manifest);
  });

  it('OCI image manifest: PUT by digest (untagged)', async () => {
    const img = await pushImage(srv.url, 'm/oci');
    await assertServes('m/oci', img.manifest.digest, img.manifest);
  });

  it('the bytes are kept exactly as pushed (formatting, key order)', async () => {
    const cfg = await pushBlob(srv.url, 'm/oci', '{"x":1}');
    const text = `{\n   "schemaVersion" : 2,\n\t"layers": [],  "config": {"size": ${cfg.size}, "digest": "${cfg.digest}", "mediaType": "${MT.ociConfig}"},\n   "mediaType": "${MT.ociManifest}"\n}\n\n`;
    const pushed = await pushManifest(srv.url, 'm/oci', text, { ref: 'formatted' });
    assert.notEqual(pushed.digest, digestOf(JSON.stringify(JSON.parse(text))), 'the test manifest is not canonical JSON');
    await assertServes('m/oci', 'formatted', pushed);
  });

  it('a manifest without Content-Type is typed by its mediaType field', async () => {
    const cfg = await pushBlob(srv.url, 'm/oci', '{"y":2}');
    const bytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size }, layers: [] }),
    );
    const res = await api(srv.url, '/v2/m/oci/manifests/notype', { method: 'PUT', body: bytes });
    assert.equal(res.status, 201, await res.text());
    const { res: got, body } = await getManifest('m/oci', 'notype');
    assert.ok(body.equals(bytes));
    assert.equal(got.headers.get('content-type'), MT.ociManifest);
  });

  it('OCI image index: children pushed by digest, index by tag', async () => {
    const a = await pushImage(srv.url, 'm/index');
    const b = await pushImage(srv.url, 'm/index');
    const index = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [
        { mediaType: MT.ociManifest, digest: a.manifest.digest, size: a.manifest.bytes.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: MT.ociManifest, digest: b.manifest.digest, size: b.manifest.bytes.length, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    };
    const pushed = await pushManifest(srv.url, 'm/index', index, { ref: 'multi' });
    assert.equal(pushed.mediaType, MT.ociIndex);
    await assertServes('m/index', 'multi', pushed);
    await assertServes('m/index', pushed.digest, pushed);
    await assertServes('m/index', a.manifest.digest, a.manifest);
  });

  it('Docker schema 2 manifest', async () => {
    const img = await pushImage(srv.url, 'm/docker', { ref: 'latest', kind: 'docker', layers: 3 });
    assert.equal(img.manifest.mediaType, MT.dockerManifest);
    await assertServes('m/docker', 'latest', img.manifest);
    await assertServes('m/docker', img.manifest.digest, img.manifest);
  });

  it('Docker manifest list', async () => {
    const a = await pushImage(srv.url, 'm/docker', { kind: 'docker' });
    const b = await pushImage(srv.url, 'm/docker', { kind: 'docker' });
    const list = {
      schemaVersion: 2,
      mediaType: MT.dockerList,
      manifests: [
        { mediaType: MT.dockerManifest, digest: a.manifest.digest, size: a.manifest.bytes.length, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: MT.dockerManifest, digest: b.manifest.digest, size: b.manifest.bytes.length, platform: { os: 'linux', architecture: 's390x' } },
      ],
    };
    const pushed = await pushManifest(srv.url, 'm/docker', list, { ref: 'multiarch' });
    assert.equal(pushed.mediaType, MT.dockerList);
    await assertServes('m/docker', 'multiarch', pushed);
    await assertServes('m/docker', pushed.digest, pushed);
  });

  it('a manifest PUT under a sha512 digest is addressed by that digest', async () => {
    const cfg = await pushBlob(srv.url, 'm/sha512', '{"z":3}');
    const bytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size }, layers: [] }),
    );
    const digest = digestOf(bytes, 'sha512');
    const r = await putManifest(srv.url, 'm/sha512', bytes, { ref: digest });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.res.headers.get('docker-content-digest'), digest);
    const { res, body } = await getManifest('m/sha512', digest);
    assert.equal(res.status, 200);
    assert.ok(body.equals(bytes));
    assert.equal(res.headers.get('docker-content-digest'), digest);
  });

  it('a manifest is not readable from another repository', async () => {
    const img = await pushImage(srv.url, 'm/private', { ref: 'v1' });
    await assertManifestUnknown('m/other', img.manifest.digest);
    await assertManifestUnknown('m/other', 'v1');
  });

  it('an unknown tag or digest answers 404 MANIFEST_UNKNOWN', async () => {
    await assertManifestUnknown('m/oci', 'no-such-tag');
    await assertManifestUnknown('m/oci', digestOf('no such manifest'));
    await assertManifestUnknown('m/never/existed', 'latest');
  });
});

describe('manifest validation', () => {
  it('a missing config or layer blob answers 400 MANIFEST_BLOB_UNKNOWN and stores nothing', async () => {
    const cfg = await pushBlob(srv.url, 'm/invalid', '{"cfg":true}');
    const layer = await pushBlob(srv.url, 'm/invalid', randomBlob(10));
    const missing = digestOf(randomBlob(10));
    const docs = [
      {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: missing, size: 10 },
        layers: [{ mediaType: MT.ociLayer, digest: layer.digest, size: layer.size }],
      },
      {
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size },
        layers: [{ mediaType: MT.ociLayer, digest: missing, size: 10 }],
      },
    ];
    for (const [i, doc] of docs.entries()) {
      const r = await putManifest(srv.url, 'm/invalid', doc, { ref: `missing${i}` });
      assert.equal(r.status, 400, r.text);
      const body = JSON.parse(r.text) as { errors: { code: string }[] };
      assert.equal(body.errors[0].code, 'MANIFEST_BLOB_UNKNOWN');
      await assertManifestUnknown('m/invalid', `missing${i}`);
      await assertManifestUnknown('m/invalid', r.digest);
    }
  });

  it('a blob that only another repository has counts as missing', async () => {
    const layer = await pushBlob(srv.url, 'm/elsewhere', randomBlob(20));
    const cfg = await pushBlob(srv.url, 'm/invalid', '{"cfg":2}');
    const doc = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size },
      layers: [{ mediaType: MT.ociLayer, digest: layer.digest, size: layer.size }],
    };
    const r = await putManifest(srv.url, 'm/invalid', doc, { ref: 'borrowed' });
    assert.equal(r.status, 400, r.text);
    assert.equal((JSON.parse(r.text) as { errors: { code: string }[] }).errors[0].code, 'MANIFEST_BLOB_UNKNOWN');
  });

  it('an index with a missing child manifest answers 400 MANIFEST_BLOB_UNKNOWN', async () => {
    const present = await pushImage(srv.url, 'm/invalid');
    for (const [mediaType, child] of [
      [MT.ociIndex, MT.ociManifest],
      [MT.dockerList, MT.dockerManifest],
    ]) {
      const index = {
        schemaVersion: 2,
        mediaType,
        manifests: [
          { mediaType: child, digest: present.manifest.digest, size: present.manifest.bytes.length },
          { mediaType: child, digest: digestOf(randomBlob(8)), size: 100 },
        ],
      };
      const r = await putManifest(srv.url, 'm/invalid', index, { ref: 'badindex' });
      assert.equal(r.status, 400, r.text);
      assert.equal((JSON.parse(r.text) as { errors: { code: string }[] }).errors[0].code, 'MANIFEST_BLOB_UNKNOWN');
      await assertManifestUnknown('m/invalid', 'badindex');
    }
  });

  it('an unknown subject is accepted and echoed in OCI-Subject', async () => {
    const subject = { mediaType: MT.ociManifest, digest: digestOf(randomBlob(16)), size: 1234 };
    const img = await pushImage(srv.url, 'm/subject', { extra: { subject } });
    assert.equal(img.manifest.res.headers.get('oci-subject'), subject.digest);
    await assertServes('m/subject', img.manifest.digest, img.manifest);
  });

  it('a manifest without a subject gets no OCI-Subject header', async () => {
    const img = await pushImage(srv.url, 'm/subject');
    assert.equal(img.manifest.res.headers.get('oci-subject'), null);
  });

  it('PUT by digest with a digest that does not match the body answers 400 DIGEST_INVALID', async () => {
    const img = await pushImage(srv.url, 'm/invalid');
    const other = digestOf(randomBlob(4));
    const r = await putManifest(srv.url, 'm/invalid', img.manifest.bytes, { ref: other });
    assert.equal(r.status, 400, r.text);
    assert.equal((JSON.parse(r.text) as { errors: { code: string }[] }).errors[0].code, 'DIGEST_INVALID');
    await assertManifestUnknown('m/invalid', other);
  });

  it('Content-Type that contradicts the mediaType field answers 400 MANIFEST_INVALID', async () => {
    const cfg = await pushBlob(srv.url, 'm/invalid', '{"mt":1}');
    const doc = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size }, layers: [] };
    for (const contentType of [MT.dockerManifest, MT.ociIndex]) {
      const r = await putManifest(srv.url, 'm/invalid', doc, { ref: 'mismatch', mediaType: contentType });
      assert.equal(r.status, 400, `${contentType}: ${r.text}`);
      assert.equal((JSON.parse(r.text) as { errors: { code: string }[] }).errors[0].code, 'MANIFEST_INVALID');
    }
    await assertManifestUnknown('m/invalid', 'mismatch');
  });

  it('a Content-Type that is not a manifest media type answers 415 MANIFEST_INVALID and stores nothing', async () => {
    const cfg = await pushBlob(srv.url, 'm/ctype', '{"ct":1}');
    const doc = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size }, layers: [] };
    // text/plain;charset=UTF-8 is what fetch sends for a string body.
    for (const contentType of [
      'text/plain',
      'text/plain;charset=UTF-8',
      'application/json',
      'application/octet-stream',
      '*/*',
      'application/vnd.oci.image.config.v1+json',
      'application/vnd.oci.image.manifest.v2+json',
    ]) {
      const r = await putManifest(srv.url, 'm/ctype', doc, { ref: 'wrong', mediaType: contentType });
      assert.equal(r.status, 415, `${contentType}: ${r.text}`);
      const body = JSON.parse(r.text) as { errors: { code: string; message: string }[] };
      assert.equal(body.errors[0].code, 'MANIFEST_INVALID', contentType);
      assert.match(body.errors[0].message, /not a manifest media type/, contentType);
    }
    await assertManifestUnknown('m/ctype', 'wrong');
    assert.deepEqual(await tagsOf('m/ctype'), []);
  });

  it('the manifest media types real clients send are accepted, with parameters and in any case', async () => {
    const oci = await pushImage(srv.url, 'm/ctype', { ref: 'oci' });
    const docker = await pushImage(srv.url, 'm/ctype', { ref: 'docker', kind: 'docker' });
    const child = (m: PushedManifest) => ({ mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, platform: { os: 'linux', architecture: 'amd64' } });
    const docs: [Record<string, unknown>, string][] = [
      [oci.doc, `${MT.ociManifest}; charset=utf-8`],
      [docker.doc, MT.dockerManifest.toUpperCase()],
      [{ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [child(oci.manifest)] }, `${MT.ociIndex};charset=UTF-8`],
      [{ schemaVersion: 2, mediaType: MT.dockerList, manifests: [child(docker.manifest)] }, ` ${MT.dockerList} `],
    ];
    for (const [i, [doc, contentType]] of docs.entries()) {
      const r = await putManifest(srv.url, 'm/ctype', doc, { ref: `t${i}`, mediaType: contentType });
      assert.equal(r.status, 201, `${contentType}: ${r.text}`);
      await assertServes('m/ctype', `t${i}`, { ...r, mediaType: doc.mediaType as string });
    }
  });

  it('without Content-Type an untyped document whose shape is ambiguous answers 400 MANIFEST_INVALID', async () => {
    const cfg = await pushBlob(srv.url, 'm/ctype', '{"ambiguous":1}');
    const bytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, config: { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size }, layers: [], manifests: [] }),
    );
    await expectError(await api(srv.url, '/v2/m/ctype/manifests/ambiguous', { method: 'PUT', body: bytes }), 400, 'MANIFEST_INVALID');
    await assertManifestUnknown('m/ctype', 'ambiguous');
  });

  it('malformed JSON answers 400 MANIFEST_INVALID', async () => {
    for (const text of ['{"schemaVersion": 2,', 'not json at all', '', '[1,2,3]', '"a string"']) {
      const r = await putManifest(srv.url, 'm/invalid', text, { ref: 'broken', mediaType: MT.ociManifest });
      assert.equal(r.status, 400, `${JSON.stringify(text)}: ${r.text}`);
      assert.equal((JSON.parse(r.text) as { errors: { code: string }[] }).errors[0].code, 'MANIFEST_INVALID', JSON.stringify(text));
    }
    await assertManifestUnknown('m/invalid', 'broken');
  });

  it('structurally invalid manifests answer 400 MANIFEST_INVALID', async () => {
    const cfg = await pushBlob(srv.url, 'm/invalid', '{"s":1}');
    const config = { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size };
    const docs: Record<string, unknown>[] = [
      { schemaVersion: 3, mediaType: MT.ociManifest, config, layers: [] },
      { mediaType: MT.ociManifest, config, layers: [] },
      { schemaVersion: 2, mediaType: MT.ociManifest, layers: [] },
      { schemaVersion: 2, mediaType: MT.ociManifest, config: { ...config, digest: 'sha256:nothex' }, layers: [] },
      { schemaVersion: 2, mediaType: MT.ociManifest, config: { ...config, size: -1 }, layers: [] },
      { schemaVersion: 2, mediaType: MT.ociManifest, config, layers: 'nope' },
      { schemaVersion: 2, mediaType: MT.ociIndex, manifests: 'nope' },
    ];
    for (const doc of docs) {
      const r = await putManifest(srv.url, 'm/invalid', doc, { ref: 'structure', mediaType: (doc.mediaType as string) ?? MT.ociManifest });
      assert.equal(r.status, 400, `${JSON.stringify(doc)}: ${r.text}`);
      assert.equal((JSON.parse(r.text) as { errors: { code: string }[] }).errors[0].code, 'MANIFEST_INVALID', JSON.stringify(doc));
    }
    await assertManifestUnknown('m/invalid', 'structure');
  });

  it('Docker schema 1 manifests are rejected and not stored', async () => {
    const schema1 = {
      schemaVersion: 1,
      name: 'm/invalid',
      tag: 'old',
      architecture: 'amd64',
      fsLayers: [{ blobSum: digestOf('layer') }],
      history: [{ v1Compatibility: '{}' }],
    };
    for (const mediaType of [MT.dockerSchema1, MT.dockerSchema1Signed]) {
      const r = await putManifest(srv.url, 'm/invalid', schema1, { ref: 'old', mediaType });
      assert.ok(r.status === 400 || r.status === 415, `${mediaType}: expected 400 or 415, got ${r.status}: ${r.text}`);
      const body = JSON.parse(r.text) as { errors: { code: string }[] };
      assert.equal(body.errors[0].code, 'MANIFEST_INVALID');
    }
    await assertManifestUnknown('m/invalid', 'old');
  });

  it('a manifest over 4 MiB answers 413 and is not stored', async () => {
    const cfg = await pushBlob(srv.url, 'm/big', '{"big":1}');
    const doc = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size },
      layers: [],
      annotations: { filler: 'x'.repeat(4 * 1024 * 1024) },
    };
    const r = await putManifest(srv.url, 'm/big', doc, { ref: 'huge' });
    assert.equal(r.status, 413, r.text);
    await assertManifestUnknown('m/big', 'huge');
    // The connection (or a new one) still works.
    assert.equal((await api(srv.url, '/v2/')).status, 200);
  });

  it('a manifest over 4 MiB sent without Content-Length (chunked) answers 413', async () => {
    const cfg = await pushBlob(srv.url, 'm/big', '{"big":2}');
    const doc = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size },
        layers: [],
        annotations: { filler: 'y'.repeat(5 * 1024 * 1024) },
      }),
    );
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < doc.length; i += 256 * 1024) controller.enqueue(doc.subarray(i, i + 256 * 1024));
        controller.close();
      },
    });
    let status: number | string;
    try {
      const res = await api(srv.url, '/v2/m/big/manifests/chunked', {
        method: 'PUT',
        headers: { 'Content-Type': MT.ociManifest },
        body,
        duplex: 'half',
      } as RequestInit);
      status = res.status;
      await res.arrayBuffer();
    } catch (err) {
      status = `request failed: ${(err as Error).message} (${String((err as { cause?: unknown }).cause)})`;
    }
    assert.equal(status, 413);
    await assertManifestUnknown('m/big', 'chunked');
  });

  it('a manifest just under 4 MiB is accepted', async () => {
    const cfg = await pushBlob(srv.url, 'm/big', '{"big":3}');
    const base = {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: cfg.digest, size: cfg.size },
      layers: [],
      annotations: { filler: '' },
    };
    const overhead = Buffer.byteLength(JSON.stringify(base));
    base.annotations.filler = 'z'.repeat(4 * 1024 * 1024 - overhead);
    const bytes = Buffer.from(JSON.stringify(base));
    assert.equal(bytes.length, 4 * 1024 * 1024);
    const pushed = await pushManifest(srv.url, 'm/big', bytes, { ref: 'limit' });
    await assertServes('m/big', 'limit', pushed);
  });
});

describe('tags', () => {
  it('PUT by digest with several ?tag= creates all tags and lists them in OCI-Tag', async () => {
    const img = await pushImage(srv.url, 'm/tags');
    const r = await pushManifest(srv.url, 'm/tags', img.manifest.bytes, { ref: img.manifest.digest, query: '?tag=alpha&tag=beta&tag=gamma' });
    const ociTag = (r.res.headers.get('oci-tag') ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean)
      .sort();
    assert.deepEqual(ociTag, ['alpha', 'beta', 'gamma']);
    for (const tag of ['alpha', 'beta', 'gamma']) await assertServes('m/tags', tag, img.manifest);
    assert.deepEqual(await tagsOf('m/tags'), ['alpha', 'beta', 'gamma']);
  });

  it('an invalid ?tag= answers 400 TAG_INVALID and creates no tag', async () => {
    const img = await pushImage(srv.url, 'm/tags-bad');
    const r = await putManifest(srv.url, 'm/tags-bad', img.manifest.bytes, { ref: img.manifest.digest, query: '?tag=ok&tag=-bad' });
    assert.equal(r.status, 400, r.text);
    assert.equal((JSON.parse(r.text) as { errors: { code: string }[] }).errors[0].code, 'TAG_INVALID');
    await assertManifestUnknown('m/tags-bad', 'ok');
  });

  it('a tag moves to a new manifest; the old one stays reachable by digest', async () => {
    const first = await pushImage(srv.url, 'm/move', { ref: 'stable' });
    await assertServes('m/move', 'stable', first.manifest);
    const second = await pushImage(srv.url, 'm/move', { ref: 'stable' });
    assert.notEqual(first.manifest.digest, second.manifest.digest);
    await assertServes('m/move', 'stable', second.manifest);
    await assertServes('m/move', first.manifest.digest, first.manifest);
    assert.deepEqual(await tagsOf('m/move'), ['stable']);
  });

  it('pushing the same manifest under the same tag twice is idempotent', async () => {
    const img = await pushImage(srv.url, 'm/move', { ref: 'again' });
    const again = await pushManifest(srv.url, 'm/move', img.manifest.bytes, { ref: 'again' });
    assert.equal(again.digest, img.manifest.digest);
    await assertServes('m/move', 'again', img.manifest);
  });
});

describe('manifest DELETE', () => {
  it('by tag removes only that tag; the manifest and other tags remain', async () => {
    const img = await pushImage(srv.url, 'm/del', { query: '?tag=keep&tag=drop' });
    const del = await api(srv.url, '/v2/m/del/manifests/drop', { method: 'DELETE' });
    assert.equal(del.status, 202, await del.text());
    await assertManifestUnknown('m/del', 'drop');
    await assertServes('m/del', 'keep', img.manifest);
    await assertServes('m/del', img.manifest.digest, img.manifest);
    assert.deepEqual(await tagsOf('m/del'), ['keep']);
    await expectError(await api(srv.url, '/v2/m/del/manifests/drop', { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  });

  it('by digest removes the manifest and all its tags', async () => {
    const img = await pushImage(srv.url, 'm/del2', { query: '?tag=one&tag=two' });
    const other = await pushImage(srv.url, 'm/del2', { ref: 'unrelated' });
    const del = await api(srv.url, `/v2/m/del2/manifests/${img.manifest.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202, await del.text());
    await assertManifestUnknown('m/del2', img.manifest.digest);
    await assertManifestUnknown('m/del2', 'one');
    await assertManifestUnknown('m/del2', 'two');
    await assertServes('m/del2', 'unrelated', other.manifest);
    assert.deepEqual(await tagsOf('m/del2'), ['unrelated']);
    await expectError(await api(srv.url, `/v2/m/del2/manifests/${img.manifest.digest}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  });

  it('a deleted manifest can be pushed again', async () => {
    const img = await pushImage(srv.url, 'm/del3', { ref: 'back' });
    const del = await api(srv.url, `/v2/m/del3/manifests/${img.manifest.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    await del.arrayBuffer();
    const again = await pushManifest(srv.url, 'm/del3', img.manifest.bytes, { ref: 'back' });
    await assertServes('m/del3', 'back', again);
  });

  it('an unknown reference or repository answers 404 MANIFEST_UNKNOWN', async () => {
    await expectError(await api(srv.url, `/v2/m/del/manifests/${digestOf('x')}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    await expectError(await api(srv.url, '/v2/m/nothing/here/manifests/latest', { method: 'DELETE' }), 404);
  });

  it('with deletes disabled answers 405 UNSUPPORTED and keeps the manifest', async () => {
    const ro = await startServer({ config: { storage: { delete: { enabled: false } } } });
    try {
      const img = await pushImage(ro.url, 'm/nodel', { ref: 'v1' });
      for (const ref of ['v1', img.manifest.digest]) {
        await expectError(await api(ro.url, `/v2/m/nodel/manifests/${ref}`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
      }
      const res = await api(ro.url, '/v2/m/nodel/manifests/v1', { headers: { Accept: ACCEPT_ALL } });
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(img.manifest.bytes));
    } finally {
      await ro.close();
      removeDir(ro.dir);
    }
  });
});
