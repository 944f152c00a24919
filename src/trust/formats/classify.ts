// Which signature format a manifest is, from the manifest alone. Pure: no I/O.
import { isDigest } from '../../oci/digest.js';
import { isObject } from '../../oci/manifest.js';
import { type ClassifiedSignature, MEDIA, type SignatureDescriptor } from './types.js';

/** cosign's tag-based discovery: the signed manifest's digest with ':' as '-' and a `.sig` suffix. */
const SIG_TAG_RE = /^(sha256|sha512)-([a-f0-9]{64,128})\.sig$/;

/** The digest a cosign `.sig` tag names, or undefined. */
export function digestOfSigTag(tag: string | undefined): string | undefined {
  const m = tag ? SIG_TAG_RE.exec(tag) : null;
  const digest = m ? `${m[1]}:${m[2]}` : undefined;
  return digest && isDigest(digest) ? digest : undefined;
}

/** The `.sig` tag cosign pushes a legacy signature under for `digest`. */
export function sigTagOf(digest: string): string {
  return `${digest.replace(':', '-')}.sig`;
}

export function isSigstoreBundleMediaType(mediaType: string): boolean {
  return mediaType === MEDIA.sigstoreBundleV03 || mediaType.startsWith(MEDIA.sigstoreBundleLegacy);
}

/**
 * Recognises a signature manifest as cosign and notation write it. `manifest` is the parsed JSON
 * of an image manifest; `tag` is the tag it was pushed under, if any (cosign's `.sig` tags name
 * the signed digest). Returns null for anything that is not a signature.
 */
export function classifySignature(manifest: unknown, tag?: string): ClassifiedSignature | null {
  if (!isObject(manifest) || !Array.isArray(manifest.layers)) return null;
  const layers = manifest.layers.map(signatureDescriptor).filter((d): d is SignatureDescriptor => d !== null);
  const subject = isObject(manifest.subject) && typeof manifest.subject.digest === 'string' ? manifest.subject.digest : undefined;
  const subjectDigest = subject && isDigest(subject) ? subject : undefined;
  const config = isObject(manifest.config) ? manifest.config : {};
  // OCI 1.1: the artifactType, or else the config's media type, names what the artifact is
  // (notation writes the latter when a registry has no referrers API).
  const artifactType = typeof manifest.artifactType === 'string' ? manifest.artifactType : config.mediaType;

  // cosign v3 (and 2.x with --new-bundle-format): one bundle layer; the manifest's artifactType is
  // the bundle type, or the empty type cosign 2.5 wrote, with the bundle type on the layer.
  const bundles = layers.filter((l) => isSigstoreBundleMediaType(l.mediaType));
  if (bundles.length > 0) return { format: 'cosign-bundle', subjectDigest, blobs: bundles };

  if (artifactType === MEDIA.notarySignature) {
    const envelopes = layers.filter((l) => l.mediaType === MEDIA.jose || l.mediaType === MEDIA.cose);
    if (envelopes.length === 0) return null;
    return { format: 'notation', subjectDigest, blobs: envelopes.slice(0, 1) };
  }

  const payloads = layers.filter((l) => l.mediaType === MEDIA.cosignSimpleSigning);
  if (payloads.length > 0) {
    return { format: 'cosign', subjectDigest: digestOfSigTag(tag) ?? subjectDigest, blobs: payloads };
  }
  return null;
}

function signatureDescriptor(value: unknown): SignatureDescriptor | null {
  if (!isObject(value)) return null;
  const { mediaType, digest, size, annotations } = value;
  if (typeof mediaType !== 'string' || typeof digest !== 'string' || !isDigest(digest) || typeof size !== 'number') return null;
  const out: SignatureDescriptor = { mediaType, digest, size };
  if (isObject(annotations)) {
    out.annotations = Object.fromEntries(Object.entries(annotations).filter((e): e is [string, string] => typeof e[1] === 'string'));
  }
  return out;
}
