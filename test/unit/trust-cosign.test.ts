// cosign legacy signatures (`sha256-<hex>.sig` + simple-signing layers): recognised from the
// manifest, verified against trusted keys, bound to the manifest they sign.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifySignature, TrustMaterialError, type TrustMaterial, verifySignature } from '../../src/trust/formats/index.js';
import {
  blobMap,
  cosignLegacySignature,
  type KeyType,
  makeKey,
  manifestOf,
  type SignatureArtifact,
  sha256,
  simpleSigningPayload,
  TestRekor,
  trustedKey,
} from '../helpers/signatures.js';

const SUBJECT = sha256('an image manifest');
const OTHER = sha256('another image manifest');
const REF = '127.0.0.1:5000/team/app';
const NOW = Date.parse('2026-06-01T00:00:00Z');

async function verify(artifact: SignatureArtifact, material: TrustMaterial, subject = SUBJECT) {
  const sig = classifySignature(manifestOf(artifact), artifact.tag);
  assert.ok(sig, 'recognised as a signature');
  return verifySignature(sig, subject, blobMap(artifact), material, NOW);
}

describe('cosign legacy signatures: the bytes cosign pushes', () => {
  const key = makeKey('ecdsa');
  const sig = cosignLegacySignature({ subjectDigest: SUBJECT, reference: REF, key });

  it('is tagged sha256-<hex>.sig with an OCI manifest of simple-signing layers', () => {
    assert.equal(sig.tag, `sha256-${SUBJECT.slice(7)}.sig`);
    const m = manifestOf(sig);
    assert.deepEqual(Object.keys(m), ['schemaVersion', 'mediaType', 'config', 'layers']);
    assert.equal(m.config.mediaType, 'application/vnd.oci.image.config.v1+json');
    assert.deepEqual(Object.keys(m.layers[0]), ['mediaType', 'size', 'digest', 'annotations']);
    assert.equal(m.layers[0].mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
    assert.match(m.layers[0].annotations['dev.cosignproject.cosign/signature'], /^[A-Za-z0-9+/]+=*$/);
  });

  it('signs the simple-signing payload cosign writes', () => {
    assert.equal(
      simpleSigningPayload(REF, SUBJECT).toString(),
      `{"critical":{"identity":{"docker-reference":"${REF}"},"image":{"docker-manifest-digest":"${SUBJECT}"},"type":"cosign container image signature"},"optional":null}`,
    );
  });

  it('classifies by the .sig tag: the subject is the digest the tag names', () => {
    const c = classifySignature(manifestOf(sig), sig.tag);
    assert.deepEqual(c?.format, 'cosign');
    assert.equal(c?.subjectDigest, SUBJECT);
    assert.deepEqual(
      c?.blobs.map((b) => b.digest),
      [manifestOf(sig).layers[0].digest],
    );
    assert.equal(classifySignature(manifestOf(sig), 'latest')?.subjectDigest, undefined);
  });

  it('does not take an ordinary image for a signature', () => {
    const image = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: SUBJECT, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: OTHER, size: 3 }],
    };
    assert.equal(classifySignature(image, 'latest'), null);
    assert.equal(classifySignature({ schemaVersion: 2, manifests: [] }), null);
    assert.equal(classifySignature('not a manifest'), null);
  });
});

describe('cosign legacy signatures: keyed verification', () => {
  for (const type of ['ecdsa', 'ed25519', 'rsa'] as KeyType[]) {
    it(`verifies a signature made with a trusted ${type} key`, async () => {
      const key = makeKey(type, `ci-${type}`);
      const v = await verify(cosignLegacySignature({ subjectDigest: SUBJECT, reference: REF, key }), { keys: [trustedKey(key)] });
      assert.equal(v.status, 'verified', v.reason);
      assert.equal(v.signer, `ci-${type}`);
      assert.equal(v.at, NOW);
    });
  }

  it('a signature made with another key is untrusted', async () => {
    const signer = makeKey('ecdsa');
    const trusted = makeKey('ecdsa', 'release');
    const plain = await verify(cosignLegacySignature({ subjectDigest: SUBJECT, reference: REF, key: signer }), { keys: [trustedKey(trusted)] });
    assert.equal(plain.status, 'untrusted', plain.reason);
    assert.equal(plain.signer, null);
    const logged = await verify(cosignLegacySignature({ subjectDigest: SUBJECT, reference: REF, key: signer, rekor: new TestRekor() }), {
      keys: [trustedKey(trusted)],
    });
    assert.equal(logged.status, 'untrusted', logged.reason);
  });

  it('a tampered payload is invalid (the Rekor entry names the signing key)', async () => {
    const key = makeKey('ecdsa');
    const v = await verify(cosignLegacySignature({ subjectDigest: SUBJECT, reference: REF, key, rekor: new TestRekor(), tamper: true }), {
      keys: [trustedKey(key)],
    });
    assert.equal(v.status, 'invalid', v.reason);
    assert.match(v.reason, /altered/);
  });

  it('a tampered payload without a Rekor entry verifies with no key: untrusted, never verified', async () => {
    const key = makeKey('ed25519');
    const v = await verify(cosignLegacySignature({ subjectDigest: SUBJECT, reference: REF, key, tamper: true }), { keys: [trustedKey(key)] });
    assert.equal(v.status, 'untrusted', v.reason);
    assert.match(v.reason, /altered/);
  });

  it('a valid signature of another image, pushed under this one, is invalid', async () => {
    const key = makeKey('rsa', 'release');
    const v = await verify(cosignLegacySignature({ subjectDigest: SUBJECT, reference: REF, key, claimDigest: OTHER }), { keys: [trustedKey(key)] });
    assert.equal(v.status, 'invalid', v.reason);
    assert.equal(v.signer, 'release');
    assert.match(v.reason, new RegExp(`for ${OTHER}`));
  });

  it('a payload whose bytes do not match the layer digest is invalid', async () => {
    const key = makeKey('ecdsa');
    const sig = cosignLegacySignature({ subjectDigest: SUBJECT, reference: REF, key });
    const c = classifySignature(manifestOf(sig), sig.tag)!;
    const blobs = new Map([[c.blobs[0].digest, Buffer.from('{"critical":{}}')]]);
    const v = await verifySignature(c, SUBJECT, blobs, { keys: [trustedKey(key)] }, NOW);
    assert.equal(v.status, 'invalid');
    assert.match(v.reason, /does not match its digest/);
    const missing = await verifySignature(c, SUBJECT, new Map(), { keys: [trustedKey(key)] }, NOW);
    assert.equal(missing.status, 'invalid');
  });

  it('several signatures in one .sig manifest: a trusted one verifies it', async () => {
    const stranger = makeKey('ecdsa');
    const release = makeKey('ed25519', 'release');
    const first = cosignLegacySignature({ subjectDigest: SUBJECT, reference: REF, key: stranger });
    const both = cosignLegacySignature({ subjectDigest: SUBJECT, reference: REF, key: release, previous: first });
    assert.equal(manifestOf(both).layers.length, 2);
    assert.equal(both.tag, first.tag);
    const v = await verify(both, { keys: [trustedKey(release)] });
    assert.equal(v.status, 'verified', v.reason);
    assert.equal(v.signer, 'release');
    const none = await verify(both, { keys: [trustedKey(makeKey('rsa'))] });
    assert.equal(none.status, 'untrusted');
  });

  it('a policy with no keys trusts nothing', async () => {
    const v = await verify(cosignLegacySignature({ subjectDigest: SUBJECT, reference: REF, key: makeKey('ecdsa') }), { keys: [] });
    assert.equal(v.status, 'untrusted');
    assert.match(v.reason, /trusts no keys/);
  });

  it('a payload that is not a cosign simple-signing claim is invalid', async () => {
    const key = makeKey('ecdsa');
    const sig = cosignLegacySignature({ subjectDigest: SUBJECT, reference: REF, key });
    const c = classifySignature(manifestOf(sig), sig.tag)!;
    const notJson = Buffer.from('not json');
    const layer = { ...c.blobs[0], digest: sha256(notJson) };
    const v = await verifySignature({ ...c, blobs: [layer] }, SUBJECT, new Map([[layer.digest, notJson]]), { keys: [trustedKey(key)] }, NOW);
    assert.equal(v.status, 'invalid');
    assert.match(v.reason, /not JSON/);
    const unsigned = { ...c.blobs[0], annotations: {} };
    const v2 = await verifySignature({ ...c, blobs: [unsigned] }, SUBJECT, blobMap(sig), { keys: [trustedKey(key)] }, NOW);
    assert.equal(v2.status, 'invalid');
    assert.match(v2.reason, /no dev.cosignproject.cosign\/signature/);
  });

  it('a malformed trusted key is a TrustMaterialError', async () => {
    const sig = cosignLegacySignature({ subjectDigest: SUBJECT, reference: REF, key: makeKey('ecdsa') });
    await assert.rejects(verify(sig, { keys: [{ name: 'broken', publicKeyPem: 'not a key' }] }), TrustMaterialError);
  });
});
