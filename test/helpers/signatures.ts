// Signatures made the way cosign and notation make them, byte for byte, for tests (no cosign or
// notation CLI can be installed here). Each maker returns what the client would push: the
// manifest bytes, the blobs, and the tag or subject. Keys come from node:crypto; certificates
// from openssl (see signature-certs.ts).
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';

export type KeyType = 'ecdsa' | 'ed25519' | 'rsa';

export interface TestKey {
  name: string;
  type: KeyType;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** PKIX PEM, as `cosign generate-key-pair` writes cosign.pub. */
  publicKeyPem: string;
}

export interface Blob {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** What a client pushes for one signature. */
export interface SignatureArtifact {
  /** The tag the manifest is pushed under (cosign's `sha256-<hex>.sig`); referrers are pushed by digest. */
  tag?: string;
  manifest: Buffer;
  mediaType: string;
  digest: string;
  /** Blobs to push before the manifest (config first). */
  blobs: Blob[];
  /** The manifest the signature is attached to. */
  subjectDigest: string;
}

/** The manifest a signature is for, as a referrer's `subject` names it. */
export interface Subject {
  digest: string;
  mediaType: string;
  size: number;
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function blob(mediaType: string, bytes: Buffer): Blob {
  return { digest: sha256(bytes), mediaType, bytes };
}

/** The blobs of a signature by digest, as a verifier is given them. */
export function blobMap(...artifacts: SignatureArtifact[]): Map<string, Buffer> {
  return new Map(artifacts.flatMap((a) => a.blobs.map((b) => [b.digest, b.bytes] as const)));
}

/** The parsed manifest. */
export function manifestOf(a: SignatureArtifact): Record<string, any> {
  return JSON.parse(a.manifest.toString('utf8'));
}

// ---------------------------------------------------------------------------------------------
// Keys

export function makeKey(type: KeyType, name = `${type}-key`): TestKey {
  const pair =
    type === 'ecdsa'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : type === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicKeyPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { name, type, privateKey: pair.privateKey, publicKey: pair.publicKey, publicKeyPem };
}

/** A signature as cosign makes one with this kind of key: ECDSA (DER) over SHA-256, Ed25519 over the message, RSA PKCS#1 v1.5 SHA-256. */
export function signWith(key: TestKey | KeyObject, message: Buffer): Buffer {
  const k = 'privateKey' in key ? key.privateKey : key;
  return sign(k.asymmetricKeyType === 'ed25519' ? null : 'sha256', message, k);
}

/** A PKIX PEM key as material for a policy. */
export function trustedKey(key: TestKey, name = key.name): { name: string; publicKeyPem: string } {
  return { name, publicKeyPem: key.publicKeyPem };
}

// ---------------------------------------------------------------------------------------------
// A test Rekor: a log key, entries with signed entry timestamps (SETs), and (for bundles)
// inclusion proofs against a signed checkpoint.

export class TestRekor {
  readonly key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  readonly publicKeyDer = this.key.publicKey.export({ type: 'spki', format: 'der' });
  /** Rekor's log ID: the SHA-256 of its public key (DER). */
  readonly logId = createHash('sha256').update(this.publicKeyDer).digest();
  readonly origin: string;
  readonly leaves: Buffer[] = [];

  constructor(readonly baseUrl = 'https://rekor.test.berth') {
    this.origin = new URL(baseUrl).host;
  }

  /** Appends a canonicalized entry body; returns its index, time and SET as Rekor answers them. */
  add(body: Buffer, integratedTime: number): { logIndex: number; integratedTime: number; set: Buffer } {
    const logIndex = this.leaves.length;
    this.leaves.push(body);
    const payload = canonicalJson({ body: body.toString('base64'), integratedTime, logIndex, logID: this.logId.toString('hex') });
    return { logIndex, integratedTime, set: sign('sha256', Buffer.from(payload), this.key.privateKey) };
  }
}

/** RFC 8785-style canonical JSON (sorted keys, no whitespace), as Rekor canonicalizes bodies and SET payloads. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** A Rekor hashedrekord v0.0.1 entry body for a signature over `message`, canonicalized. */
export function hashedRekordBody(message: Buffer, signature: Buffer, publicKeyOrCertPem: string): Buffer {
  return Buffer.from(
    canonicalJson({
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(message).digest('hex') } },
        signature: { content: signature.toString('base64'), publicKey: { content: Buffer.from(publicKeyOrCertPem).toString('base64') } },
      },
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// cosign legacy signatures (`cosign sign --key`, cosign 1.x/2.x without the bundle format)

/** Go's encoding/json escapes <, > and & in strings; cosign's bytes are Go's. */
function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The simple-signing payload cosign signs: the image's reference and digest. */
export function simpleSigningPayload(dockerReference: string, digest: string): Buffer {
  return Buffer.from(
    goJson({
      critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' },
      optional: null,
    }),
  );
}

export interface CosignLegacyOptions {
  /** The digest of the signed image manifest. */
  subjectDigest: string;
  /** The image's repository as the signer named it (`registry/name`). */
  reference: string;
  /** A key (cosign sign --key) or a certificate-backed key (keyless: see signature-certs.ts). */
  key: TestKey;
  /** PEM certificate and chain stored next to the signature (keyless, or a key with a certificate). */
  certificatePem?: string;
  chainPem?: string;
  /** Upload to this Rekor and store its SET in the bundle annotation (cosign's default). */
  rekor?: TestRekor;
  /** Unix seconds: the Rekor entry's integrated time (default now). */
  integratedTime?: number;
  /** Sign a claim for this digest instead (a signature of another image, pushed under this one's tag). */
  claimDigest?: string;
  /** Change the payload after signing (the layer's digest follows, the signature does not). */
  tamper?: boolean;
  /** Append to an existing `.sig` manifest (cosign adds a layer per signature). */
  previous?: SignatureArtifact;
}

/** A legacy cosign signature as `cosign sign` pushes it: `sha256-<hex>.sig` tag, simple-signing layers. */
export function cosignLegacySignature(opts: CosignLegacyOptions): SignatureArtifact {
  let payload = simpleSigningPayload(opts.reference, opts.claimDigest ?? opts.subjectDigest);
  const signature = signWith(opts.key, payload);
  const annotations: Record<string, string> = { 'dev.cosignproject.cosign/signature': signature.toString('base64') };
  if (opts.certificatePem) annotations['dev.sigstore.cosign/certificate'] = opts.certificatePem;
  if (opts.chainPem) annotations['dev.sigstore.cosign/chain'] = opts.chainPem;
  if (opts.rekor) {
    const body = hashedRekordBody(payload, signature, opts.certificatePem ?? opts.key.publicKeyPem);
    const entry = opts.rekor.add(body, opts.integratedTime ?? Math.floor(Date.now() / 1000));
    annotations['dev.sigstore.cosign/bundle'] = goJson({
      SignedEntryTimestamp: entry.set.toString('base64'),
      Payload: { body: body.toString('base64'), integratedTime: entry.integratedTime, logIndex: entry.logIndex, logID: opts.rekor.logId.toString('hex') },
    });
  }
  if (opts.tamper) payload = simpleSigningPayload(`${opts.reference}-altered`, opts.claimDigest ?? opts.subjectDigest);
  const layer = blob(SIMPLE_SIGNING, payload);
  const sorted = Object.fromEntries(Object.entries(annotations).sort(([a], [b]) => (a < b ? -1 : 1)));

  const previous = opts.previous ? manifestOf(opts.previous) : null;
  const previousLayers: { mediaType: string; size: number; digest: string; annotations: Record<string, string> }[] = previous?.layers ?? [];
  const layers = [...previousLayers, { mediaType: layer.mediaType, size: layer.bytes.length, digest: layer.digest, annotations: sorted }];
  // go-containerregistry's config for an image built from empty.Image by appending layers.
  const config = blob(
    OCI_CONFIG,
    Buffer.from(
      goJson({
        architecture: '',
        created: '0001-01-01T00:00:00Z',
        history: layers.map(() => ({ created: '0001-01-01T00:00:00Z' })),
        os: '',
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
        config: {},
      }),
    ),
  );
  const manifest = Buffer.from(
    goJson({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: config.mediaType, size: config.bytes.length, digest: config.digest },
      layers,
    }),
  );
  const oldBlobs = opts.previous?.blobs.filter((b) => b.mediaType !== OCI_CONFIG) ?? [];
  return {
    tag: `${opts.subjectDigest.replace(':', '-')}.sig`,
    manifest,
    mediaType: OCI_MANIFEST,
    digest: sha256(manifest),
    blobs: [config, ...oldBlobs, layer],
    subjectDigest: opts.subjectDigest,
  };
}
