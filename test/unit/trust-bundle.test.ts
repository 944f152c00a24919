// cosign v3 signatures: Sigstore bundles (v0.3) stored as referrers, verified with sigstore-js
// against trusted keys, bound to the manifest they are attached to.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifySignature, type TrustMaterial, verifySignature } from '../../src/trust/formats/index.js';
import {
  blobMap,
  COSIGN_SIGN_PREDICATE,
  cosignBundleSignature,
  type KeyType,
  makeKey,
  manifestOf,
  type SignatureArtifact,
  sha256,
  TestRekor,
  trustedKey,
} from '../helpers/signatures.js';

const SUBJECT_BYTES = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}');
const SUBJECT = { digest: sha256(SUBJECT_BYTES), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: SUBJECT_BYTES.length, bytes: SUBJECT_BYTES };
const OTHER = sha256('another image manifest');
const REF = '127.0.0.1:5000/team/app';
const NOW = Date.parse('2026-06-01T00:00:00Z');

async function verify(artifact: SignatureArtifact, material: TrustMaterial, extra: [string, Buffer][] = []) {
  const sig = classifySignature(manifestOf(artifact));
  assert.ok(sig, 'recognised as a signature');
  assert.equal(sig.subjectDigest, SUBJECT.digest);
  return verifySignature(sig, SUBJECT.digest, new Map([...blobMap(artifact), ...extra]), material, NOW);
}

describe('cosign bundles: the referrer cosign pushes', () => {
  const key = makeKey('ecdsa');

  it('is an OCI manifest with the bundle artifactType, an empty config, one bundle layer and the image as subject', () => {
    const m = manifestOf(cosignBundleSignature({ subject: SUBJECT, reference: REF, key }));
    assert.equal(m.artifactType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.equal(m.config.mediaType, 'application/vnd.oci.empty.v1+json');
    assert.equal(m.config.digest, 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
    assert.equal(m.layers[0].mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
    assert.equal(m.annotations['dev.sigstore.bundle.content'], 'dsse-envelope');
    assert.equal(m.annotations['dev.sigstore.bundle.predicateType'], COSIGN_SIGN_PREDICATE);
    assert.equal(m.subject.digest, SUBJECT.digest);
  });

  it('classifies cosign v3 and cosign 2.5 (empty artifact type) manifests as bundles of their subject', () => {
    for (const cosign25 of [false, true]) {
      const a = cosignBundleSignature({ subject: SUBJECT, reference: REF, key, cosign25 });
      const c = classifySignature(manifestOf(a));
      assert.equal(c?.format, 'cosign-bundle');
      assert.equal(c?.subjectDigest, SUBJECT.digest);
      assert.deepEqual(
        c?.blobs.map((b) => b.mediaType),
        ['application/vnd.dev.sigstore.bundle.v0.3+json'],
      );
    }
  });
});

describe('cosign bundles: keyed verification', () => {
  for (const type of ['ecdsa', 'ed25519', 'rsa'] as KeyType[]) {
    it(`verifies a DSSE bundle signed with a trusted ${type} key`, async () => {
      const key = makeKey(type, `ci-${type}`);
      const v = await verify(cosignBundleSignature({ subject: SUBJECT, reference: REF, key }), { keys: [trustedKey(key)] });
      assert.equal(v.status, 'verified', v.reason);
      assert.equal(v.signer, `ci-${type}`);
    });
  }

  it('verifies a bundle logged in Rekor (the log is not needed for a keyed signature) and a cosign 2.5 one', async () => {
    const key = makeKey('ecdsa', 'release');
    const logged = await verify(cosignBundleSignature({ subject: SUBJECT, reference: REF, key, rekor: new TestRekor() }), { keys: [trustedKey(key)] });
    assert.equal(logged.status, 'verified', logged.reason);
    const old = await verify(cosignBundleSignature({ subject: SUBJECT, reference: REF, key, cosign25: true }), { keys: [trustedKey(key)] });
    assert.equal(old.status, 'verified', old.reason);
  });

  it('verifies a message-signature bundle over the manifest bytes, given them', async () => {
    const key = makeKey('ecdsa', 'release');
    const sig = cosignBundleSignature({ subject: SUBJECT, reference: REF, key, content: 'message' });
    const v = await verify(sig, { keys: [trustedKey(key)] }, [[SUBJECT.digest, SUBJECT_BYTES]]);
    assert.equal(v.status, 'verified', v.reason);
    const without = await verify(sig, { keys: [trustedKey(key)] });
    assert.equal(without.status, 'untrusted', without.reason);
    assert.match(without.reason, /bytes were not given/);
  });

  it('says when a verified bundle is an attestation rather than a signature', async () => {
    const key = makeKey('ecdsa', 'release');
    const v = await verify(cosignBundleSignature({ subject: SUBJECT, reference: REF, key, predicateType: 'https://slsa.dev/provenance/v1' }), {
      keys: [trustedKey(key)],
    });
    assert.equal(v.status, 'verified');
    assert.match(v.reason, /attestation: https:\/\/slsa.dev\/provenance\/v1/);
  });

  it('a bundle signed with another key is untrusted', async () => {
    const trusted = makeKey('ecdsa', 'release');
    for (const rekor of [undefined, new TestRekor()]) {
      const v = await verify(cosignBundleSignature({ subject: SUBJECT, reference: REF, key: makeKey('ecdsa'), rekor }), { keys: [trustedKey(trusted)] });
      assert.equal(v.status, 'untrusted', v.reason);
      assert.equal(v.signer, null);
    }
  });

  it('a tampered statement is invalid (the Rekor entry names the signing key)', async () => {
    const key = makeKey('ecdsa', 'release');
    const v = await verify(cosignBundleSignature({ subject: SUBJECT, reference: REF, key, rekor: new TestRekor(), tamper: true }), {
      keys: [trustedKey(key)],
    });
    assert.equal(v.status, 'invalid', v.reason);
    assert.match(v.reason, /altered/);
    const message = await verify(
      cosignBundleSignature({ subject: SUBJECT, reference: REF, key, content: 'message', tamper: true, rekor: new TestRekor() }),
      {
        keys: [trustedKey(key)],
      },
      [[SUBJECT.digest, SUBJECT_BYTES]],
    );
    assert.equal(message.status, 'invalid', message.reason);
  });

  it('a valid bundle about another image is invalid', async () => {
    const key = makeKey('ed25519', 'release');
    const v = await verify(cosignBundleSignature({ subject: SUBJECT, reference: REF, key, claimDigest: OTHER }), { keys: [trustedKey(key)] });
    assert.equal(v.status, 'invalid', v.reason);
    assert.equal(v.signer, 'release');
    assert.match(v.reason, new RegExp(`about ${OTHER}`));
    const message = await verify(
      cosignBundleSignature({ subject: SUBJECT, reference: REF, key, content: 'message', claimDigest: OTHER }),
      {
        keys: [trustedKey(key)],
      },
      [[SUBJECT.digest, SUBJECT_BYTES]],
    );
    assert.equal(message.status, 'invalid', message.reason);
  });

  it('a bundle blob that is not a bundle is invalid', async () => {
    const key = makeKey('ecdsa');
    const a = cosignBundleSignature({ subject: SUBJECT, reference: REF, key });
    const c = classifySignature(manifestOf(a))!;
    const junk = Buffer.from('{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}');
    const layer = { ...c.blobs[0], digest: sha256(junk) };
    const v = await verifySignature({ ...c, blobs: [layer] }, SUBJECT.digest, new Map([[layer.digest, junk]]), { keys: [trustedKey(key)] }, NOW);
    assert.equal(v.status, 'invalid');
    assert.match(v.reason, /not a Sigstore bundle/);
  });
});
