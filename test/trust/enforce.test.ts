// The pull gate's "trust" check with policies from the configuration file: under enforce, an
// unsigned image, one signed by an untrusted key, a tampered signature and a signature of another
// image are refused with 403 DENIED naming the policy and why; a valid cosign signature lets it
// through, and a verified index lets its children through. Signatures are always served; audit
// mode serves everything and records the verdicts; a pushed signature is verified by the job.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backgroundOf } from '../../src/app.js';
import { MT, api, expectError, pushImage, pushManifest, serverPerFile } from '../helpers/api-server.js';
import { ecKey, pushCosignLegacy } from './helpers.js';

const trusted = ecKey();
const stranger = ecKey();
const srv = serverPerFile({
  config: {
    trust: {
      policies: {
        release: { namespace: 'acme', mode: 'enforce', keys: { release: trusted.publicPem } },
        watch: { namespace: 'audited', mode: 'audit', keys: { release: trusted.publicPem } },
      },
    },
  } as never,
});

const get = (repo: string, ref: string, method = 'GET') =>
  api(srv.url, `/v2/${repo}/manifests/${ref}`, { method, headers: { Accept: `${MT.ociManifest}, ${MT.ociIndex}` } });

async function denied(repo: string, ref: string, why: RegExp): Promise<void> {
  const body = await expectError(await get(repo, ref), 403, 'DENIED', `GET ${repo}:${ref}`);
  assert.match(body.errors[0].message, /trust policy "release" \(namespace acme\) refuses/);
  assert.match(body.errors[0].message, why);
  const head = await get(repo, ref, 'HEAD');
  assert.equal(head.status, 403, `HEAD ${repo}:${ref}`);
}

describe('trust: enforce and audit policies from the configuration', () => {
  it('refuses an unsigned image, an untrusted key, a tampered signature and a signature of another image; serves it once validly signed', async () => {
    const img = await pushImage(srv.url, 'acme/app', { ref: 'v1' });
    const other = await pushImage(srv.url, 'acme/app', { ref: 'v2' });
    await denied('acme/app', 'v1', /has no signature/);
    await denied('acme/app', img.manifest.digest, /has no signature/);
    // No policy outside the namespace.
    assert.equal((await pushImage(srv.url, 'elsewhere/app', { ref: 'v1' })) && (await get('elsewhere/app', 'v1')).status, 200);

    const wrongKey = await pushCosignLegacy(srv.url, 'acme/app', img.manifest.digest, stranger.privateKey);
    await denied('acme/app', 'v1', /is untrusted: the signature does not verify with any trusted key/);
    // The signature itself is always served (clients fetch it to verify).
    assert.equal((await get('acme/app', `sha256-${img.manifest.digest.slice(7)}.sig`)).status, 200);
    assert.equal((await get('acme/app', wrongKey)).status, 200);

    // A tampered payload no longer verifies under any key (cosign cannot tell it from a wrong key).
    await pushCosignLegacy(srv.url, 'acme/app', img.manifest.digest, trusted.privateKey, { tamper: true });
    await denied('acme/app', 'v1', /is (untrusted|invalid)/);
    // A valid signature by the trusted key, of another image.
    await pushCosignLegacy(srv.url, 'acme/app', img.manifest.digest, trusted.privateKey, { payloadDigest: other.manifest.digest });
    await denied('acme/app', 'v1', /is invalid/);

    await pushCosignLegacy(srv.url, 'acme/app', img.manifest.digest, trusted.privateKey);
    const ok = await get('acme/app', 'v1');
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.equal(ok.headers.get('docker-content-digest'), img.manifest.digest);
    assert.equal((await get('acme/app', 'v1', 'HEAD')).status, 200);
    // The other image is still unsigned.
    await denied('acme/app', 'v2', /has no signature/);
  });

  it('a verified index lets its children be pulled by digest; an unsigned index does not', async () => {
    const a = await pushImage(srv.url, 'acme/multi');
    const b = await pushImage(srv.url, 'acme/multi');
    const index = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [a, b].map((x, i) => ({
        mediaType: MT.ociManifest,
        digest: x.manifest.digest,
        size: x.manifest.bytes.length,
        platform: { os: 'linux', architecture: i ? 'arm64' : 'amd64' },
      })),
    };
    const idx = await pushManifest(srv.url, 'acme/multi', index, { ref: 'latest' });
    await denied('acme/multi', 'latest', /has no signature/);
    await denied('acme/multi', a.manifest.digest, /has no signature/);
    await pushCosignLegacy(srv.url, 'acme/multi', idx.digest, trusted.privateKey);
    assert.equal((await get('acme/multi', 'latest')).status, 200);
    assert.equal((await get('acme/multi', a.manifest.digest)).status, 200);
    assert.equal((await get('acme/multi', b.manifest.digest)).status, 200);
    // The same child in another repository is not covered by this repository's index.
    const lone = await pushImage(srv.url, 'acme/lone');
    await denied('acme/lone', lone.manifest.digest, /has no signature/);
  });

  it('audit mode serves unsigned and untrusted images and records the verdicts', async () => {
    const img = await pushImage(srv.url, 'audited/app', { ref: 'v1' });
    assert.equal((await get('audited/app', 'v1')).status, 200);
    const sig = await pushCosignLegacy(srv.url, 'audited/app', img.manifest.digest, stranger.privateKey);
    assert.equal((await get('audited/app', 'v1')).status, 200);
    const trust = backgroundOf(srv.app).trust;
    const policy = (await trust.policyFor('audited/app'))!;
    const verdicts = await trust.store.verdicts(img.manifest.digest, [sig], policy.version);
    assert.equal(verdicts.get(sig)?.status, 'untrusted');
  });

  it('a pushed signature is verified by the trust-verify job without any pull, and a queued item a crash left is caught up', async () => {
    const bg = backgroundOf(srv.app);
    const img = await pushImage(srv.url, 'acme/job', { ref: 'v1' });
    const sig = await pushCosignLegacy(srv.url, 'acme/job', img.manifest.digest, trusted.privateKey);
    await bg.jobs.runNow('trust-verify');
    const policy = (await bg.trust.policyFor('acme/job'))!;
    assert.equal((await bg.trust.store.verdicts(img.manifest.digest, [sig], policy.version)).get(sig)?.status, 'verified');
    assert.equal(await bg.trust.store.pendingCount(), 0);

    // As if the process died between the push's commit and the verification: the row is there, no verdict.
    const img2 = await pushImage(srv.url, 'acme/job', { ref: 'v2' });
    const sig2 = await pushCosignLegacy(srv.url, 'acme/job', img2.manifest.digest, stranger.privateKey);
    await bg.jobs.runNow('trust-verify');
    await bg.trust.store.meta.db.deleteFrom('trust_verdicts').where('signature_digest', '=', sig2).execute();
    await bg.trust.store.meta.transaction((tx) => bg.trust.signaturePushed(tx, 'acme/job', sig2, Date.now()));
    assert.equal(await bg.trust.store.pendingCount(), 1);
    await bg.jobs.runNow('trust-verify');
    assert.equal((await bg.trust.store.verdicts(img2.manifest.digest, [sig2], policy.version)).get(sig2)?.status, 'untrusted');
    assert.equal(await bg.trust.store.pendingCount(), 0);
  });

  it('a stored policy whose material no longer compiles refuses under enforce (403, not 500)', async () => {
    const trust = backgroundOf(srv.app).trust;
    const material = JSON.stringify({ keys: [{ name: 'k', publicKey: 'not a key' }] });
    await trust.store.meta.db
      .insertInto('trust_policies')
      .values({ scope_kind: 'namespace', scope: 'broken', mode: 'enforce', material, version: 'v-old', created_by: null, created_at: 0, updated_at: 0 })
      .execute();
    trust.forgetPolicies();
    await pushImage(srv.url, 'broken/app', { ref: 'v1' });
    const body = await expectError(await get('broken/app', 'v1'), 403, 'DENIED');
    assert.match(body.errors[0].message, /trust policy of namespace broken refuses/);
  });
});
