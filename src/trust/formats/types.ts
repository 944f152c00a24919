// What the signature formats share: the trust a policy compiles to, the verdict, what a signature
// manifest is. Pure: no I/O.

export type SignatureFormat = 'cosign' | 'cosign-bundle' | 'notation';

/** A descriptor as a signature manifest lists it (the fields verification reads). */
export interface SignatureDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** What a signature manifest is, from the manifest alone. */
export interface ClassifiedSignature {
  format: SignatureFormat;
  /** The manifest the signature claims to be attached to (the `subject`, or the digest in a `.sig` tag). */
  subjectDigest?: string;
  /** The blobs verification reads, with their annotations (a cosign `.sig` manifest carries its signatures there). */
  blobs: SignatureDescriptor[];
}

/** One policy's trust, compiled. */
export interface TrustMaterial {
  /** Trusted public keys (PKIX PEM): ECDSA P-256 (also P-384, P-521), Ed25519, RSA. */
  keys: { name: string; publicKeyPem: string }[];
  notation?: {
    /** Root CA certificates (PEM) that signing chains must end in. */
    trustStore: string[];
    /** `x509.subject: C=US, ST=WA, O=Acme, CN=signer` (the listed attributes must all match) or `*`. */
    identities: string[];
  };
  keyless?: {
    /** A Sigstore trusted_root.json (Fulcio CAs, Rekor logs, CT logs, TSAs), as parsed JSON. */
    trustedRoot: object;
    /** Who may sign: the certificate's SAN (exactly, or a regular expression) and the OIDC issuer. */
    identities: { subject?: string; subjectRegExp?: string; issuer: string }[];
  };
}

export interface SignatureVerdict {
  /** untrusted: well-formed, but no trusted key or identity signed it.
   *  invalid: tampered, expired, malformed, or bound to another manifest. */
  status: 'verified' | 'untrusted' | 'invalid';
  /** The key name, the certificate subject, or the keyless identity and issuer. */
  signer: string | null;
  /** Human-readable: shown in the API, the UI and DENIED messages. */
  reason: string;
  /** When the verdict was reached (ms since the epoch: the `now` given). */
  at: number;
}

export const MEDIA = {
  cosignSimpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  /** cosign 2.x with the OCI 1.1 referrers mode: a legacy signature manifest with a subject. */
  cosignArtifactSig: 'application/vnd.dev.cosign.artifact.sig.v1+json',
  sigstoreBundleV03: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  sigstoreBundleLegacy: 'application/vnd.dev.sigstore.bundle+json',
  notarySignature: 'application/vnd.cncf.notary.signature',
  jose: 'application/jose+json',
  cose: 'application/cose',
  notaryPayload: 'application/vnd.cncf.notary.payload.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  inTotoPayload: 'application/vnd.in-toto+json',
} as const;

export const ANNOTATION = {
  cosignSignature: 'dev.cosignproject.cosign/signature',
  cosignCertificate: 'dev.sigstore.cosign/certificate',
  cosignChain: 'dev.sigstore.cosign/chain',
  cosignBundle: 'dev.sigstore.cosign/bundle',
  cosignRFC3161: 'dev.sigstore.cosign/rfc3161timestamp',
} as const;

/** Thrown for trust material a policy cannot use (a malformed key, certificate or trusted root). */
export class TrustMaterialError extends Error {}

export function verdict(status: SignatureVerdict['status'], signer: string | null, reason: string, now: number): SignatureVerdict {
  return { status, signer, reason, at: now };
}

const RANK: Record<SignatureVerdict['status'], number> = { verified: 2, untrusted: 1, invalid: 0 };

/** Of several signatures in one artifact (a cosign `.sig` manifest may hold many), the best one counts. */
export function best(verdicts: SignatureVerdict[]): SignatureVerdict {
  return verdicts.reduce((a, b) => (RANK[b.status] > RANK[a.status] ? b : a));
}
