// Notary Project signatures as notation writes them: a referrer (artifactType
// application/vnd.cncf.notary.signature) whose layer is a JWS envelope (JSON serialization,
// flattened) over the target artifact's descriptor, with the X.509 chain in the unprotected
// header. Verified per the trust store and trust policy specification: integrity, chain to a
// trust-store CA, validity now (no timestamp authority), expiry, trusted identity. Pure: no I/O.
import { createHash, type X509Certificate } from 'node:crypto';
import type { FlattenedJWSInput } from 'jose';
import { MEDIA, type SignatureDescriptor, type SignatureVerdict, type TrustMaterial, verdict } from './types.js';
import { chainProblem, identityMatches, parseCertificate, parseIdentity, subjectString, validityProblem } from './x509.js';

export type NotationMaterial = NonNullable<TrustMaterial['notation']>;

const SIGNING_SCHEME = 'io.cncf.notary.signingScheme';
const SIGNING_TIME = 'io.cncf.notary.signingTime';
const AUTHENTIC_SIGNING_TIME = 'io.cncf.notary.authenticSigningTime';
const EXPIRY = 'io.cncf.notary.expiry';
/** Critical headers this verifier processes; a signature that needs a verification plugin is refused. */
const KNOWN_CRITICAL = [SIGNING_SCHEME, AUTHENTIC_SIGNING_TIME, EXPIRY];

export interface NotationInput {
  subjectDigest: string;
  layers: SignatureDescriptor[];
  blobs: ReadonlyMap<string, Buffer>;
  material?: NotationMaterial;
  now: number;
}

/** Compiles a notation trust store and identities; throws TrustMaterialError. */
export function compileNotation(material: NotationMaterial): { roots: X509Certificate[]; identities: ReturnType<typeof parseIdentity>[] } {
  return {
    roots: material.trustStore.map((pem, i) => parseCertificate(pem, `trust store certificate ${i + 1}`)),
    identities: material.identities.map(parseIdentity),
  };
}

export async function verifyNotation(input: NotationInput): Promise<SignatureVerdict> {
  const { now } = input;
  const invalid = (reason: string, signer: string | null = null) => verdict('invalid', signer, reason, now);
  const layer = input.layers[0];
  if (!layer) return invalid('the signature manifest has no envelope layer');
  if (layer.mediaType === MEDIA.cose) return verdict('untrusted', null, 'COSE signature envelopes are not verified here (notation signs JWS by default)', now);
  const bytes = input.blobs.get(layer.digest);
  if (!bytes) return invalid(`the envelope ${layer.digest} could not be read`);
  if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== layer.digest) return invalid(`the envelope does not match its digest ${layer.digest}`);

  const envelope = readEnvelope(bytes);
  if (typeof envelope === 'string') return invalid(envelope);
  const { jws, header, chain } = envelope;
  const leaf = chain[0];
  const signer = subjectString(leaf);

  const alg = expectedAlg(leaf);
  if (!alg) return invalid('the signing certificate has a key the Notary Project does not allow', signer);
  if (header.alg !== alg) return invalid(`the envelope says ${String(header.alg)}, but the signing certificate's key needs ${alg}`, signer);
  let payload: Uint8Array;
  try {
    const crit = Object.fromEntries(KNOWN_CRITICAL.map((name) => [name, true]));
    ({ payload } = await (await import('jose')).flattenedVerify(jws, leaf.publicKey, { algorithms: [alg], crit }));
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return invalid('the signature does not match the envelope (altered after signing)', signer);
    return invalid(`the envelope does not verify (${(err as Error).message})`, signer);
  }

  // Signed: everything below is what the signer stated.
  const target = readTarget(payload);
  if (target === null) return invalid('the payload names no targetArtifact descriptor', signer);
  if (target !== input.subjectDigest) return invalid(`signed by ${signer}, but the signature is for ${target}, not ${input.subjectDigest}`, signer);
  if (header[SIGNING_SCHEME] !== 'notary.x509') {
    return verdict('untrusted', signer, `signing scheme ${String(header[SIGNING_SCHEME])} is not supported (notary.x509 is)`, now);
  }
  if (typeof header[SIGNING_TIME] !== 'string' || Number.isNaN(Date.parse(header[SIGNING_TIME]))) return invalid('the envelope has no signing time', signer);
  const problem = chainProblem(chain);
  if (problem) return invalid(problem, signer);
  const expired = validityProblem(chain, now);
  if (expired) return invalid(expired, signer);
  // The chain must also have been valid when the signer says it signed (an untrusted time, so only ever a reason to refuse).
  const atSigning = validityProblem(chain, Date.parse(header[SIGNING_TIME]));
  if (atSigning) return invalid(`at the signing time ${header[SIGNING_TIME]}, ${atSigning}`, signer);
  const expiry = header[EXPIRY];
  if (expiry !== undefined && (typeof expiry !== 'string' || Number.isNaN(Date.parse(expiry)) || Date.parse(expiry) <= now)) {
    return invalid(`the signature expired on ${String(expiry)}`, signer);
  }

  if (!input.material) return verdict('untrusted', signer, 'the policy has no notation trust store', now);
  const { roots, identities } = compileNotation(input.material);
  const anchored = chain.some((c) => roots.some((r) => r.fingerprint256 === c.fingerprint256));
  if (!anchored) return verdict('untrusted', signer, `signed by ${signer}, whose chain does not end in a CA of the trust store`, now);
  if (!identities.some((id) => identityMatches(id, leaf))) return verdict('untrusted', signer, `signed by ${signer}, which is not a trusted identity`, now);
  return verdict('verified', signer, `signed by ${signer}, a trusted identity of the trust store`, now);
}

interface Envelope {
  jws: FlattenedJWSInput;
  header: Record<string, unknown>;
  chain: X509Certificate[];
}

function readEnvelope(bytes: Buffer): Envelope | string {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return 'the envelope is not JSON';
  }
  if (typeof doc !== 'object' || doc === null) return 'the envelope is not a JWS';
  const { payload, protected: prot, header, signature } = doc;
  if (typeof payload !== 'string' || typeof prot !== 'string' || typeof signature !== 'string' || typeof header !== 'object' || header === null) {
    return 'the envelope is not a flattened JWS JSON serialization (payload, protected, header, signature)';
  }
  const extra = Object.keys(doc).filter((k) => !['payload', 'protected', 'header', 'signature'].includes(k));
  if (extra.length) return `the envelope has fields the Notary Project does not allow: ${extra.join(', ')}`;
  let protectedHeader: Record<string, unknown>;
  try {
    protectedHeader = JSON.parse(Buffer.from(prot, 'base64url').toString('utf8'));
  } catch {
    return 'the protected header is not JSON';
  }
  if (protectedHeader.cty !== MEDIA.notaryPayload) return `the content type is ${String(protectedHeader.cty)}, not ${MEDIA.notaryPayload}`;
  const crit = protectedHeader.crit;
  if (!Array.isArray(crit) || !crit.includes(SIGNING_SCHEME)) return `the protected header must list ${SIGNING_SCHEME} as critical`;
  const unknown = crit.filter((c) => !KNOWN_CRITICAL.includes(String(c)));
  if (unknown.length) return `the signature needs critical headers this verifier does not process: ${unknown.join(', ')}`;
  const x5c = (header as { x5c?: unknown }).x5c;
  if (!Array.isArray(x5c) || x5c.length === 0 || !x5c.every((c) => typeof c === 'string')) return 'the envelope carries no certificate chain (x5c)';
  let chain: X509Certificate[];
  try {
    chain = x5c.map((c: string, i) => parseCertificate(Buffer.from(c, 'base64'), `x5c[${i}]`));
  } catch (err) {
    return (err as Error).message;
  }
  return { jws: { payload, protected: prot, header: header as Record<string, unknown>, signature }, header: protectedHeader, chain };
}

/** The digest of the artifact a Notary Project payload signs, if it names one. */
function readTarget(payload: Uint8Array): string | null {
  try {
    const doc = JSON.parse(Buffer.from(payload).toString('utf8')) as { targetArtifact?: { digest?: unknown; mediaType?: unknown; size?: unknown } };
    const t = doc.targetArtifact;
    if (typeof t?.digest === 'string' && typeof t.mediaType === 'string' && typeof t.size === 'number') return t.digest;
  } catch {
    // not JSON
  }
  return null;
}

/** The JWS alg the Notary Project maps the signing key to. */
function expectedAlg(cert: X509Certificate): string | null {
  const key = cert.publicKey;
  if (key.asymmetricKeyType === 'ec') {
    return { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }[key.asymmetricKeyDetails?.namedCurve ?? ''] ?? null;
  }
  if (key.asymmetricKeyType === 'rsa') {
    return { 2048: 'PS256', 3072: 'PS384', 4096: 'PS512' }[key.asymmetricKeyDetails?.modulusLength ?? 0] ?? null;
  }
  return null;
}
