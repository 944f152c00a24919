// Published test vectors (test/fixtures/signatures/README.md): signatures the real tools wrote,
// verified as referrers of the artifacts they name.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseManifest } from '../../src/oci/manifest.js';
import { classifySignature, type TrustMaterial, verifySignature } from '../../src/trust/formats/index.js';
import {
  blobMap,
  cosignBundleSignature,
  cosignLegacySignature,
  makeKey,
  makeTestTrust,
  manifestOf,
  notationSignature,
  referrerOf,
  type SignatureArtifact,
  sha256,
  trustedKey,
} from '../helpers/signatures.js';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/signatures');
const fixture = (name: string) => readFileSync(path.join(dir, name));
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

async function verify(artifact: SignatureArtifact, subject: string, material: TrustMaterial, now = Date.now()) {
  const sig = classifySignature(manifestOf(artifact));
  assert.ok(sig, 'recognised as a signature');
  return verifySignature(sig, subject, blobMap(artifact), material, now);
}

describe('sigstore-conformance: a managed-key DSSE bundle (intoto-canonical-log-entry)', () => {
  const subject = 'sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf';
  const bundle = fixture('sigstore-conformance/intoto-canonical-log-entry.bundle.json');
  const key = { name: 'conformance', publicKeyPem: fixture('sigstore-conformance/intoto-canonical-log-entry.key.pub').toString() };
  const artifact = referrerOf(bundle, 'application/vnd.dev.sigstore.bundle.v0.3+json', 'application/vnd.dev.sigstore.bundle.v0.3+json', {
    mediaType: MANIFEST,
    digest: subject,
    size: 100,
  });

  it('verifies with its key, for the subject its statement names', async () => {
    const v = await verify(artifact, subject, { keys: [key] });
    assert.equal(v.status, 'verified', v.reason);
    assert.equal(v.signer, 'conformance');
  });

  it('is untrusted under another key, and invalid as a signature of another manifest', async () => {
    assert.equal((await verify(artifact, subject, { keys: [trustedKey(makeKey('ecdsa'))] })).status, 'untrusted');
    const other = await verify(artifact, sha256('another'), { keys: [key] });
    assert.equal(other.status, 'invalid', other.reason);
  });
});

describe('notation-go: a JWS envelope Notation 1.0.0 wrote (PS256, self-signed)', () => {
  const subject = 'sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0';
  const envelope = fixture('notation-go/jws_signature.sig');
  const cert = new X509Certificate(Buffer.from(JSON.parse(envelope.toString()).header.x5c[0], 'base64'));
  const artifact = referrerOf(envelope, 'application/jose+json', 'application/vnd.cncf.notary.signature', { mediaType: MANIFEST, digest: subject, size: 481 });
  const material = (identity: string): TrustMaterial => ({ keys: [], notation: { trustStore: [cert.toString()], identities: [identity] } });

  it('verifies against its certificate as the trust store, for its identity', async () => {
    const v = await verify(artifact, subject, material('x509.subject: C=US, ST=WA, O=Notary'));
    assert.equal(v.status, 'verified', v.reason);
    assert.equal(v.signer, 'C=US, ST=WA, L=Seattle, O=Notary, CN=alpine');
  });

  it('is untrusted for another identity or trust store, invalid for another manifest or after its certificate expires', async () => {
    assert.equal((await verify(artifact, subject, material('x509.subject: C=US, ST=WA, O=Notary, CN=other'))).status, 'untrusted');
    const otherStore: TrustMaterial = { keys: [], notation: { trustStore: [], identities: ['*'] } };
    assert.equal((await verify(artifact, subject, otherStore)).status, 'untrusted');
    assert.equal((await verify(artifact, sha256('another'), material('*'))).status, 'invalid');
    const later = await verify(artifact, subject, material('*'), Date.parse('2124-01-01T00:00:00Z'));
    assert.equal(later.status, 'invalid');
    assert.match(later.reason, /expired/);
  });
});

describe('makeTestTrust: one set of trust for every format (what the e2e tests use)', () => {
  it('verifies each format under its material, and refuses the stranger, expired and other-identity signers', async () => {
    const t = makeTestTrust();
    const material = t.material();
    const subject = { mediaType: MANIFEST, digest: sha256('an image'), size: 8 };
    const check = async (a: SignatureArtifact, want: string) => {
      const sig = classifySignature(manifestOf(a), a.tag)!;
      const v = await verifySignature(sig, subject.digest, blobMap(a), material, Date.now());
      assert.equal(v.status, want, `${sig.format}: ${v.reason}`);
    };
    const ref = 'registry.test/app';
    for (const key of Object.values(t.keys)) await check(cosignLegacySignature({ subjectDigest: subject.digest, reference: ref, key }), 'verified');
    await check(cosignLegacySignature({ subjectDigest: subject.digest, reference: ref, key: t.strangerKey }), 'untrusted');
    await check(cosignBundleSignature({ subject, reference: ref, key: t.keys.ecdsa }), 'verified');
    await check(cosignBundleSignature({ subject, reference: ref, certificate: t.keyless.certificate(), rekor: t.keyless.rekor }), 'verified');
    await check(cosignBundleSignature({ subject, reference: ref, certificate: t.keyless.certificate('eve@berth.test'), rekor: t.keyless.rekor }), 'untrusted');
    await check(notationSignature({ subject, certificate: t.notation.leaf, chain: [t.notation.root] }), 'verified');
    await check(notationSignature({ subject, certificate: t.notation.expiredLeaf, chain: [t.notation.root] }), 'invalid');
    await check(notationSignature({ subject, certificate: t.notation.otherLeaf, chain: [t.notation.root] }), 'untrusted');
    await check(notationSignature({ subject, certificate: t.notation.strangerLeaf, chain: [t.notation.strangerRoot] }), 'untrusted');
  });
});

describe('the helper manifests are manifests Berth takes', () => {
  it('parses each, with the artifact type the referrers API reports', () => {
    const t = makeTestTrust();
    const subject = { mediaType: MANIFEST, digest: sha256('an image'), size: 8 };
    const cases: [SignatureArtifact, string | undefined][] = [
      [cosignLegacySignature({ subjectDigest: subject.digest, reference: 'r/a', key: t.keys.ecdsa }), 'application/vnd.oci.image.config.v1+json'],
      [cosignBundleSignature({ subject, reference: 'r/a', key: t.keys.ecdsa }), 'application/vnd.dev.sigstore.bundle.v0.3+json'],
      [cosignBundleSignature({ subject, reference: 'r/a', key: t.keys.ecdsa, cosign25: true }), 'application/vnd.oci.empty.v1+json'],
      [notationSignature({ subject, certificate: t.notation.leaf, chain: [t.notation.root] }), 'application/vnd.cncf.notary.signature'],
      [notationSignature({ subject, certificate: t.notation.leaf, chain: [t.notation.root], tagSchema: true }), 'application/vnd.cncf.notary.signature'],
    ];
    for (const [a, artifactType] of cases) {
      const p = parseManifest(a.manifest, a.mediaType);
      assert.equal(p.artifactType, artifactType);
      assert.deepEqual(p.blobs.map((b) => b.digest).sort(), a.blobs.map((b) => b.digest).sort());
      assert.equal(p.subject?.digest, a.tag ? undefined : subject.digest);
    }
  });
});
