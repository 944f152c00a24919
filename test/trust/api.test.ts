// Trust policies through the REST API (token mode): the registry's (system administrators), a
// namespace's (its administrators; members read) and a repository's (its administrators; whoever
// may pull reads), bad material refused with 400 and nothing stored, a configuration policy shown
// but not changed (409); a manifest's signatures with their verdicts; verdicts recomputed when a
// policy's keys change; the signature.failed webhook; the signature field of the UI's tag listing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { backgroundOf } from '../../src/app.js';
import { TokenClient } from '../helpers/token-client.js';
import { ADMIN, addUser, call, expect } from '../api-v1/helpers.js';
import { type HookServer, Receiver, settle, start } from '../webhooks/helpers.js';
import { removeDir } from '../helpers/api-server.js';
import { ecKey, pushCosignLegacy, tokenPusher } from './helpers.js';

type User = { user: string; password: string };
const k1 = ecKey();
const k2 = ecKey();
const policyOf = (mode: 'audit' | 'enforce', ...keys: [string, string][]) => ({ mode, keys: keys.map(([name, publicKey]) => ({ name, publicKey })) });

describe('trust policies, signatures and verdicts through the API', () => {
  let s: HookServer;
  let rx: Receiver;
  let alice: User, bob: User, olga: User, mona: User;
  before(async () => {
    s = await start(undefined, {}, { trust: { policies: { pinned: { namespace: 'pinned', mode: 'enforce', final: true, keys: { ops: k1.publicPem } } } } });
    rx = await Receiver.start();
    alice = await addUser(s, 'alice');
    bob = await addUser(s, 'bob');
    olga = await addUser(s, 'olga');
    mona = await addUser(s, 'mona');
    expect(await call(s, 'POST', '/orgs', olga, { name: 'acme' }), 201);
    expect(await call(s, 'PUT', '/orgs/acme/members/mona', olga, { role: 'member' }), 200);
    expect(await call(s, 'POST', '/orgs', ADMIN, { name: 'pinned' }), 201);
  });
  after(async () => {
    await s.close();
    await rx.close();
    removeDir(s.dir);
  });

  it('the registry-wide policy: administrators only (401 anonymous, 403 others), set, read, replaced, removed', async () => {
    expect(await call(s, 'GET', '/trust-policy', null), 401, 'UNAUTHORIZED');
    expect(await call(s, 'PUT', '/trust-policy', alice, policyOf('audit', ['k1', k1.publicPem])), 403, 'DENIED');
    expect(await call(s, 'GET', '/trust-policy', ADMIN), 404, 'NOT_FOUND');
    const set = expect(await call(s, 'PUT', '/trust-policy', ADMIN, policyOf('audit', ['k1', k1.publicPem])), 200).body;
    assert.deepEqual(
      { ...set, updatedAt: null },
      {
        scope: '*',
        scopeKind: 'global',
        source: 'api',
        name: 'global',
        mode: 'audit',
        keys: [{ name: 'k1', publicKey: k1.publicPem }],
        notation: null,
        keyless: null,
        version: set.version,
        createdBy: 'admin',
        updatedAt: null,
      },
    );
    assert.deepEqual(expect(await call(s, 'GET', '/trust-policy', ADMIN), 200).body, set);
    const moved = expect(await call(s, 'PUT', '/trust-policy', ADMIN, policyOf('audit', ['k2', k2.publicPem])), 200).body;
    assert.notEqual(moved.version, set.version, 'new keys, new version');
    expect(await call(s, 'DELETE', '/trust-policy', alice), 403, 'DENIED');
    expect(await call(s, 'DELETE', '/trust-policy', ADMIN), 204);
    expect(await call(s, 'GET', '/trust-policy', ADMIN), 404);
  });

  it('a namespace policy: its administrators set it, members read it, strangers see nothing; bad material is 400 and stores nothing', async () => {
    const path = '/namespaces/acme/trust-policy';
    expect(await call(s, 'PUT', path, mona, policyOf('enforce', ['k1', k1.publicPem])), 403, 'DENIED', 'a member');
    expect(await call(s, 'PUT', path, bob, policyOf('enforce', ['k1', k1.publicPem])), 404, 'NOT_FOUND', 'a stranger');
    for (const [bad, why] of [
      [{ mode: 'enforce', keys: [{ name: 'k', publicKey: 'not a key' }] }, /PEM public key/],
      [{ mode: 'enforce', keys: [] }, /needs keys/],
      [
        {
          mode: 'enforce',
          keys: [
            { name: 'a', publicKey: k1.publicPem },
            { name: 'a', publicKey: k2.publicPem },
          ],
        },
        /appears twice/,
      ],
      [{ mode: 'sometimes', keys: [{ name: 'k', publicKey: k1.publicPem }] }, /mode/],
    ] as const) {
      const r = expect(await call(s, 'PUT', path, olga, bad), 400, 'INVALID');
      assert.match(r.body.errors[0].message, why);
    }
    expect(await call(s, 'GET', path, olga), 404, 'NOT_FOUND', 'nothing was stored');
    const p = expect(await call(s, 'PUT', path, olga, policyOf('enforce', ['release', k1.publicPem])), 200).body;
    assert.equal(p.scope, 'acme');
    assert.equal(p.scopeKind, 'namespace');
    assert.deepEqual(expect(await call(s, 'GET', path, mona), 200).body, p);
    expect(await call(s, 'GET', path, bob), 404);
    // The configuration file's policy is shown, never changed through the API.
    const pinned = expect(await call(s, 'GET', '/namespaces/pinned/trust-policy', ADMIN), 200).body;
    assert.equal(pinned.source, 'config');
    assert.equal(pinned.name, 'pinned');
    expect(await call(s, 'PUT', '/namespaces/pinned/trust-policy', ADMIN, policyOf('audit', ['k2', k2.publicPem])), 409, 'CONFLICT');
    expect(await call(s, 'DELETE', '/namespaces/pinned/trust-policy', ADMIN), 409, 'CONFLICT');
    // It is final: no repository of the namespace can have a policy of its own, administrators' included.
    await new TokenClient(s.url, ADMIN).pushImage('pinned/app', 'v1');
    const under = expect(await call(s, 'PUT', '/repositories/pinned/app/trust-policy', ADMIN, policyOf('audit', ['k2', k2.publicPem])), 409, 'CONFLICT');
    assert.match(under.body.errors[0].message, /trust policy "pinned" \(namespace pinned\) is final/);
    expect(await call(s, 'GET', '/repositories/pinned/app/trust-policy', ADMIN), 404, 'NOT_FOUND', 'nothing was stored');
  });

  it('a repository policy: its administrators set it; whoever may pull reads it; an access token cannot change it', async () => {
    const c = new TokenClient(s.url, alice);
    await c.pushImage('alice/app', 'v1');
    const path = '/repositories/alice/app/trust-policy';
    expect(await call(s, 'PUT', path, bob, policyOf('enforce', ['k1', k1.publicPem])), 404, 'NOT_FOUND', 'private: as if missing');
    const token = expect(await call(s, 'POST', '/user/tokens', alice, { name: 't', scopes: ['pull', 'push'] }), 201).body.secret;
    expect(await call(s, 'PUT', path, { bearer: token }, policyOf('enforce', ['k1', k1.publicPem])), 403, 'DENIED');
    const p = expect(await call(s, 'PUT', path, alice, policyOf('enforce', ['k1', k1.publicPem])), 200).body;
    assert.equal(p.scope, 'alice/app');
    assert.equal(p.scopeKind, 'repository');
    assert.deepEqual(expect(await call(s, 'GET', path, { bearer: token }), 200).body, p);
    expect(await call(s, 'DELETE', path, alice), 204);
    expect(await call(s, 'GET', path, alice), 404);
  });

  it('signatures of a manifest with their verdicts; new keys re-verify them; a failed verdict sends signature.failed; the tag listing shows the status', async () => {
    const c = new TokenClient(s.url, olga);
    const pusher = tokenPusher(c);
    const hook = expect(
      await call(s, 'POST', '/namespaces/acme/webhooks', olga, { url: rx.url, events: ['signature.failed'], format: 'cloudevents' }),
      201,
    ).body;
    void hook;
    const img = await c.pushImage('acme/web', 'v1');
    const sigPath = `/repositories/acme/web/manifests/${img.manifest}/signatures`;
    const unsigned = expect(await call(s, 'GET', sigPath, mona), 200).body;
    assert.deepEqual(unsigned, {
      digest: img.manifest,
      status: 'unsigned',
      policy: { scope: 'acme', scopeKind: 'namespace', name: 'namespace acme', source: 'api', mode: 'enforce' },
      verifiedBy: null,
      signatures: [],
    });
    expect(await call(s, 'GET', sigPath, bob), 404, 'NOT_FOUND', 'a stranger sees no private repository');
    expect(await call(s, 'GET', `/repositories/acme/web/manifests/sha256:${'0'.repeat(64)}/signatures`, olga), 404);
    expect(await call(s, 'GET', '/repositories/acme/web/manifests/sha256:xyz/signatures', olga), 400);

    // Signed with k2 while the policy trusts k1: untrusted, and a signature.failed event.
    const sig = await pushCosignLegacy(pusher, 'acme/web', img.manifest, k2.privateKey);
    await backgroundOf(s.app).jobs.runNow('trust-verify');
    const untrusted = expect(await call(s, 'GET', sigPath, olga), 200).body;
    assert.equal(untrusted.status, 'untrusted');
    assert.equal(untrusted.signatures.length, 1);
    assert.equal(untrusted.signatures[0].digest, sig);
    assert.equal(untrusted.signatures[0].format, 'cosign');
    assert.equal(untrusted.signatures[0].status, 'untrusted');
    assert.ok(Date.parse(untrusted.signatures[0].verifiedAt) > 0);
    await settle(s.clock, s);
    const failed = rx.ofEvent('signature.failed');
    assert.equal(failed.length, 1, 'one event for the one failed verdict');
    assert.equal(failed[0].json.type, 'io.berth.signature.failed');
    assert.equal(failed[0].json.data.repository, 'acme/web');
    assert.equal(failed[0].json.data.digest, img.manifest);
    assert.equal(failed[0].json.data.signature.digest, sig);
    assert.equal(failed[0].json.data.signature.status, 'untrusted');
    assert.equal(failed[0].json.data.signature.mode, 'enforce');
    assert.match(failed[0].json.data.signature.policy, /namespace acme/);
    const listing = async () => {
      const r = await fetch(`${s.url}/ui/api/tags?repository=acme/web`, {
        headers: { authorization: `Basic ${Buffer.from(`${olga.user}:${olga.password}`).toString('base64')}` },
      });
      assert.equal(r.status, 200, await r.clone().text());
      return ((await r.json()) as { tags: { name: string; signature?: unknown }[] }).tags.find((t) => t.name === 'v1')?.signature;
    };
    assert.deepEqual(await listing(), { status: 'untrusted', signers: [] });
    const pull = await c.fetch(`/v2/acme/web/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(pull.status, 403);

    // The namespace now trusts k2 as well: the signature is verified again, without being pushed again.
    expect(await call(s, 'PUT', '/namespaces/acme/trust-policy', olga, policyOf('enforce', ['release', k1.publicPem], ['ci', k2.publicPem])), 200);
    await backgroundOf(s.app).jobs.runNow('trust-verify');
    const policy = (await backgroundOf(s.app).trust.policyFor('acme/web'))!;
    assert.equal((await backgroundOf(s.app).trust.store.verdicts(img.manifest, [sig], policy.version)).get(sig)?.status, 'verified', 'the job re-verified it');
    const verified = expect(await call(s, 'GET', sigPath, olga), 200).body;
    assert.equal(verified.status, 'verified');
    assert.equal(verified.signatures[0].signer, 'ci');
    assert.deepEqual(await listing(), { status: 'verified', signers: ['ci'] });
    assert.equal((await c.fetch(`/v2/acme/web/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).status, 200);
    await settle(s.clock, s);
    assert.equal(rx.ofEvent('signature.failed').length, 1, 'a verified verdict sends nothing');
  });
});
