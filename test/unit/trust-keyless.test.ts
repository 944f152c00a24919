// Keyless Sigstore signatures (a Fulcio certificate, a Rekor entry) verified offline against an
// operator's trusted_root.json: cosign v3 bundles and cosign legacy `.sig` signatures.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { checkTrustMaterial, classifySignature, type TrustMaterial, TrustMaterialError, verifySignature } from '../../src/trust/formats/index.js';
import {
  blobMap,
  cosignBundleSignature,
  cosignLegacySignature,
  makeCa,
  makeFulcioCert,
  makeKey,
  manifestOf,
  type SignatureArtifact,
  sha256,
  type TestCert,
  TestRekor,
  trustedKey,
  trustedRoot,
} from '../helpers/signatures.js';

const SUBJECT_BYTES = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}');
const SUBJECT = { digest: sha256(SUBJECT_BYTES), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: SUBJECT_BYTES.length, bytes: SUBJECT_BYTES };
const OTHER = sha256('another image manifest');
const REF = '127.0.0.1:5000/team/app';
const ISSUER = 'https://token.actions.example.com';
const WORKFLOW = 'https://git.example.com/team/app/.github/workflows/release.yml@refs/heads/main';
const NOW = Date.now();

let fulcio: TestCert;
let rekor: TestRekor;
let material: TrustMaterial;

before(() => {
  fulcio = makeCa('/O=sigstore.dev/CN=berth-test-fulcio');
  rekor = new TestRekor();
  material = { keys: [], keyless: { trustedRoot: trustedRoot([fulcio], [rekor]), identities: [{ subject: 'ci@example.com', issuer: ISSUER }] } };
});

async function verify(artifact: SignatureArtifact, m: TrustMaterial = material) {
  const sig = classifySignature(manifestOf(artifact), artifact.tag);
  assert.ok(sig, 'recognised as a signature');
  return verifySignature(sig, SUBJECT.digest, new Map([...blobMap(artifact), [SUBJECT.digest, SUBJECT_BYTES]]), m, NOW);
}

type Maker = (o: { certificate: TestCert; rekor?: TestRekor; integratedTime?: number; tamper?: boolean; claimDigest?: string }) => SignatureArtifact;
const makers: [string, Maker][] = [
  ['cosign v3 bundle (DSSE)', (o) => cosignBundleSignature({ subject: SUBJECT, reference: REF, rekor, ...o })],
  ['cosign v3 bundle (message signature)', (o) => cosignBundleSignature({ subject: SUBJECT, reference: REF, rekor, content: 'message', ...o })],
  ['cosign legacy .sig', (o) => cosignLegacySignature({ subjectDigest: SUBJECT.digest, reference: REF, rekor, chain: [fulcio], ...o })],
];

for (const [what, make] of makers) {
  describe(`keyless ${what}`, () => {
    it('verifies a certificate from the trusted Fulcio for a trusted identity, logged in the trusted Rekor', async () => {
      const v = await verify(make({ certificate: makeFulcioCert(fulcio, 'ci@example.com', ISSUER) }));
      assert.equal(v.status, 'verified', v.reason);
      assert.equal(v.signer, `ci@example.com (issuer ${ISSUER})`);
    });

    it('a tampered signature is invalid', async () => {
      const v = await verify(make({ certificate: makeFulcioCert(fulcio, 'ci@example.com', ISSUER), tamper: true }));
      assert.equal(v.status, 'invalid', v.reason);
    });

    it('another identity, or the right one from another issuer, is untrusted', async () => {
      const other = await verify(make({ certificate: makeFulcioCert(fulcio, 'mallory@example.com', ISSUER) }));
      assert.equal(other.status, 'untrusted', other.reason);
      assert.equal(other.signer, `mallory@example.com (issuer ${ISSUER})`);
      const issuer = await verify(make({ certificate: makeFulcioCert(fulcio, 'ci@example.com', 'https://evil.example.com') }));
      assert.equal(issuer.status, 'untrusted', issuer.reason);
    });

    it('a certificate that had expired when the signature was logged is invalid', async () => {
      const certificate = makeFulcioCert(fulcio, 'ci@example.com', ISSUER, { notBefore: new Date(NOW - 3_600_000) });
      const v = await verify(make({ certificate, integratedTime: Math.floor(NOW / 1000) }));
      assert.equal(v.status, 'invalid', v.reason);
      assert.match(v.reason, /not valid when the signature was logged/);
    });

    it('a certificate from a CA outside the trusted root is untrusted', async () => {
      const rogue = makeCa('/O=sigstore.dev/CN=rogue');
      const v = await verify(make({ certificate: makeFulcioCert(rogue, 'ci@example.com', ISSUER) }));
      assert.equal(v.status, 'untrusted', v.reason);
      assert.match(v.reason, /not issued by a certificate authority of the trusted root/);
    });

    it('a signature logged in a transparency log the root does not name is untrusted', async () => {
      const v = await verify(make({ certificate: makeFulcioCert(fulcio, 'ci@example.com', ISSUER), rekor: new TestRekor('https://rekor.elsewhere') }));
      assert.equal(v.status, 'untrusted', v.reason);
      assert.match(v.reason, /transparency log that the trusted root does not name/);
    });

    it('a valid signature of another image is invalid', async () => {
      const v = await verify(make({ certificate: makeFulcioCert(fulcio, 'ci@example.com', ISSUER), claimDigest: OTHER }));
      assert.equal(v.status, 'invalid', v.reason);
    });
  });
}

describe('keyless policy', () => {
  it('matches a subject regular expression against the whole SAN', async () => {
    const certificate = makeFulcioCert(fulcio, WORKFLOW, ISSUER);
    const sig = cosignBundleSignature({ subject: SUBJECT, reference: REF, rekor, certificate });
    const policy = (subjectRegExp: string): TrustMaterial => ({ keys: [], keyless: { ...material.keyless!, identities: [{ subjectRegExp, issuer: ISSUER }] } });
    assert.equal((await verify(sig, policy('https://git\\.example\\.com/team/.*@refs/heads/main'))).status, 'verified');
    assert.equal((await verify(sig, policy('team/app'))).status, 'untrusted', 'a partial match is not enough');
  });

  it('an inclusion proof alone (no SET, no timestamp authority) gives no trusted signing time: untrusted', async () => {
    const certificate = makeFulcioCert(fulcio, 'ci@example.com', ISSUER);
    const v = await verify(cosignBundleSignature({ subject: SUBJECT, reference: REF, rekor, certificate, inclusion: 'proof' }));
    assert.equal(v.status, 'untrusted', v.reason);
    assert.match(v.reason, /no verifiable transparency-log entry or timestamp/);
  });

  it('an inclusion proof that does not lead to the signed checkpoint is invalid', async () => {
    const certificate = makeFulcioCert(fulcio, 'ci@example.com', ISSUER);
    rekor.add(Buffer.from('{"another":"entry"}'), 1); // a tree of more than one leaf, so the proof has hashes
    const sig = cosignBundleSignature({ subject: SUBJECT, reference: REF, rekor, certificate });
    const layer = manifestOf(sig).layers[0].digest;
    const bundle = JSON.parse(blobMap(sig).get(layer)!.toString());
    const proof = bundle.verificationMaterial.tlogEntries[0].inclusionProof;
    proof.hashes[0] = Buffer.alloc(32, 7).toString('base64');
    const bytes = Buffer.from(JSON.stringify(bundle));
    const c = classifySignature(manifestOf(sig))!;
    const v = await verifySignature(
      { ...c, blobs: [{ ...c.blobs[0], digest: sha256(bytes) }] },
      SUBJECT.digest,
      new Map([[sha256(bytes), bytes]]),
      material,
      NOW,
    );
    assert.equal(v.status, 'invalid', v.reason);
    assert.match(v.reason, /inclusion does not verify/);
  });

  it('a bundle whose certificate is not DER is invalid, never an exception', async () => {
    const sig = cosignBundleSignature({ subject: SUBJECT, reference: REF, rekor, certificate: makeFulcioCert(fulcio, 'ci@example.com', ISSUER) });
    const bundle = JSON.parse(blobMap(sig).get(manifestOf(sig).layers[0].digest)!.toString());
    bundle.verificationMaterial.certificate.rawBytes = Buffer.from('not a certificate').toString('base64');
    const bytes = Buffer.from(JSON.stringify(bundle));
    const c = classifySignature(manifestOf(sig))!;
    const v = await verifySignature(
      { ...c, blobs: [{ ...c.blobs[0], digest: sha256(bytes) }] },
      SUBJECT.digest,
      new Map([[sha256(bytes), bytes]]),
      material,
      NOW,
    );
    assert.equal(v.status, 'invalid', v.reason);
  });

  it('a keyless signature under a policy with keys only is untrusted', async () => {
    const certificate = makeFulcioCert(fulcio, 'ci@example.com', ISSUER);
    const v = await verify(cosignBundleSignature({ subject: SUBJECT, reference: REF, rekor, certificate }), { keys: [trustedKey(makeKey('ecdsa'))] });
    assert.equal(v.status, 'untrusted', v.reason);
    assert.match(v.reason, /no trusted root/);
  });

  it('refuses a trusted root or identity it cannot use', () => {
    assert.throws(() => checkTrustMaterial({ keys: [], keyless: { trustedRoot: { mediaType: 'x' }, identities: [] } }), TrustMaterialError);
    assert.throws(
      () => checkTrustMaterial({ keys: [], keyless: { trustedRoot: material.keyless!.trustedRoot, identities: [{ subjectRegExp: '(', issuer: ISSUER }] } }),
      TrustMaterialError,
    );
    assert.throws(
      () => checkTrustMaterial({ keys: [], keyless: { trustedRoot: material.keyless!.trustedRoot, identities: [{ issuer: ISSUER }] } }),
      TrustMaterialError,
    );
    checkTrustMaterial(material);
  });
});
