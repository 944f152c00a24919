// Container image signatures as cosign and notation write them: recognising a signature manifest
// (classifySignature) and verifying it against a policy's trust (verifySignature). Pure: callers
// read the manifest and blobs and pass their bytes; nothing here does I/O.
import { verifyCosignLegacy } from './cosign-legacy.js';
import { parseKeys } from './keys.js';
import { type ClassifiedSignature, type SignatureVerdict, type TrustMaterial, verdict } from './types.js';

export { classifySignature, digestOfSigTag, sigTagOf } from './classify.js';
export { parsePublicKey } from './keys.js';
export type { ClassifiedSignature, SignatureDescriptor, SignatureFormat, SignatureVerdict, TrustMaterial } from './types.js';
export { ANNOTATION, MEDIA, TrustMaterialError } from './types.js';

/** Throws TrustMaterialError naming what a policy's trust material gets wrong. */
export function checkTrustMaterial(material: TrustMaterial): void {
  parseKeys(material.keys);
}

/**
 * Verifies a signature manifest that classifySignature recognised, as a signature of
 * `subjectDigest` (the manifest it is attached to). `blobs` holds the bytes of the descriptors in
 * `signature.blobs`, by digest. `now` (ms) is the verification time for certificate validity.
 * Never throws for a bad signature: the verdict says why.
 */
export async function verifySignature(
  signature: ClassifiedSignature,
  subjectDigest: string,
  blobs: ReadonlyMap<string, Buffer>,
  material: TrustMaterial,
  now: number,
): Promise<SignatureVerdict> {
  const keys = parseKeys(material.keys);
  switch (signature.format) {
    case 'cosign':
      return verifyCosignLegacy({ subjectDigest, layers: signature.blobs, blobs, keys, now });
    default:
      return verdict('untrusted', null, `${signature.format} signatures are not verified yet`, now);
  }
}
