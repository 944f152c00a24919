// Container image signatures as cosign and notation write them: recognising a signature manifest
// (classifySignature) and verifying it against a policy's trust (verifySignature). Pure: callers
// read the manifest and blobs and pass their bytes; nothing here does I/O.
import { verifyCosignBundle } from './cosign-bundle.js';
import { verifyCosignLegacy, verifyLegacyKeyless } from './cosign-legacy.js';
import { type NamedKey, parseKeys } from './keys.js';
import { compileNotation, verifyNotation } from './notation.js';
import { checkIdentities, parseTrustedRoot } from './sigstore.js';
import { type ClassifiedSignature, type SignatureDescriptor, type SignatureVerdict, type TrustMaterial, TrustMaterialError, verdict } from './types.js';

export { classifySignature, digestOfSigTag, sigTagOf } from './classify.js';
export { parsePublicKey } from './keys.js';
export type { ClassifiedSignature, SignatureDescriptor, SignatureFormat, SignatureVerdict, TrustMaterial } from './types.js';
export { ANNOTATION, MEDIA, TrustMaterialError } from './types.js';

/** Throws TrustMaterialError naming what a policy's trust material gets wrong. */
export function checkTrustMaterial(material: TrustMaterial): void {
  parseKeys(material.keys);
  if (material.notation) compileNotation(material.notation);
  if (material.keyless) {
    parseTrustedRoot(material.keyless.trustedRoot);
    checkIdentities(material.keyless.identities);
  }
}

/**
 * Verifies a signature manifest that classifySignature recognised, as a signature of
 * `subjectDigest` (the manifest it is attached to). `blobs` holds the bytes of the descriptors in
 * `signature.blobs`, by digest (and, for a message-signature bundle, which signs the manifest bytes
 * themselves, the subject manifest's bytes under `subjectDigest`). `now` (ms) is the verification time for certificate validity.
 * Never throws for a bad signature: the verdict says why. Throws TrustMaterialError for a malformed key.
 */
export async function verifySignature(
  signature: ClassifiedSignature,
  subjectDigest: string,
  blobs: ReadonlyMap<string, Buffer>,
  material: TrustMaterial,
  now: number,
): Promise<SignatureVerdict> {
  const keys = parseKeys(material.keys);
  try {
    return await verifyFormat(signature, subjectDigest, blobs, material, keys, now);
  } catch (err) {
    if (err instanceof TrustMaterialError) throw err;
    // A parser deep in a library refusing what the signature carries (a certificate that is not DER, …).
    return verdict('invalid', null, `the signature is malformed: ${(err as Error).message}`, now);
  }
}

function verifyFormat(
  signature: ClassifiedSignature,
  subjectDigest: string,
  blobs: ReadonlyMap<string, Buffer>,
  material: TrustMaterial,
  keys: NamedKey[],
  now: number,
): SignatureVerdict | Promise<SignatureVerdict> {
  switch (signature.format) {
    case 'cosign': {
      const { keyless } = material;
      const check = keyless && ((payload: Buffer, layer: SignatureDescriptor, sig: Buffer) => verifyLegacyKeyless(payload, layer, sig, keyless, now));
      return verifyCosignLegacy({ subjectDigest, layers: signature.blobs, blobs, keys, keyless: check || undefined, now });
    }
    case 'cosign-bundle':
      return verifyCosignBundle({ subjectDigest, layers: signature.blobs, blobs, keys, keyless: material.keyless, now });
    case 'notation':
      return verifyNotation({ subjectDigest, layers: signature.blobs, blobs, material: material.notation, now });
    default:
      return verdict('invalid', null, `unknown signature format ${String(signature.format)}`, now);
  }
}
