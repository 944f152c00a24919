// notation signatures (JWS envelopes with X.509 chains, Notary Project specification): recognised
// from the referrer, verified against a trust store and trusted identities.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { checkTrustMaterial, classifySignature, type TrustMaterial, TrustMaterialError, verifySignature } from '../../src/trust/formats/index.js';
import {
  blobMap,
  makeCa,
  makeIntermediate,
  makeKey,
  makeSigningCert,
  manifestOf,
  notationSignature,
  type NotationOptions,
  type SignatureArtifact,
  sha256,
  type TestCert,
} from '../helpers/signatures.js';

const SUBJECT = { digest: sha256('an image manifest'), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1234 };
const OTHER = sha256('another image manifest');
const NOW = Date.now();
const IDENTITY = 'x509.subject: C=US, ST=WA, L=Seattle, O=Acme Rockets, CN=release';

let root: TestCert;
let leaf: TestCert;
let material: TrustMaterial;

before(() => {
  root = makeCa('/C=US/ST=WA/O=Acme Rockets/CN=Acme Rockets Root');
  leaf = makeSigningCert(root, '/C=US/ST=WA/L=Seattle/O=Acme Rockets/CN=release');
  material = { keys: [], notation: { trustStore: [root.pem], identities: [IDENTITY] } };
});

const sign = (o: Partial<NotationOptions> = {}) => notationSignature({ subject: SUBJECT, certificate: leaf, chain: [root], ...o });

async function verify(artifact: SignatureArtifact, m: TrustMaterial = material) {
  const sig = classifySignature(manifestOf(artifact));
  assert.ok(sig, 'recognised as a signature');
  assert.equal(sig.format, 'notation');
  return verifySignature(sig, SUBJECT.digest, blobMap(artifact), m, NOW);
}

describe('notation signatures: the referrer notation pushes', () => {
  it('is an OCI manifest with the notary artifactType, a JWS layer, the chain thumbprints and the image as subject', () => {
    const a = sign();
    const m = manifestOf(a);
    assert.equal(m.artifactType, 'application/vnd.cncf.notary.signature');
    assert.equal(m.layers[0].mediaType, 'application/jose+json');
    assert.equal(m.subject.digest, SUBJECT.digest);
    assert.equal(JSON.parse(m.annotations['io.cncf.notary.x509chain.thumbprint#S256']).length, 2);
    const env = JSON.parse(blobMap(a).get(m.layers[0].digest)!.toString());
    assert.deepEqual(Object.keys(env), ['payload', 'protected', 'header', 'signature']);
    const header = JSON.parse(Buffer.from(env.protected, 'base64url').toString());
    assert.equal(header.cty, 'application/vnd.cncf.notary.payload.v1+json');
    assert.deepEqual(header.crit, ['io.cncf.notary.signingScheme']);
    assert.equal(header.alg, 'ES256');
    assert.deepEqual(JSON.parse(Buffer.from(env.payload, 'base64url').toString()), { targetArtifact: SUBJECT });
  });

  it('classifies both the referrers form and the tag-schema form (config media type) by their subject', () => {
    for (const tagSchema of [false, true]) {
      const c = classifySignature(manifestOf(sign({ tagSchema })));
      assert.equal(c?.format, 'notation');
      assert.equal(c?.subjectDigest, SUBJECT.digest);
      assert.deepEqual(
        c?.blobs.map((b) => b.mediaType),
        ['application/jose+json'],
      );
    }
  });
});

describe('notation signatures: verification', () => {
  it('verifies an ECDSA P-256 signature from a trusted CA for a trusted identity', async () => {
    const v = await verify(sign());
    assert.equal(v.status, 'verified', v.reason);
    assert.equal(v.signer, 'C=US, ST=WA, L=Seattle, O=Acme Rockets, CN=release');
  });

  it('verifies an RSA-3072 (PS384) signature through an intermediate CA, and an identity given by fewer attributes', async () => {
    const intermediate = makeIntermediate(root, '/C=US/ST=WA/O=Acme Rockets/CN=Acme Signing CA');
    const rsaLeaf = makeSigningCert(intermediate, '/C=US/ST=WA/O=Acme Rockets/OU=Builds/CN=ci', { key: makeKey('rsa', 'ci', 3072) });
    const m: TrustMaterial = { keys: [], notation: { trustStore: [root.pem], identities: ['x509.subject: C=US, ST=WA, O=Acme Rockets, OU=Builds'] } };
    const v = await verify(notationSignature({ subject: SUBJECT, certificate: rsaLeaf, chain: [intermediate, root] }), m);
    assert.equal(v.status, 'verified', v.reason);
  });

  it('a tampered payload is invalid', async () => {
    const v = await verify(sign({ tamper: true }));
    assert.equal(v.status, 'invalid', v.reason);
    assert.match(v.reason, /altered/);
  });

  it('a chain to a CA outside the trust store is untrusted', async () => {
    const otherRoot = makeCa('/C=US/ST=WA/O=Acme Rockets/CN=Someone Else');
    const stranger = makeSigningCert(otherRoot, '/C=US/ST=WA/L=Seattle/O=Acme Rockets/CN=release');
    const v = await verify(notationSignature({ subject: SUBJECT, certificate: stranger, chain: [otherRoot] }));
    assert.equal(v.status, 'untrusted', v.reason);
    assert.match(v.reason, /does not end in a CA of the trust store/);
  });

  it('an expired signing certificate is invalid', async () => {
    const old = makeSigningCert(root, '/C=US/ST=WA/L=Seattle/O=Acme Rockets/CN=release', {
      notBefore: new Date(NOW - 2 * 86_400_000),
      notAfter: new Date(NOW - 86_400_000),
    });
    const v = await verify(notationSignature({ subject: SUBJECT, certificate: old, chain: [root], signingTime: new Date(NOW - 1.5 * 86_400_000) }));
    assert.equal(v.status, 'invalid', v.reason);
    assert.match(v.reason, /expired/);
  });

  it('another identity from the trusted CA is untrusted; "*" trusts any', async () => {
    const intern = makeSigningCert(root, '/C=US/ST=WA/L=Seattle/O=Acme Rockets/CN=intern');
    const a = notationSignature({ subject: SUBJECT, certificate: intern, chain: [root] });
    const v = await verify(a);
    assert.equal(v.status, 'untrusted', v.reason);
    assert.equal(v.signer, 'C=US, ST=WA, L=Seattle, O=Acme Rockets, CN=intern');
    const any = await verify(a, { keys: [], notation: { trustStore: [root.pem], identities: ['*'] } });
    assert.equal(any.status, 'verified', any.reason);
  });

  it('a valid signature of another image is invalid', async () => {
    const v = await verify(sign({ claimDigest: OTHER }));
    assert.equal(v.status, 'invalid', v.reason);
    assert.match(v.reason, new RegExp(`for ${OTHER}`));
  });

  it('a signing time outside the certificate validity is invalid', async () => {
    const v = await verify(sign({ signingTime: new Date(Date.parse(new X509Certificate(leaf.pem).validFrom) - 86_400_000) }));
    assert.equal(v.status, 'invalid', v.reason);
    assert.match(v.reason, /at the signing time/);
  });

  it('a signature past its expiry is invalid; before it, verified', async () => {
    assert.equal((await verify(sign({ expiry: new Date(NOW - 1000) }))).status, 'invalid');
    assert.equal((await verify(sign({ expiry: new Date(NOW + 86_400_000) }))).status, 'verified');
  });

  it('an alg that does not match the key, or a critical header it cannot process, is invalid', async () => {
    const v = await verify(sign({ alg: 'ES384' }));
    assert.equal(v.status, 'invalid', v.reason);
    assert.match(v.reason, /needs ES256/);
    const plugin = await verify(sign({ extraCritical: { 'io.cncf.notary.verificationPlugin': 'com.example.plugin' } }));
    assert.equal(plugin.status, 'invalid', plugin.reason);
    assert.match(plugin.reason, /verificationPlugin/);
  });

  it('a signing certificate without the digitalSignature key usage is invalid', async () => {
    const bad = makeSigningCert(root, '/C=US/ST=WA/L=Seattle/O=Acme Rockets/CN=release', {
      extensions: ['basicConstraints = critical, CA:FALSE', 'keyUsage = critical, keyEncipherment', 'subjectKeyIdentifier = hash'],
    });
    const v = await verify(notationSignature({ subject: SUBJECT, certificate: bad, chain: [root] }));
    assert.equal(v.status, 'invalid', v.reason);
    assert.match(v.reason, /digitalSignature/);
  });

  it('a policy without a notation trust store does not trust it', async () => {
    const v = await verify(sign(), { keys: [] });
    assert.equal(v.status, 'untrusted', v.reason);
  });

  it('refuses a trust store or identity it cannot use', () => {
    assert.throws(() => checkTrustMaterial({ keys: [], notation: { trustStore: ['not a certificate'], identities: ['*'] } }), TrustMaterialError);
    assert.throws(() => checkTrustMaterial({ keys: [], notation: { trustStore: [root.pem], identities: ['CN=release'] } }), TrustMaterialError);
    assert.throws(() => checkTrustMaterial({ keys: [], notation: { trustStore: [root.pem], identities: ['x509.subject: CN=release'] } }), /C, ST and O/);
    checkTrustMaterial(material);
  });
});
