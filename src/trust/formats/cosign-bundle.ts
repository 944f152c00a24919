import type { Bundle } from '@sigstore/bundle';
import { type DigestAlgorithm, digestOf } from '../../oci/digest.js';
import type { NamedKey } from './keys.js';
import { alteredUnderOwnKey, type KeylessMaterial, keyThatVerifies, parseBundle, signedEntity, verifyKeyless } from './sigstore.js';
import { MEDIA, type SignatureDescriptor, type SignatureVerdict, best, verdict } from './types.js';

export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const STATEMENT_TYPES = new Set(['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1']);

export interface BundleInput {
  subjectDigest: string;
  layers: SignatureDescriptor[];
  /** Bundle blobs by digest; a message-signature bundle also needs the signed manifest's bytes under subjectDigest. */
  blobs: ReadonlyMap<string, Buffer>;
  keys: NamedKey[];
  keyless?: KeylessMaterial;
  now: number;
}

export function verifyCosignBundle(input: BundleInput): SignatureVerdict {
  if (input.layers.length === 0) return verdict('invalid', null, 'the signature manifest has no bundle layer', input.now);
  return best(input.layers.map((layer) => verifyBundleLayer(input, layer)));
}

function verifyBundleLayer(input: BundleInput, layer: SignatureDescriptor): SignatureVerdict {
  const { now } = input;
  const invalid = (reason: string, signer: string | null = null) => verdict('invalid', signer, reason, now);
  const bytes = input.blobs.get(layer.digest);
  if (!bytes) return invalid(`the bundle ${layer.digest} could not be read`);
  if (digestOf(bytes, 'sha256') !== layer.digest) return invalid(`the bundle does not match its digest ${layer.digest}`);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return invalid('the bundle is not JSON');
  }
  const bundle = parseBundle(json);
  if (typeof bundle === 'string') return invalid(bundle);

  const claim = readClaim(bundle, input.subjectDigest, input.blobs);
  if (typeof claim === 'string') return invalid(claim);
  if (claim.needsArtifact)
    return verdict('untrusted', null, 'a message-signature bundle is checked against the signed manifest, whose bytes were not given', now);
  const entity = signedEntity(bundle, claim.artifact);
  const what = claim.predicateType && claim.predicateType !== COSIGN_SIGN_PREDICATE ? ` (an attestation: ${claim.predicateType})` : '';

  const key = keyThatVerifies(entity, input.keys);
  if (key) {
    if (claim.wrongSubject) return invalid(`signed by key ${key.name}, but ${claim.wrongSubject}`, key.name);
    return verdict('verified', key.name, `signed by trusted key ${key.name}${what}`, now);
  }
  const keylessBundle = bundle.verificationMaterial.content.$case !== 'publicKey';
  if (keylessBundle && input.keyless) {
    const v = verifyKeyless(bundle, entity, input.keyless, now);
    if (v.status === 'verified' && claim.wrongSubject) return invalid(`signed by ${v.signer}, but ${claim.wrongSubject}`, v.signer);
    return v.status === 'verified' ? { ...v, reason: v.reason + what } : v;
  }
  if (alteredUnderOwnKey(bundle, entity)) return invalid('the signature does not match the signed content (altered after signing)');
  if (claim.wrongSubject) return invalid(claim.wrongSubject);
  if (keylessBundle) return verdict('untrusted', null, 'a keyless signature, and the policy has no trusted root for keyless signatures', now);
  if (input.keys.length === 0) return verdict('untrusted', null, 'the policy trusts no keys', now);
  return verdict('untrusted', null, 'signed with a key the policy does not trust (or the content was altered)', now);
}

interface Claim {
  /** Why the bundle is not bound to the subject, if it is not. */
  wrongSubject: string | null;
  predicateType?: string;
  /** The signed bytes of a message signature (the subject manifest). */
  artifact?: Buffer;
  needsArtifact?: boolean;
}

/** What the bundle says it signs, checked against the subject, or why it is malformed. */
function readClaim(bundle: Bundle, subjectDigest: string, blobs: ReadonlyMap<string, Buffer>): Claim | string {
  const [algorithm, hex] = subjectDigest.split(':');
  if (bundle.content.$case === 'dsseEnvelope') {
    const env = bundle.content.dsseEnvelope;
    if (env.payloadType !== MEDIA.inTotoPayload) return `the DSSE payload type is ${env.payloadType}, not an in-toto statement`;
    let statement: { _type?: unknown; subject?: unknown; predicateType?: unknown };
    try {
      statement = JSON.parse(Buffer.from(env.payload).toString('utf8'));
    } catch {
      return 'the DSSE payload is not JSON';
    }
    if (typeof statement._type !== 'string' || !STATEMENT_TYPES.has(statement._type)) return 'the DSSE payload is not an in-toto statement';
    if (!Array.isArray(statement.subject)) return 'the in-toto statement has no subject';
    const digests = statement.subject
      .map((s: { digest?: Record<string, unknown> }) => s?.digest?.[algorithm])
      .filter((d): d is string => typeof d === 'string');
    const predicateType = typeof statement.predicateType === 'string' ? statement.predicateType : undefined;
    const wrongSubject = digests.includes(hex)
      ? null
      : `the statement is about ${digests.map((d) => `${algorithm}:${d}`).join(', ') || 'another artifact'}, not ${subjectDigest}`;
    return { wrongSubject, predicateType };
  }
  // A message signature: the signed message is the subject manifest itself.
  const md = bundle.content.messageSignature.messageDigest;
  const signedHex = md ? Buffer.from(md.digest).toString('hex') : '';
  if (signedHex !== hex) return `the signature is for ${algorithm}:${signedHex || '(no digest)'}, not ${subjectDigest}`;
  const artifact = blobs.get(subjectDigest);
  if (!artifact) return { wrongSubject: null, needsArtifact: true };
  if (digestOf(artifact, algorithm as DigestAlgorithm) !== subjectDigest) return 'the manifest given for a message signature does not match its digest';
  return { wrongSubject: null, artifact };
}
