// cosign's legacy signatures (SIGNATURE_SPEC.md): a `sha256-<hex>.sig` manifest whose layers are
// simple-signing payloads, each with its base64 signature (and optionally the signing
// certificate, its chain and a Rekor SET bundle) in the layer's annotations. Pure: no I/O.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { digestOf } from '../../oci/digest.js';
import { type NamedKey, verifyWithKey } from './keys.js';
import { type KeylessMaterial, parseBundle, signedEntity, verifyKeyless } from './sigstore.js';
import { ANNOTATION, type SignatureDescriptor, type SignatureVerdict, best, verdict } from './types.js';

export const COSIGN_SIGNATURE_TYPE = 'cosign container image signature';

/** Checks one payload's signature against a certificate (keyless); supplied when the policy has a trusted root. */
export type KeylessCheck = (payload: Buffer, layer: SignatureDescriptor, signature: Buffer) => SignatureVerdict;

export interface LegacyInput {
  subjectDigest: string;
  layers: SignatureDescriptor[];
  blobs: ReadonlyMap<string, Buffer>;
  keys: NamedKey[];
  keyless?: KeylessCheck;
  now: number;
}

export function verifyCosignLegacy(input: LegacyInput): SignatureVerdict {
  if (input.layers.length === 0) return verdict('invalid', null, 'the signature manifest has no simple-signing payload', input.now);
  return best(input.layers.map((layer) => verifyPayloadLayer(input, layer)));
}

function verifyPayloadLayer(input: LegacyInput, layer: SignatureDescriptor): SignatureVerdict {
  const { now } = input;
  const invalid = (reason: string, signer: string | null = null) => verdict('invalid', signer, reason, now);
  const payload = input.blobs.get(layer.digest);
  if (!payload) return invalid(`the payload ${layer.digest} could not be read`);
  if (digestOf(payload) !== layer.digest) return invalid(`the payload does not match its digest ${layer.digest}`);
  const sigText = layer.annotations?.[ANNOTATION.cosignSignature];
  if (!sigText) return invalid(`the payload has no ${ANNOTATION.cosignSignature} annotation`);
  const signature = Buffer.from(sigText, 'base64');
  const claim = readSimpleSigning(payload);
  if (typeof claim === 'string') return invalid(claim);
  const wrongSubject = claim.digest !== input.subjectDigest ? `the signature is for ${claim.digest}, not ${input.subjectDigest}` : null;

  for (const { name, key } of input.keys) {
    if (!verifyWithKey(key, payload, signature)) continue;
    if (wrongSubject) return invalid(`signed by key ${name}, but ${wrongSubject}`, name);
    return verdict('verified', name, `signed by trusted key ${name}`, now);
  }
  if (input.keyless && layer.annotations?.[ANNOTATION.cosignCertificate]) {
    const v = input.keyless(payload, layer, signature);
    if (v.status === 'verified' && wrongSubject) return invalid(`signed by ${v.signer}, but ${wrongSubject}`, v.signer);
    return v;
  }
  // No trusted key verifies it. The signature names its own key when it carries a certificate
  // or a Rekor entry: a signature that fails even with that key was altered after signing.
  const own = layerOwnKey(layer);
  if (own && !verifyWithKey(own, payload, signature)) return invalid('the signature does not match the payload (altered after signing)');
  if (wrongSubject) return invalid(wrongSubject);
  if (layer.annotations?.[ANNOTATION.cosignCertificate] && !input.keyless) {
    return verdict('untrusted', null, 'a keyless signature, and the policy has no trusted root for keyless signatures', now);
  }
  if (own) return verdict('untrusted', null, 'signed with a key the policy does not trust', now);
  if (input.keys.length === 0) return verdict('untrusted', null, 'the policy trusts no keys', now);
  return verdict('untrusted', null, 'the signature does not verify with any trusted key (another key signed it, or the payload was altered)', now);
}

interface SimpleSigning {
  digest: string;
  reference: string | undefined;
}

/** The claim of a simple-signing payload, or why it is not one. */
export function readSimpleSigning(payload: Buffer): SimpleSigning | string {
  let doc: unknown;
  try {
    doc = JSON.parse(payload.toString('utf8'));
  } catch {
    return 'the payload is not JSON';
  }
  const critical = field(doc, 'critical');
  const type = field(critical, 'type');
  if (typeof type !== 'string' || type.toLowerCase() !== COSIGN_SIGNATURE_TYPE) {
    return `the payload's critical.type is not "${COSIGN_SIGNATURE_TYPE}"`;
  }
  const digest = field(field(critical, 'image'), 'docker-manifest-digest');
  if (typeof digest !== 'string') return 'the payload names no critical.image.docker-manifest-digest';
  const reference = field(field(critical, 'identity'), 'docker-reference');
  return { digest, reference: typeof reference === 'string' ? reference : undefined };
}

/** Go's JSON decoding, which cosign uses, matches field names case-insensitively. */
function field(obj: unknown, name: string): unknown {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return undefined;
  const rec = obj as Record<string, unknown>;
  if (name in rec) return rec[name];
  const key = Object.keys(rec).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : rec[key];
}

/** The key the signature says made it: its certificate's, or the one in its Rekor entry. Not trusted; used to tell altered from untrusted. */
function layerOwnKey(layer: SignatureDescriptor): KeyObject | null {
  const cert = layer.annotations?.[ANNOTATION.cosignCertificate];
  const rekorKey = rekorBodyKey(layer.annotations?.[ANNOTATION.cosignBundle]);
  for (const pem of [cert, rekorKey]) {
    if (!pem) continue;
    try {
      return createPublicKey(pem);
    } catch {
      // not a key or certificate: try the next
    }
  }
  return null;
}

/** The PEM public key or certificate inside a Rekor hashedrekord entry carried in cosign's bundle annotation. */
function rekorBodyKey(bundleJson: string | undefined): string | null {
  if (!bundleJson) return null;
  try {
    const bundle = JSON.parse(bundleJson) as { Payload?: { body?: string } };
    const body = JSON.parse(Buffer.from(bundle.Payload?.body ?? '', 'base64').toString('utf8')) as {
      spec?: { signature?: { publicKey?: { content?: string } } };
    };
    const content = body.spec?.signature?.publicKey?.content;
    return content ? Buffer.from(content, 'base64').toString('utf8') : null;
  } catch {
    return null;
  }
}

/**
 * Keyless legacy signatures, verified as sigstore-js verifies any bundle: the annotations (the
 * Fulcio certificate, its chain, and Rekor's SET with the logged entry) are the v0.1 bundle cosign
 * would have written, over a message signature of the payload.
 */
export function verifyLegacyKeyless(payload: Buffer, layer: SignatureDescriptor, signature: Buffer, material: KeylessMaterial, now: number): SignatureVerdict {
  const ann = layer.annotations ?? {};
  const pems =
    `${ann[ANNOTATION.cosignCertificate] ?? ''}\n${ann[ANNOTATION.cosignChain] ?? ''}`.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ??
    [];
  const certificates = pems.map((pem) => ({ rawBytes: pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, '') }));
  const tlogEntries: unknown[] = [];
  const rekor = ann[ANNOTATION.cosignBundle];
  if (rekor) {
    try {
      const set = JSON.parse(rekor) as {
        SignedEntryTimestamp?: string;
        Payload?: { body?: string; integratedTime?: number; logIndex?: number; logID?: string };
      };
      const body = JSON.parse(Buffer.from(set.Payload?.body ?? '', 'base64').toString('utf8')) as { kind?: string; apiVersion?: string };
      tlogEntries.push({
        logIndex: String(set.Payload?.logIndex ?? ''),
        logId: { keyId: Buffer.from(set.Payload?.logID ?? '', 'hex').toString('base64') },
        kindVersion: { kind: body.kind, version: body.apiVersion },
        integratedTime: String(set.Payload?.integratedTime ?? ''),
        inclusionPromise: { signedEntryTimestamp: set.SignedEntryTimestamp },
        canonicalizedBody: set.Payload?.body,
      });
    } catch {
      return verdict('invalid', null, `the ${ANNOTATION.cosignBundle} annotation is not a Rekor bundle`, now);
    }
  }
  const bundle = parseBundle({
    mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
    verificationMaterial: { x509CertificateChain: { certificates }, tlogEntries },
    messageSignature: {
      messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(payload).digest('base64') },
      signature: signature.toString('base64'),
    },
  });
  if (typeof bundle === 'string') return verdict('invalid', null, `the certificate or Rekor annotations are malformed (${bundle})`, now);
  return verifyKeyless(bundle, signedEntity(bundle, payload), material, now);
}
