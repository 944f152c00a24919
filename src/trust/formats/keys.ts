// Public keys as cosign uses them: parsing PKIX PEM and checking a raw signature over a message.
// Pure: no I/O.
import { createPublicKey, type KeyObject, constants, verify } from 'node:crypto';
import { TrustMaterialError } from './types.js';

export interface NamedKey {
  name: string;
  key: KeyObject;
}

const CURVE_HASH: Record<string, string> = { prime256v1: 'sha256', secp384r1: 'sha384', secp521r1: 'sha512' };

/** Parses a PKIX PEM public key of a kind cosign signs with; throws TrustMaterialError otherwise. */
export function parsePublicKey(pem: string, name = 'key'): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new TrustMaterialError(`${name}: not a PEM public key (${(err as Error).message})`);
  }
  const type = key.asymmetricKeyType;
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? '';
    if (!CURVE_HASH[curve]) throw new TrustMaterialError(`${name}: ECDSA curve ${curve || '(unknown)'} is not supported (P-256, P-384, P-521)`);
  } else if (type === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new TrustMaterialError(`${name}: RSA keys shorter than 2048 bits are refused`);
  } else if (type !== 'ed25519') {
    throw new TrustMaterialError(`${name}: ${type} keys are not supported (ECDSA, Ed25519, RSA)`);
  }
  return key;
}

export function parseKeys(keys: readonly { name: string; publicKeyPem: string }[]): NamedKey[] {
  return keys.map((k) => ({ name: k.name, key: parsePublicKey(k.publicKeyPem, k.name) }));
}

/**
 * Checks a signature the way cosign makes one with each kind of key: ECDSA (ASN.1 DER) over the
 * curve's hash, Ed25519 over the message itself, RSA PKCS#1 v1.5 with SHA-256.
 */
export function verifyWithKey(key: KeyObject, message: Buffer, signature: Buffer): boolean {
  try {
    switch (key.asymmetricKeyType) {
      case 'ec':
        return verify(CURVE_HASH[key.asymmetricKeyDetails?.namedCurve ?? ''] ?? 'sha256', message, key, signature);
      case 'ed25519':
        return verify(null, message, key, signature);
      case 'rsa':
        return verify('sha256', message, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
      default:
        return false;
    }
  } catch {
    return false; // a signature of the wrong shape for the key
  }
}

/** A key's PKIX DER bytes. */
export function keyDer(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}
