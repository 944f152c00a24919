// Sigstore verification through sigstore-js (@sigstore/verify): bundles, keyless identities
// against an operator's trusted_root.json, Rekor inclusion (SET and/or proof with checkpoint),
// all offline. Pure: no I/O.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Bundle } from '@sigstore/bundle';
import type { TrustedRoot } from '@sigstore/protobuf-specs';
import type { SignedEntity, Verifier } from '@sigstore/verify';
import type { NamedKey } from './keys.js';
import { type SignatureVerdict, type TrustMaterial, TrustMaterialError, verdict } from './types.js';

export type KeylessMaterial = NonNullable<TrustMaterial['keyless']>;

const require = createRequire(import.meta.url);

/**
 * sigstore-js (CommonJS, a few MiB of heap), loaded the first time a signature or a keyless policy needs it:
 * a registry that never sees one never loads it.
 */
export function sigstoreLibs() {
  return {
    bundle: require('@sigstore/bundle') as typeof import('@sigstore/bundle'),
    core: require('@sigstore/core') as typeof import('@sigstore/core'),
    specs: require('@sigstore/protobuf-specs') as typeof import('@sigstore/protobuf-specs'),
    verify: require('@sigstore/verify') as typeof import('@sigstore/verify'),
  };
}

/** Parses a trusted_root.json; throws TrustMaterialError when sigstore-js cannot use it. */
export function parseTrustedRoot(json: object): TrustedRoot {
  try {
    const { specs, verify } = sigstoreLibs();
    const root = specs.TrustedRoot.fromJSON(json);
    verify.toTrustMaterial(root); // decodes every key and certificate
    if (root.certificateAuthorities.length === 0) throw new Error('it names no certificate authority');
    return root;
  } catch (err) {
    throw new TrustMaterialError(`trusted root: ${(err as Error).message}`);
  }
}

/** Checks a keyless identity list; throws TrustMaterialError. */
export function checkIdentities(identities: KeylessMaterial['identities']): void {
  for (const id of identities) {
    if (!id.issuer) throw new TrustMaterialError('a keyless identity needs an issuer');
    if (!id.subject && !id.subjectRegExp) throw new TrustMaterialError('a keyless identity needs a subject or a subjectRegExp');
    if (id.subjectRegExp) {
      try {
        new RegExp(id.subjectRegExp);
      } catch (err) {
        throw new TrustMaterialError(`subjectRegExp: ${(err as Error).message}`);
      }
    }
  }
}

/** A bundle from its JSON, or why it is not one. */
export function parseBundle(json: unknown): Bundle | string {
  try {
    return sigstoreLibs().bundle.bundleFromJSON(json);
  } catch (err) {
    return `not a Sigstore bundle: ${(err as Error).message}`;
  }
}

export function signedEntity(bundle: Bundle, artifact?: Buffer): SignedEntity {
  return sigstoreLibs().verify.toSignedEntity(bundle, artifact);
}

/** The trusted key that verifies the bundle's signature, if any (cosign verify --key: the log is not consulted). */
export function keyThatVerifies(entity: SignedEntity, keys: NamedKey[]): NamedKey | null {
  for (const k of keys) {
    try {
      if (entity.signature.verifySignature(k.key)) return k;
    } catch {
      // a signature of another key type
    }
  }
  return null;
}

/**
 * The key the bundle says made it (its certificate's, or the one its Rekor entry records). Not
 * trusted: a signature that fails even with its own key was altered after signing.
 */
export function bundleOwnKey(bundle: Bundle): KeyObject | null {
  const vm = bundle.verificationMaterial.content;
  try {
    const leaf = vm.$case === 'certificate' ? vm.certificate : vm.$case === 'x509CertificateChain' ? vm.x509CertificateChain.certificates[0] : undefined;
    if (leaf) return createPublicKey({ key: sigstoreLibs().core.X509Certificate.parse(Buffer.from(leaf.rawBytes)).publicKey, format: 'der', type: 'spki' });
  } catch {
    return null;
  }
  for (const entry of bundle.verificationMaterial.tlogEntries) {
    const pem = rekorEntryKey(entry.canonicalizedBody);
    if (!pem) continue;
    try {
      return createPublicKey(pem);
    } catch {
      // not a key: try the next entry
    }
  }
  return null;
}

/** The verifier's key (or certificate) PEM a Rekor v1 hashedrekord or dsse entry body records. */
export function rekorEntryKey(body: Buffer): string | null {
  try {
    const doc = JSON.parse(body.toString('utf8')) as {
      spec?: { signature?: { publicKey?: { content?: string } }; signatures?: { verifier?: string }[] };
    };
    const b64 = doc.spec?.signature?.publicKey?.content ?? doc.spec?.signatures?.[0]?.verifier;
    return b64 ? Buffer.from(b64, 'base64').toString('utf8') : null;
  } catch {
    return null;
  }
}

/** Whether the signature fails with the bundle's own key (so it was altered). */
export function alteredUnderOwnKey(bundle: Bundle, entity: SignedEntity): boolean {
  const own = bundleOwnKey(bundle);
  if (!own) return false;
  try {
    return !entity.signature.verifySignature(own);
  } catch {
    return true;
  }
}

/**
 * Keyless verification: the certificate chains to a CA of the trusted root and was valid when the
 * transparency log recorded the signature (its inclusion promise or proof verified against a log
 * of the root), the signature matches, and the certificate's identity and OIDC issuer are trusted.
 */
export function verifyKeyless(bundle: Bundle, entity: SignedEntity, material: KeylessMaterial, now: number): SignatureVerdict {
  let root: TrustedRoot;
  try {
    root = parseTrustedRoot(material.trustedRoot);
  } catch (err) {
    return verdict('untrusted', null, (err as Error).message, now);
  }
  const { verify } = sigstoreLibs();
  const verifier = new verify.Verifier(verify.toTrustMaterial(root), {
    tlogThreshold: 1,
    // A root without CT logs (a private Fulcio) cannot ask for SCTs; Sigstore's public root names its CT log.
    ctlogThreshold: root.ctlogs.length > 0 ? 1 : 0,
    timestampThreshold: 1,
  });
  let signer: ReturnType<Verifier['verify']>;
  try {
    signer = verifier.verify(entity);
  } catch (err) {
    return keylessFailure(err, bundle, root, now);
  }
  const san = signer.identity?.subjectAlternativeName ?? '';
  const issuer = signer.identity?.extensions?.issuer ?? '';
  const who = `${san || '(no subject)'} (issuer ${issuer || 'unknown'})`;
  const trusted = material.identities.some((id) => id.issuer === issuer && (id.subject ? id.subject === san : anchored(id.subjectRegExp ?? '').test(san)));
  if (!trusted) return verdict('untrusted', who, `signed by ${who}, which the policy does not trust`, now);
  return verdict('verified', who, `signed by ${who}, logged in a trusted transparency log`, now);
}

/** cosign matches --certificate-identity-regexp anywhere in the SAN; a policy here must match all of it. */
function anchored(re: string): RegExp {
  return new RegExp(`^(?:${re})$`);
}

function keylessFailure(err: unknown, bundle: Bundle, root: TrustedRoot, now: number): SignatureVerdict {
  const invalid = (reason: string) => verdict('invalid', null, reason, now);
  const untrusted = (reason: string) => verdict('untrusted', null, reason, now);
  if (!(err instanceof sigstoreLibs().verify.VerificationError)) return invalid(`keyless verification failed: ${(err as Error).message}`);
  const cause = err.cause instanceof Error ? err.cause.message : '';
  switch (err.code) {
    case 'CERTIFICATE_ERROR':
      if (/expired|not valid/.test(cause) || /expired|not valid/.test(err.message)) {
        return invalid('the signing certificate was not valid when the signature was logged (expired or not yet valid)');
      }
      if (/SCT/.test(err.message)) return untrusted(`the certificate carries no trusted certificate-transparency timestamp (${err.message})`);
      return untrusted('the signing certificate was not issued by a certificate authority of the trusted root');
    case 'SIGNATURE_ERROR':
      return invalid('the signature does not match the signed content (altered after signing)');
    case 'TLOG_BODY_ERROR':
      return invalid(`the signature does not match its transparency-log entry (${err.message})`);
    case 'TLOG_INCLUSION_PROMISE_ERROR':
    case 'TLOG_INCLUSION_PROOF_ERROR': {
      const known = bundle.verificationMaterial.tlogEntries.some((e) =>
        root.tlogs.some((t) => (t.checkpointKeyId?.keyId ?? t.logId?.keyId)?.equals(e.logId?.keyId ?? Buffer.alloc(0))),
      );
      if (!known) return untrusted('the signature was logged in a transparency log that the trusted root does not name');
      return invalid(`the transparency-log inclusion does not verify (${err.message})`);
    }
    case 'TLOG_ERROR':
    case 'TLOG_MISSING_INCLUSION_ERROR':
    case 'TIMESTAMP_ERROR':
      return untrusted(`the signature has no verifiable transparency-log entry or timestamp (${err.message})`);
    default:
      return invalid(`keyless verification failed: ${err.message}`);
  }
}
