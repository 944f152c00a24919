// The SBOM as a referrer of its image, pushed through the registry's own paths like any client's
// push: the SBOM and the empty config through upload sessions (digest verified, quota admitted),
// then an OCI manifest with `subject` through ManifestService (validation, quota, push events).
// Clients find it with the referrers API (artifactType application/vnd.cyclonedx+json).
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { parseDigest } from '../oci/digest.js';
import { OCI_EMPTY, OCI_MANIFEST } from '../oci/media-types.js';
import type { Origin } from '../registry/events.js';
import type { ManifestService } from '../registry/manifests.js';
import type { UploadService } from '../registry/uploads.js';

export const SBOM_ARTIFACT_TYPE = 'application/vnd.cyclonedx+json';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface SbomPushDeps {
  uploads: Pick<UploadService, 'start' | 'commit' | 'cancel'>;
  manifests: Pick<ManifestService, 'put'>;
}

async function pushBlob(d: SbomPushDeps, repository: string, body: Buffer): Promise<string> {
  const digest = sha256(body);
  const id = await d.uploads.start(repository);
  try {
    await d.uploads.commit(repository, id, parseDigest(digest), Readable.from([body]), undefined, body.length);
  } catch (err) {
    await d.uploads.cancel(repository, id).catch(() => {});
    throw err;
  }
  return digest;
}

/** Pushes the SBOM as a referrer of `subject` in `repository`; resolves with the referrer's digest. */
export async function pushSbom(
  d: SbomPushDeps,
  repository: string,
  subject: { mediaType: string; digest: string; size: number },
  sbom: Buffer,
  origin: Origin,
  annotations: Record<string, string>,
): Promise<string> {
  const empty = Buffer.from('{}');
  const configDigest = await pushBlob(d, repository, empty);
  const sbomDigest = await pushBlob(d, repository, sbom);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SBOM_ARTIFACT_TYPE,
      config: { mediaType: OCI_EMPTY, digest: configDigest, size: empty.length },
      layers: [{ mediaType: SBOM_ARTIFACT_TYPE, digest: sbomDigest, size: sbom.length, annotations: { 'org.opencontainers.image.title': 'sbom.cdx.json' } }],
      subject,
      annotations,
    }),
  );
  const res = await d.manifests.put(repository, { digest: parseDigest(sha256(manifest)) }, OCI_MANIFEST, manifest, [], origin);
  return res.digest;
}
