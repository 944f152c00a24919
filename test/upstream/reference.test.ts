// The upstream client against a real registry: Debian's docker-registry (CNCF distribution
// 2.8) on loopback, filled with plain fetch pushes. Reads (manifests by tag and digest, blobs,
// tags, catalog pages, referrers through the tag-schema fallback, 404s) and writes (streamed
// blob upload, cross-repository mount, manifest put and delete).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { UpstreamClient, UpstreamError } from '../../src/upstream/index.js';
import { MT, type PushedImage, digestOf, pushBlob, pushImage, pushManifest } from '../helpers/api-server.js';
import { type RegistryProcess, startReference } from '../helpers/berth-process.js';

let registry: RegistryProcess;
let client: UpstreamClient;
let image: PushedImage;
let dockerImage: PushedImage;

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function rejectsWith(p: Promise<unknown>, kind: UpstreamError['kind'], status?: number): Promise<UpstreamError> {
  const err = await p.then(
    () => assert.fail(`expected an UpstreamError of kind ${kind}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof UpstreamError, `expected an UpstreamError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  if (status !== undefined) assert.equal(err.status, status, err.message);
  return err;
}

before(async () => {
  registry = await startReference({ name: 'upstream-reference' });
  client = new UpstreamClient({ url: registry.url }, { guard: null });
  image = await pushImage(registry.url, 'lib/app', { ref: 'v1', layers: 2, layerSize: 3000 });
  dockerImage = await pushImage(registry.url, 'lib/app', { ref: 'docker', kind: 'docker' });
});
after(async () => {
  client?.close();
  await registry?.dispose();
});

describe('reads from docker-registry', () => {
  it('headManifest by tag and by digest gives the digest, media type and size', async () => {
    for (const ref of ['v1', image.manifest.digest]) {
      const head = await client.headManifest('lib/app', ref);
      assert.deepEqual(head, { digest: image.manifest.digest, mediaType: MT.ociManifest, size: image.manifest.bytes.length });
    }
    const docker = await client.headManifest('lib/app', 'docker');
    assert.deepEqual(docker, { digest: dockerImage.manifest.digest, mediaType: MT.dockerManifest, size: dockerImage.manifest.bytes.length });
  });

  it('getManifest by tag and by digest returns the pushed bytes', async () => {
    for (const ref of ['v1', image.manifest.digest]) {
      const m = await client.getManifest('lib/app', ref);
      assert.ok(m.body.equals(image.manifest.bytes));
      assert.equal(m.digest, image.manifest.digest);
      assert.equal(m.mediaType, MT.ociManifest);
    }
    const d = await client.getManifest('lib/app', 'docker');
    assert.equal(d.mediaType, MT.dockerManifest);
    assert.equal(d.digest, dockerImage.manifest.digest);
  });

  it('getBlob streams the bytes of each layer and the config; headBlob gives their sizes', async () => {
    for (const blob of [image.config, ...image.layers]) {
      const got = await client.getBlob('lib/app', blob.digest);
      assert.equal(got.size, blob.size);
      const bytes = await readAll(got.body);
      assert.equal(digestOf(bytes), blob.digest);
      assert.equal(await client.headBlob('lib/app', blob.digest), blob.size);
    }
  });

  it('what the upstream does not have: null from the HEADs, not-found from the GETs, [] tags', async () => {
    const missing = digestOf(randomBytes(16));
    assert.equal(await client.headManifest('lib/app', 'nope'), null);
    assert.equal(await client.headManifest('lib/app', missing), null);
    assert.equal(await client.headManifest('no/such', 'v1'), null);
    assert.equal(await client.headBlob('lib/app', missing), null);
    await rejectsWith(client.getManifest('lib/app', 'nope'), 'not-found', 404);
    await rejectsWith(client.getBlob('lib/app', missing), 'not-found', 404);
    assert.deepEqual(await client.tags('no/such'), []);
  });

  it('tags lists every tag of the repository', async () => {
    assert.deepEqual((await client.tags('lib/app')).sort(), ['docker', 'v1']);
  });

  it('catalog follows the Link pages when the upstream pages it', async () => {
    await pushImage(registry.url, 'lib/other', { ref: 'v1' });
    await pushImage(registry.url, 'zzz/last', { ref: 'v1' });
    const paged = new UpstreamClient({ url: registry.url, pageSize: 1 }, { guard: null });
    try {
      const all = await paged.catalog();
      assert.deepEqual(all.sort(), (await client.catalog()).sort());
      assert.ok(all.includes('lib/app') && all.includes('lib/other') && all.includes('zzz/last'), all.join(','));
    } finally {
      paged.close();
    }
  });

  it('referrers falls back to the sha256-<hex> tag when the upstream has no referrers API', async () => {
    const subject = image.manifest.digest;
    assert.deepEqual(await client.referrers('lib/app', subject), []);
    const sbom = await pushBlob(registry.url, 'lib/app', '{"sbom":true}');
    const empty = await pushBlob(registry.url, 'lib/app', '{}');
    const artifact = await pushManifest(registry.url, 'lib/app', {
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType: 'application/spdx+json',
      config: { mediaType: MT.ociEmpty, digest: empty.digest, size: empty.size },
      layers: [{ mediaType: 'application/spdx+json', digest: sbom.digest, size: sbom.size }],
      subject: { mediaType: MT.ociManifest, digest: subject, size: image.manifest.bytes.length },
    });
    const descriptor = { mediaType: MT.ociManifest, digest: artifact.digest, size: artifact.bytes.length, artifactType: 'application/spdx+json' };
    await pushManifest(
      registry.url,
      'lib/app',
      { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [descriptor] },
      { ref: `sha256-${subject.slice('sha256:'.length)}` },
    );
    assert.deepEqual(await client.referrers('lib/app', subject), [descriptor]);
  });
});

describe('writes to docker-registry', () => {
  it('pushBlob streams a blob in; the upstream serves the same bytes', async () => {
    const bytes = randomBytes(300_000);
    const digest = digestOf(bytes);
    // Several chunks, as a storage stream delivers them.
    const chunks = [bytes.subarray(0, 100_000), bytes.subarray(100_000, 250_000), bytes.subarray(250_000)];
    await client.pushBlob('copy/app', digest, bytes.length, Readable.from(chunks));
    assert.equal(await client.headBlob('copy/app', digest), bytes.length);
    assert.ok((await readAll((await client.getBlob('copy/app', digest)).body)).equals(bytes));
  });

  it('mountBlob mounts a blob from another repository; false for a blob the upstream does not have', async () => {
    const layer = image.layers[0];
    assert.equal(await client.headBlob('mount/app', layer.digest), null);
    assert.equal(await client.mountBlob('mount/app', 'lib/app', layer.digest), true);
    assert.equal(await client.headBlob('mount/app', layer.digest), layer.size);
    assert.equal(await client.mountBlob('mount/app', 'lib/app', digestOf(randomBytes(8))), false);
  });

  it('putManifest by tag, then deleteManifest by digest (true, then false)', async () => {
    for (const blob of [image.config, ...image.layers]) assert.equal(await client.mountBlob('copy/img', 'lib/app', blob.digest), true);
    const digest = await client.putManifest('copy/img', 'v1', MT.ociManifest, image.manifest.bytes);
    assert.equal(digest, image.manifest.digest);
    const m = await client.getManifest('copy/img', 'v1');
    assert.ok(m.body.equals(image.manifest.bytes));
    assert.equal(await client.deleteManifest('copy/img', digest), true);
    assert.equal(await client.headManifest('copy/img', digest), null);
    assert.equal(await client.deleteManifest('copy/img', digest), false);
  });

  it('a manifest whose blobs are missing is refused as invalid', async () => {
    const doc = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: digestOf('x'), size: 1 },
        layers: [],
      }),
    );
    const err = await rejectsWith(client.putManifest('copy/bad', 'v1', MT.ociManifest, doc), 'invalid', 400);
    assert.match(err.message, /MANIFEST_BLOB_UNKNOWN/, 'the upstream error code is in the message');
  });
});
