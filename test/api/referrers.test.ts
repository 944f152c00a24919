// The referrers API: GET /v2/<name>/referrers/<digest>[?artifactType=].
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  MT,
  api,
  digestOf,
  expectError,
  pushBlob,
  pushImage,
  pushManifest,
  randomBlob,
  removeDir,
  startServer,
  type PushedImage,
  type TestServer,
} from '../helpers/api-server.js';

let srv: TestServer;
const REPO = 'ref/app';
const SBOM = 'application/vnd.example.sbom.v1+json';
const SIG_CONFIG = 'application/vnd.example.signature.config.v1+json';
const BUNDLE = 'application/vnd.example.bundle.v1';

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}
interface Index {
  schemaVersion: number;
  mediaType: string;
  manifests: Desc[];
}

let subject: PushedImage;
let subjectDesc: Desc;
const expected = new Map<string, Desc>();

/** Pushes an artifact manifest (empty config unless configType is given) with a subject. */
async function pushArtifact(
  repo: string,
  subj: Desc,
  opts: { artifactType?: string; configType?: string; annotations?: Record<string, string> },
): Promise<Desc> {
  const cfgBytes = opts.configType ? Buffer.from(JSON.stringify({ signedBy: 'test' })) : Buffer.from('{}');
  const cfg = await pushBlob(srv.url, repo, cfgBytes);
  const layer = await pushBlob(srv.url, repo, randomBlob(32));
  const doc = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
    config: { mediaType: opts.configType ?? MT.ociEmpty, digest: cfg.digest, size: cfg.size },
    layers: [{ mediaType: 'application/octet-stream', digest: layer.digest, size: layer.size }],
    subject: subj,
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const pushed = await pushManifest(srv.url, repo, doc);
  assert.equal(pushed.res.headers.get('oci-subject'), subj.digest, 'OCI-Subject on a manifest with a subject');
  return {
    mediaType: MT.ociManifest,
    digest: pushed.digest,
    size: pushed.bytes.length,
    artifactType: opts.artifactType ?? opts.configType,
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
}

async function referrers(repo: string, digest: string, query = ''): Promise<{ res: Response; index: Index }> {
  const res = await api(srv.url, `/v2/${repo}/referrers/${digest}${query}`);
  const text = await res.text();
  assert.equal(res.status, 200, `referrers of ${digest}: ${text}`);
  assert.equal(res.headers.get('content-type'), MT.ociIndex);
  const index = JSON.parse(text) as Index;
  assert.equal(index.schemaVersion, 2);
  assert.equal(index.mediaType, MT.ociIndex);
  assert.ok(Array.isArray(index.manifests), 'manifests must be an array (empty, not null)');
  return { res, index };
}

const byDigest = (ds: Desc[]) => [...ds].sort((a, b) => (a.digest < b.digest ? -1 : 1));

before(async () => {
  srv = await startServer();
  subject = await pushImage(srv.url, REPO, { ref: 'v1' });
  subjectDesc = { mediaType: MT.ociManifest, digest: subject.manifest.digest, size: subject.manifest.bytes.length };

  const sbom = await pushArtifact(REPO, subjectDesc, {
    artifactType: SBOM,
    annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z', 'com.example.kind': 'sbom' },
  });
  const sig = await pushArtifact(REPO, subjectDesc, { configType: SIG_CONFIG, annotations: { 'com.example.kind': 'signature' } });
  for (const d of [sbom, sig]) expected.set(d.digest, d);

  // An index can refer to a subject too.
  const child = await pushImage(srv.url, REPO);
  const indexDoc = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    artifactType: BUNDLE,
    manifests: [{ mediaType: MT.ociManifest, digest: child.manifest.digest, size: child.manifest.bytes.length }],
    subject: subjectDesc,
    annotations: { 'com.example.kind': 'bundle' },
  };
  const idx = await pushManifest(srv.url, REPO, indexDoc);
  expected.set(idx.digest, { mediaType: MT.ociIndex, digest: idx.digest, size: idx.bytes.length, artifactType: BUNDLE, annotations: indexDoc.annotations });

  // Noise: a referrer of another manifest, and the same subject digest in another repository.
  const other = await pushImage(srv.url, REPO);
  await pushArtifact(REPO, { mediaType: MT.ociManifest, digest: other.manifest.digest, size: other.manifest.bytes.length }, { artifactType: SBOM });
  await pushArtifact('ref/elsewhere', subjectDesc, { artifactType: SBOM });
});
after(async () => {
  await srv.close();
  removeDir(srv.dir);
});

describe('referrers', () => {
  it('lists every manifest whose subject is the digest, with artifactType and annotations', async () => {
    const { res, index } = await referrers(REPO, subject.manifest.digest);
    assert.equal(res.headers.get('oci-filters-applied'), null, 'no filter, no OCI-Filters-Applied');
    assert.deepEqual(byDigest(index.manifests), byDigest([...expected.values()]));
  });

  it('an artifact without artifactType is reported with its config media type', async () => {
    const { index } = await referrers(REPO, subject.manifest.digest);
    const sig = index.manifests.find((d) => d.annotations?.['com.example.kind'] === 'signature');
    assert.ok(sig, 'the signature is listed');
    assert.equal(sig.artifactType, SIG_CONFIG);
  });

  it('?artifactType= filters and says so in OCI-Filters-Applied', async () => {
    const { res, index } = await referrers(REPO, subject.manifest.digest, `?artifactType=${encodeURIComponent(SBOM)}`);
    assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(
      index.manifests,
      [...expected.values()].filter((d) => d.artifactType === SBOM),
    );
    assert.equal(index.manifests.length, 1);

    const sig = await referrers(REPO, subject.manifest.digest, `?artifactType=${encodeURIComponent(SIG_CONFIG)}`);
    assert.deepEqual(
      sig.index.manifests.map((d) => d.artifactType),
      [SIG_CONFIG],
    );
  });

  it('a filter that matches nothing returns an empty index (still 200)', async () => {
    const { res, index } = await referrers(REPO, subject.manifest.digest, '?artifactType=application/vnd.example.none');
    assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual(index.manifests, []);
  });

  it('an unknown subject answers 200 with an empty manifests list', async () => {
    const { index } = await referrers(REPO, digestOf(randomBlob(8)));
    assert.deepEqual(index.manifests, []);
  });

  it('referrers are per repository', async () => {
    const { index } = await referrers('ref/elsewhere', subject.manifest.digest);
    assert.equal(index.manifests.length, 1);
    assert.ok(!expected.has(index.manifests[0].digest));
  });

  it('a referrer pushed before its subject is listed, and after the subject arrives', async () => {
    const repo = 'ref/early';
    const later = await pushBlob(srv.url, repo, '{"later":true}');
    const subjDoc = { schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: later.digest, size: later.size }, layers: [] };
    const subjBytes = Buffer.from(JSON.stringify(subjDoc));
    const subj: Desc = { mediaType: MT.ociManifest, digest: digestOf(subjBytes), size: subjBytes.length };
    const art = await pushArtifact(repo, subj, { artifactType: SBOM });
    assert.deepEqual((await referrers(repo, subj.digest)).index.manifests, [art]);
    await pushManifest(srv.url, repo, subjBytes);
    assert.deepEqual((await referrers(repo, subj.digest)).index.manifests, [art]);
  });

  it('a deleted referrer disappears from the list', async () => {
    const repo = 'ref/delete';
    const img = await pushImage(srv.url, repo);
    const subj: Desc = { mediaType: MT.ociManifest, digest: img.manifest.digest, size: img.manifest.bytes.length };
    const keep = await pushArtifact(repo, subj, { artifactType: SBOM });
    const drop = await pushArtifact(repo, subj, { artifactType: BUNDLE });
    assert.equal((await referrers(repo, subj.digest)).index.manifests.length, 2);
    const del = await api(srv.url, `/v2/${repo}/manifests/${drop.digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    await del.arrayBuffer();
    assert.deepEqual((await referrers(repo, subj.digest)).index.manifests, [keep]);
  });

  it('an invalid digest answers 400 DIGEST_INVALID', async () => {
    for (const bad of ['not-a-digest', 'sha256:xyz', `sha256:${'a'.repeat(63)}`, 'latest']) {
      await expectError(await api(srv.url, `/v2/${REPO}/referrers/${bad}`), 400, 'DIGEST_INVALID', bad);
    }
  });
});
