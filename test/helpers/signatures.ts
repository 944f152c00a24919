// Signatures made the way cosign and notation make them, byte for byte, for tests (no cosign or
// notation CLI can be installed here). Each maker returns what the client would push: the
// manifest bytes, the blobs, and the tag or subject. Keys, certificates, the test Rekor and the
// trusted root are in signature-pki.ts (re-exported here).
import { constants, createHash, sign } from 'node:crypto';
import { dsseRekorBody, hashedRekordBody, signWith, type TestCert, type TestKey, type TestRekor } from './signature-pki.js';

export * from './signature-pki.js';

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
  /** The signing key (cosign sign --key); for keyless, the certificate's key (the default). */
  key?: TestKey;
  /** Keyless: the Fulcio certificate, and the chain up to the root, stored next to the signature. */
  certificate?: TestCert;
  chain?: TestCert[];
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
  const key = opts.key ?? opts.certificate?.key;
  if (!key) throw new Error('cosignLegacySignature: a key or a certificate');
  const signature = signWith(key, payload);
  const annotations: Record<string, string> = { 'dev.cosignproject.cosign/signature': signature.toString('base64') };
  if (opts.certificate) annotations['dev.sigstore.cosign/certificate'] = opts.certificate.pem;
  if (opts.chain) annotations['dev.sigstore.cosign/chain'] = opts.chain.map((c) => c.pem).join('');
  if (opts.rekor) {
    const body = hashedRekordBody(payload, signature, opts.certificate?.pem ?? key.publicKeyPem);
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

// ---------------------------------------------------------------------------------------------
// cosign v3 signatures: a Sigstore bundle v0.3 as an OCI referrer (cosign's BUNDLE_SPEC.md)

export const BUNDLE_V03 = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const EMPTY_CONFIG = blob(OCI_EMPTY, Buffer.from('{}'));

export interface CosignBundleOptions {
  /** The signed manifest; a message signature signs its bytes, which it then needs. */
  subject: Subject & { bytes?: Buffer };
  reference: string;
  /** The signing key (a keyed bundle names it by a hint); for keyless, the certificate's key (the default). */
  key?: TestKey;
  /** Keyless: the Fulcio certificate (a v0.3 bundle carries the leaf only). */
  certificate?: TestCert;
  /** Log the signature here (cosign's default); v0.3 bundles carry an inclusion proof and checkpoint. */
  rekor?: TestRekor;
  inclusion?: 'promise' | 'proof' | 'both';
  /** Unix seconds (default now). */
  integratedTime?: number;
  /** `cosign sign` bundles a DSSE in-toto statement; a message signature signs the manifest bytes. */
  content?: 'dsse' | 'message';
  predicateType?: string;
  /** State (or sign) this digest instead: a signature of another image attached to this one. */
  claimDigest?: string;
  /** Change the signed content after signing (the bundle's digest follows, the signature does not). */
  tamper?: boolean;
  /** cosign 2.5's manifest: no artifactType, so the empty config type names the artifact. */
  cosign25?: boolean;
  created?: string;
}

/** DSSE's pre-authentication encoding, which the signature covers. */
export function dssePae(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `), payload]);
}

/** A keyed bundle's key hint: the base64 SHA-256 of the public key (DER). */
export function keyHint(key: TestKey): string {
  return createHash('sha256')
    .update(key.publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
}

/** The bundle JSON alone (what `cosign sign --bundle` / `sigstore.json` holds). */
export function sigstoreBundle(opts: CosignBundleOptions): Buffer {
  const key = opts.key ?? opts.certificate?.key;
  if (!key) throw new Error('sigstoreBundle: a key or a certificate');
  const claimed = opts.claimDigest ?? opts.subject.digest;
  const [algorithm, hex] = claimed.split(':');
  const verifier = opts.certificate?.pem ?? key.publicKeyPem;
  let content: Record<string, unknown>;
  let rekorBody: Buffer | undefined;
  let kind = 'dsse';
  if ((opts.content ?? 'dsse') === 'dsse') {
    const statement = {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: opts.reference, digest: { [algorithm]: hex } }],
      predicateType: opts.predicateType ?? COSIGN_SIGN_PREDICATE,
      predicate: {},
    };
    const payload = Buffer.from(JSON.stringify(statement));
    const payloadType = 'application/vnd.in-toto+json';
    const sig = signWith(key, dssePae(payloadType, payload));
    const signed = opts.tamper ? Buffer.from(JSON.stringify({ ...statement, predicate: { altered: true } })) : payload;
    const envelope = { payload: signed.toString('base64'), payloadType, signatures: [{ sig: sig.toString('base64'), keyid: '' }] };
    content = { dsseEnvelope: envelope };
    if (opts.rekor) rekorBody = dsseRekorBody(JSON.stringify(envelope), payload, sig, verifier);
  } else {
    if (!opts.subject.bytes) throw new Error('sigstoreBundle: a message signature signs the subject bytes');
    const message = opts.claimDigest ? Buffer.from(`not ${opts.subject.digest}`) : opts.subject.bytes;
    let sig = signWith(key, message);
    if (opts.tamper) sig = Buffer.concat([sig.subarray(0, -1), Buffer.from([sig[sig.length - 1] ^ 1])]);
    const digest = createHash('sha256').update(message).digest();
    content = { messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: digest.toString('base64') }, signature: sig.toString('base64') } };
    kind = 'hashedrekord';
    if (opts.rekor) rekorBody = hashedRekordBody(message, sig, verifier);
  }
  const tlogEntries: unknown[] = [];
  if (opts.rekor && rekorBody) {
    const entry = opts.rekor.add(rekorBody, opts.integratedTime ?? Math.floor(Date.now() / 1000));
    tlogEntries.push(opts.rekor.bundleEntry(entry, kind, opts.inclusion ?? 'both'));
  }
  const material = opts.certificate ? { certificate: { rawBytes: opts.certificate.der.toString('base64') } } : { publicKey: { hint: keyHint(key) } };
  return Buffer.from(JSON.stringify({ mediaType: BUNDLE_V03, verificationMaterial: { ...material, tlogEntries, timestampVerificationData: {} }, ...content }));
}

/** A cosign v3 signature as `cosign sign` pushes it: the bundle blob and a referrer manifest of the image. */
export function cosignBundleSignature(opts: CosignBundleOptions): SignatureArtifact {
  const bundle = blob(BUNDLE_V03, sigstoreBundle(opts));
  const dsse = (opts.content ?? 'dsse') === 'dsse';
  const annotations: Record<string, string> = {
    'dev.sigstore.bundle.content': dsse ? 'dsse-envelope' : 'message-signature',
    ...(dsse ? { 'dev.sigstore.bundle.predicateType': opts.predicateType ?? COSIGN_SIGN_PREDICATE } : {}),
    'org.opencontainers.image.created': opts.created ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  const manifest = Buffer.from(
    goJson({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_EMPTY, size: EMPTY_CONFIG.bytes.length, digest: EMPTY_CONFIG.digest },
      layers: [{ mediaType: BUNDLE_V03, size: bundle.bytes.length, digest: bundle.digest }],
      annotations,
      subject: { mediaType: opts.subject.mediaType, size: opts.subject.size, digest: opts.subject.digest },
      ...(opts.cosign25 ? {} : { artifactType: BUNDLE_V03 }),
    }),
  );
  return { manifest, mediaType: OCI_MANIFEST, digest: sha256(manifest), blobs: [EMPTY_CONFIG, bundle], subjectDigest: opts.subject.digest };
}

// ---------------------------------------------------------------------------------------------
// notation signatures: a JWS envelope referrer (Notary Project signature specification)

export const NOTARY_SIGNATURE = 'application/vnd.cncf.notary.signature';
export const JOSE = 'application/jose+json';
export const NOTARY_PAYLOAD = 'application/vnd.cncf.notary.payload.v1+json';

export interface NotationOptions {
  subject: Subject;
  /** The signing certificate (its key signs). */
  certificate: TestCert;
  /** Intermediates and the root, in order. */
  chain: TestCert[];
  signingTime?: Date;
  /** The signer's "best by" time (io.cncf.notary.expiry). */
  expiry?: Date;
  /** Sign a descriptor of this digest instead (a signature of another image attached to this one). */
  claimDigest?: string;
  /** Change the payload after signing. */
  tamper?: boolean;
  /** Override the JWS alg (a mismatch with the key is invalid). */
  alg?: string;
  /** Extra critical protected headers (e.g. a verification plugin). */
  extraCritical?: Record<string, string>;
  /** The referrers tag schema's form: no artifactType, the config's media type names the signature. */
  tagSchema?: boolean;
}

const rfc3339 = (d: Date) => d.toISOString().replace(/\.\d+Z$/, 'Z');

/** The JWS alg the Notary Project maps a key to. */
export function notationAlg(key: TestKey): string {
  const pk = key.publicKey;
  if (pk.asymmetricKeyType === 'ec')
    return { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }[pk.asymmetricKeyDetails?.namedCurve ?? ''] ?? 'ES256';
  return { 2048: 'PS256', 3072: 'PS384', 4096: 'PS512' }[pk.asymmetricKeyDetails?.modulusLength ?? 0] ?? 'PS256';
}

/** The JWS envelope as notation-go writes it (application/jose+json). */
export function notationEnvelope(opts: NotationOptions): Buffer {
  const key = opts.certificate.key;
  const alg = opts.alg ?? notationAlg(key);
  const target = (digest: string) => Buffer.from(goJson({ targetArtifact: { mediaType: opts.subject.mediaType, digest, size: opts.subject.size } }));
  const payload = target(opts.claimDigest ?? opts.subject.digest);
  const critical = ['io.cncf.notary.signingScheme', ...(opts.expiry ? ['io.cncf.notary.expiry'] : []), ...Object.keys(opts.extraCritical ?? {})];
  // Go marshals notation-go's header map with sorted keys.
  const header: Record<string, unknown> = {
    alg,
    crit: critical,
    cty: NOTARY_PAYLOAD,
    ...(opts.expiry ? { 'io.cncf.notary.expiry': rfc3339(opts.expiry) } : {}),
    'io.cncf.notary.signingScheme': 'notary.x509',
    'io.cncf.notary.signingTime': rfc3339(opts.signingTime ?? new Date()),
    ...opts.extraCritical,
  };
  const sorted = Object.fromEntries(Object.entries(header).sort(([a], [b]) => (a < b ? -1 : 1)));
  const protectedB64 = Buffer.from(goJson(sorted)).toString('base64url');
  const input = Buffer.from(`${protectedB64}.${payload.toString('base64url')}`);
  const hash = `sha${alg.slice(2)}`;
  const signature = alg.startsWith('ES')
    ? sign(hash, input, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
    : sign(hash, input, { key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 });
  const sent = opts.tamper ? target(`sha256:${'0'.repeat(64)}`) : payload;
  return Buffer.from(
    goJson({
      payload: sent.toString('base64url'),
      protected: protectedB64,
      header: { x5c: [opts.certificate, ...opts.chain].map((c) => c.der.toString('base64')), 'io.cncf.notary.signingAgent': 'notation-go/1.3.0' },
      signature: signature.toString('base64url'),
    }),
  );
}

/** A notation signature as `notation sign` pushes it: the envelope blob and a referrer manifest of the image. */
export function notationSignature(opts: NotationOptions): SignatureArtifact {
  const envelope = blob(JOSE, notationEnvelope(opts));
  const thumbprints = [opts.certificate, ...opts.chain].map((c) => createHash('sha256').update(c.der).digest('hex'));
  const config = opts.tagSchema ? blob(NOTARY_SIGNATURE, Buffer.from('{}')) : EMPTY_CONFIG;
  const manifest = Buffer.from(
    goJson({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      ...(opts.tagSchema ? {} : { artifactType: NOTARY_SIGNATURE }),
      config: { mediaType: config.mediaType, digest: config.digest, size: config.bytes.length, ...(opts.tagSchema ? {} : { data: 'e30=' }) },
      layers: [{ mediaType: JOSE, digest: envelope.digest, size: envelope.bytes.length }],
      subject: { mediaType: opts.subject.mediaType, digest: opts.subject.digest, size: opts.subject.size },
      annotations: {
        'io.cncf.notary.x509chain.thumbprint#S256': JSON.stringify(thumbprints),
        'org.opencontainers.image.created': rfc3339(opts.signingTime ?? new Date()),
      },
    }),
  );
  return { manifest, mediaType: OCI_MANIFEST, digest: sha256(manifest), blobs: [config, envelope], subjectDigest: opts.subject.digest };
}

/** A referrer manifest around a signature blob made elsewhere (a published test vector). */
export function referrerOf(bytes: Buffer, layerMediaType: string, artifactType: string, subject: Subject): SignatureArtifact {
  const layer = blob(layerMediaType, bytes);
  const manifest = Buffer.from(
    goJson({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType,
      config: { mediaType: OCI_EMPTY, digest: EMPTY_CONFIG.digest, size: EMPTY_CONFIG.bytes.length },
      layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: bytes.length }],
      subject,
    }),
  );
  return { manifest, mediaType: OCI_MANIFEST, digest: sha256(manifest), blobs: [EMPTY_CONFIG, layer], subjectDigest: subject.digest };
}
