// The PKI behind the test signatures: keys (node:crypto), certificate authorities and leaf
// certificates (openssl ca, which can date a certificate in the past), a test Rekor log (SETs,
// RFC 6962 inclusion proofs, signed checkpoints) and a Sigstore trusted_root.json naming a
// test Fulcio CA and the test Rekor, so that keyless signatures verify offline.
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject, sign, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export type KeyType = 'ecdsa' | 'ed25519' | 'rsa';

export interface TestKey {
  name: string;
  type: KeyType;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** PKIX PEM, as `cosign generate-key-pair` writes cosign.pub. */
  publicKeyPem: string;
}

export function makeKey(type: KeyType, name = `${type}-key`, rsaBits = 2048): TestKey {
  const pair =
    type === 'ecdsa'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : type === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('rsa', { modulusLength: rsaBits });
  const publicKeyPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { name, type, privateKey: pair.privateKey, publicKey: pair.publicKey, publicKeyPem };
}

/** A signature as cosign makes one with this kind of key: ECDSA (DER) over SHA-256, Ed25519 over the message, RSA PKCS#1 v1.5 SHA-256. */
export function signWith(key: TestKey | KeyObject, message: Buffer): Buffer {
  const k = 'privateKey' in key ? key.privateKey : key;
  return sign(k.asymmetricKeyType === 'ed25519' ? null : 'sha256', message, k);
}

/** A PKIX PEM key as a policy's trust material names it. */
export function trustedKey(key: TestKey, name = key.name): { name: string; publicKeyPem: string } {
  return { name, publicKeyPem: key.publicKeyPem };
}

// ---------------------------------------------------------------------------------------------
// Certificates

export interface TestCert {
  pem: string;
  der: Buffer;
  key: TestKey;
  subject: string;
}

export interface CertOptions {
  /** openssl's form: `/C=US/ST=WA/O=Acme/CN=signer`. */
  subject: string;
  notBefore?: Date;
  notAfter?: Date;
  /** Extension lines for openssl's config (`keyUsage = critical, digitalSignature`, …). */
  extensions: string[];
  key?: TestKey;
}

const CA_EXTENSIONS = ['basicConstraints = critical, CA:TRUE', 'keyUsage = critical, keyCertSign, cRLSign', 'subjectKeyIdentifier = hash'];

/** A self-signed root CA. */
export function makeCa(subject: string, opts: Partial<CertOptions> = {}): TestCert {
  return issue(null, { subject, extensions: CA_EXTENSIONS, ...opts });
}

/** An intermediate CA issued by `issuer`. */
export function makeIntermediate(issuer: TestCert, subject: string, opts: Partial<CertOptions> = {}): TestCert {
  return issue(issuer, { subject, extensions: [...CA_EXTENSIONS, 'authorityKeyIdentifier = keyid'], ...opts });
}

/** A code-signing leaf (what notation's certificate requirements ask for). */
export function makeSigningCert(issuer: TestCert, subject: string, opts: Partial<CertOptions> = {}): TestCert {
  const extensions = [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = codeSigning',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
  ];
  return issue(issuer, { subject, extensions, ...opts });
}

/**
 * A Fulcio-style keyless certificate: short-lived, the identity in the SAN (an email, or a URI
 * for a workflow), the OIDC issuer in Fulcio's extensions (1.3.6.1.4.1.57264.1.1 raw, .1.8 DER).
 */
export function makeFulcioCert(fulcio: TestCert, identity: string, issuer: string, opts: Partial<CertOptions> = {}): TestCert {
  const san = identity.includes('://') ? `URI:${identity}` : `email:${identity}`;
  const extensions = [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = codeSigning',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
    `subjectAltName = critical, ${san}`,
    `1.3.6.1.4.1.57264.1.1 = DER:${Buffer.from(issuer).toString('hex')}`,
    `1.3.6.1.4.1.57264.1.8 = ASN1:UTF8String:${issuer}`,
  ];
  const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
  return issue(fulcio, { subject: '/O=sigstore.dev', extensions, notBefore, notAfter: new Date(notBefore.getTime() + 10 * 60_000), ...opts });
}

function opensslDate(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

function issue(issuer: TestCert | null, opts: CertOptions): TestCert {
  const key = opts.key ?? makeKey('ecdsa', opts.subject);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cert-'));
  try {
    const f = (name: string) => path.join(dir, name);
    fs.writeFileSync(f('key.pem'), key.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    fs.writeFileSync(f('index.txt'), '');
    fs.writeFileSync(f('serial'), `${createHash('sha256').update(`${opts.subject}${Math.random()}`).digest('hex').slice(0, 16)}\n`);
    const conf = [
      '[ca]',
      'default_ca = ca_default',
      '[ca_default]',
      `database = ${f('index.txt')}`,
      `new_certs_dir = ${dir}`,
      `serial = ${f('serial')}`,
      'default_md = sha256',
      'policy = policy_any',
      'unique_subject = no',
      'email_in_dn = no',
      '[policy_any]',
      'countryName = optional',
      'stateOrProvinceName = optional',
      'localityName = optional',
      'organizationName = optional',
      'organizationalUnitName = optional',
      'commonName = optional',
      '[req]',
      'distinguished_name = dn',
      '[dn]',
      '[ext]',
      ...opts.extensions,
    ].join('\n');
    fs.writeFileSync(f('openssl.cnf'), conf);
    const run = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    run(['req', '-new', '-config', f('openssl.cnf'), '-key', f('key.pem'), '-subj', opts.subject, '-out', f('req.csr')]);
    const notBefore = opts.notBefore ?? new Date(Date.now() - 86_400_000);
    const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + 3650 * 86_400_000);
    const signer = issuer ? ['-cert', f('issuer.pem'), '-keyfile', f('issuer-key.pem')] : ['-selfsign', '-keyfile', f('key.pem')];
    if (issuer) {
      fs.writeFileSync(f('issuer.pem'), issuer.pem);
      fs.writeFileSync(f('issuer-key.pem'), issuer.key.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    }
    run([
      'ca',
      '-batch',
      '-notext',
      '-preserveDN',
      '-config',
      f('openssl.cnf'),
      '-extensions',
      'ext',
      ...signer,
      '-startdate',
      opensslDate(notBefore),
      '-enddate',
      opensslDate(notAfter),
      '-in',
      f('req.csr'),
      '-out',
      f('cert.pem'),
    ]);
    const pem = fs.readFileSync(f('cert.pem'), 'utf8');
    return { pem, der: Buffer.from(new X509Certificate(pem).raw), key, subject: opts.subject };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// A test Rekor

/** Canonical JSON (sorted keys, no whitespace), as Rekor canonicalizes bodies and SET payloads. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const sha = (...parts: Buffer[]) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();
const leafHash = (leaf: Buffer) => sha(Buffer.from([0]), leaf);
const nodeHash = (l: Buffer, r: Buffer) => sha(Buffer.from([1]), l, r);
const split = (n: number) => 2 ** Math.floor(Math.log2(n - 1));

/** RFC 6962 Merkle tree hash of leaf hashes. */
function treeHash(hashes: Buffer[]): Buffer {
  if (hashes.length === 1) return hashes[0];
  const k = split(hashes.length);
  return nodeHash(treeHash(hashes.slice(0, k)), treeHash(hashes.slice(k)));
}

/** RFC 6962 audit path of leaf m, lowest level first. */
function auditPath(m: number, hashes: Buffer[]): Buffer[] {
  if (hashes.length <= 1) return [];
  const k = split(hashes.length);
  return m < k ? [...auditPath(m, hashes.slice(0, k)), treeHash(hashes.slice(k))] : [...auditPath(m - k, hashes.slice(k)), treeHash(hashes.slice(0, k))];
}

export interface RekorEntry {
  logIndex: number;
  integratedTime: number;
  set: Buffer;
  body: Buffer;
}

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

  /** Appends a canonicalized entry body; returns its index, time and signed entry timestamp. */
  add(body: Buffer, integratedTime: number): RekorEntry {
    const logIndex = this.leaves.length;
    this.leaves.push(body);
    const payload = canonicalJson({ body: body.toString('base64'), integratedTime, logIndex, logID: this.logId.toString('hex') });
    return { logIndex, integratedTime, body, set: sign('sha256', Buffer.from(payload), this.key.privateKey) };
  }

  /** An inclusion proof of the entry in the log as it is now, with a checkpoint the log signed. */
  inclusionProof(logIndex: number): { logIndex: string; rootHash: string; treeSize: string; hashes: string[]; checkpoint: { envelope: string } } {
    const hashes = this.leaves.map(leafHash);
    const root = treeHash(hashes);
    const note = `${this.origin} - 1193050959916656506\n${hashes.length}\n${root.toString('base64')}\n`;
    const sig = sign('sha256', Buffer.from(note), this.key.privateKey);
    const envelope = `${note}\n\u2014 ${this.origin} ${Buffer.concat([this.logId.subarray(0, 4), sig]).toString('base64')}\n`;
    return {
      logIndex: String(logIndex),
      rootHash: root.toString('base64'),
      treeSize: String(hashes.length),
      hashes: auditPath(logIndex, hashes).map((h) => h.toString('base64')),
      checkpoint: { envelope },
    };
  }

  /** The entry as a bundle's verificationMaterial.tlogEntries holds it. */
  bundleEntry(entry: RekorEntry, kind: string, inclusion: 'promise' | 'proof' | 'both' = 'both'): Record<string, unknown> {
    return {
      logIndex: String(entry.logIndex),
      logId: { keyId: this.logId.toString('base64') },
      kindVersion: { kind, version: '0.0.1' },
      integratedTime: String(entry.integratedTime),
      ...(inclusion !== 'proof' ? { inclusionPromise: { signedEntryTimestamp: entry.set.toString('base64') } } : {}),
      ...(inclusion !== 'promise' ? { inclusionProof: this.inclusionProof(entry.logIndex) } : {}),
      canonicalizedBody: entry.body.toString('base64'),
    };
  }
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

/** A Rekor dsse v0.0.1 entry body for a one-signature envelope, canonicalized. */
export function dsseRekorBody(envelopeJson: string, payload: Buffer, signature: Buffer, publicKeyOrCertPem: string): Buffer {
  const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  return Buffer.from(
    canonicalJson({
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: {
        envelopeHash: { algorithm: 'sha256', value: hex(envelopeJson) },
        payloadHash: { algorithm: 'sha256', value: hex(payload) },
        signatures: [{ signature: signature.toString('base64'), verifier: Buffer.from(publicKeyOrCertPem).toString('base64') }],
      },
    }),
  );
}

/** A trusted_root.json (protobuf-specs TrustedRoot) naming the test Fulcio CAs and Rekor logs. */
export function trustedRoot(fulcio: TestCert[], rekors: TestRekor[]): Record<string, unknown> {
  const start = '2020-01-01T00:00:00Z';
  return {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: rekors.map((r) => ({
      baseUrl: r.baseUrl,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: r.publicKeyDer.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } },
      logId: { keyId: r.logId.toString('base64') },
    })),
    certificateAuthorities: fulcio.map((ca) => ({
      subject: { organization: 'berth-test', commonName: ca.subject },
      uri: 'https://fulcio.test.berth',
      certChain: { certificates: [{ rawBytes: ca.der.toString('base64') }] },
      validFor: { start },
    })),
    ctlogs: [],
    timestampAuthorities: [],
  };
}

// ---------------------------------------------------------------------------------------------
// Everything a test needs to trust (and distrust) signatures, made once

export interface TestTrust {
  keys: Record<KeyType, TestKey>;
  /** A key no policy trusts. */
  strangerKey: TestKey;
  notation: {
    root: TestCert;
    leaf: TestCert;
    /** Issued by the root, expired yesterday. */
    expiredLeaf: TestCert;
    /** Issued by the root for another subject (not the trusted identity). */
    otherLeaf: TestCert;
    /** A leaf of a CA outside the trust store. */
    strangerLeaf: TestCert;
    strangerRoot: TestCert;
    /** The trusted identity (matches `leaf` and `expiredLeaf`). */
    identity: string;
  };
  keyless: {
    fulcio: TestCert;
    rekor: TestRekor;
    trustedRoot: Record<string, unknown>;
    identity: { subject: string; issuer: string };
    /** A fresh Fulcio certificate for the trusted identity (or another one). */
    certificate(subject?: string, issuer?: string): TestCert;
  };
  /** Trust material trusting all three keys, the notation root and identity, and the keyless identity. */
  material(): {
    keys: { name: string; publicKeyPem: string }[];
    notation: { trustStore: string[]; identities: string[] };
    keyless: { trustedRoot: object; identities: { subject: string; issuer: string }[] };
  };
}

/** Keys, a notation CA with valid, expired and other-identity leaves, a test Fulcio and Rekor with their trusted root. */
export function makeTestTrust(): TestTrust {
  const keys = { ecdsa: makeKey('ecdsa', 'release-ecdsa'), ed25519: makeKey('ed25519', 'release-ed25519'), rsa: makeKey('rsa', 'release-rsa') };
  const root = makeCa('/C=US/ST=WA/O=Berth Test/CN=Berth Test Root');
  const dn = '/C=US/ST=WA/L=Seattle/O=Berth Test/CN=release';
  const day = 86_400_000;
  const strangerRoot = makeCa('/C=US/ST=WA/O=Berth Test/CN=Stranger Root');
  const fulcio = makeCa('/O=sigstore.dev/CN=berth-test-fulcio');
  const rekor = new TestRekor();
  const identity = { subject: 'ci@berth.test', issuer: 'https://issuer.berth.test' };
  const t: TestTrust = {
    keys,
    strangerKey: makeKey('ecdsa', 'stranger'),
    notation: {
      root,
      leaf: makeSigningCert(root, dn),
      expiredLeaf: makeSigningCert(root, dn, { notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) }),
      otherLeaf: makeSigningCert(root, '/C=US/ST=WA/L=Seattle/O=Berth Test/CN=intern'),
      strangerLeaf: makeSigningCert(strangerRoot, dn),
      strangerRoot,
      identity: 'x509.subject: C=US, ST=WA, L=Seattle, O=Berth Test, CN=release',
    },
    keyless: {
      fulcio,
      rekor,
      trustedRoot: trustedRoot([fulcio], [rekor]),
      identity,
      certificate: (subject = identity.subject, issuer = identity.issuer) => makeFulcioCert(fulcio, subject, issuer),
    },
    material: () => ({
      keys: Object.values(keys).map((k) => trustedKey(k)),
      notation: { trustStore: [root.pem], identities: [t.notation.identity] },
      keyless: { trustedRoot: t.keyless.trustedRoot, identities: [identity] },
    }),
  };
  return t;
}
