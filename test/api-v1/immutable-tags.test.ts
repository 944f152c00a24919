// Immutable tags: a namespace's rules (/api/v1/namespaces/{ns}/immutable-tag-rules) make matching
// tags unmovable and undeletable. Moving one, deleting it or the manifest it points at, restoring
// it elsewhere and deleting its repository answer 409 DENIED naming the rule; pushing the same
// digest again is accepted; exclusions leave tags and repositories out. Namespace administrators
// manage the rules (a password login), members read them, everyone else is told 404.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { MT, digestOf } from '../helpers/api-server.js';
import { ADMIN, type Creds, accountsServer, addUser, call, expect, pushAs, registryToken } from './helpers.js';

const s = accountsServer();
type User = { user: string; password: string };
let alice: User, bob: User, olga: User, mona: User;

async function v2(who: User, method: string, repo: string, ref: string, body?: Buffer): Promise<{ status: number; json: any }> {
  const token = await registryToken(s, who, [`repository:${repo}:pull,push,delete`]);
  const res = await fetch(`${s.url}/v2/${repo}/manifests/${ref}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': MT.ociManifest } : { accept: MT.ociManifest }) },
    body: body as unknown as BodyInit,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** The manifest bytes a tag points at, to push them again. */
async function bytesOf(who: User, repo: string, tag: string): Promise<Buffer> {
  const token = await registryToken(s, who, [`repository:${repo}:pull`]);
  const res = await fetch(`${s.url}/v2/${repo}/manifests/${tag}`, { headers: { authorization: `Bearer ${token}`, accept: MT.ociManifest } });
  assert.equal(res.status, 200);
  return Buffer.from(await res.arrayBuffer());
}

/** Asserts a 409 DENIED whose message names the rule. */
function denied(r: { status: number; json: any }, rule: string, what: RegExp): void {
  assert.equal(r.status, 409, JSON.stringify(r.json));
  const e = r.json.errors[0];
  assert.equal(e.code, 'DENIED');
  assert.match(e.message, new RegExp(`rule "${rule}"`));
  assert.match(e.message, what);
  assert.equal(e.detail.rule, rule);
}

const rules = (ns: string, who: Creds) => call(s, 'GET', `/namespaces/${ns}/immutable-tag-rules`, who);

describe('immutable tags', () => {
  let v1: string;
  before(async () => {
    alice = await addUser(s, 'alice');
    bob = await addUser(s, 'bob');
    olga = await addUser(s, 'olga');
    mona = await addUser(s, 'mona');
    v1 = await pushAs(s, alice, 'alice/app', 'v1');
    await pushAs(s, alice, 'alice/app', 'v2-dev');
    await pushAs(s, alice, 'alice/scratch/tool', 'v1');
    const r = expect(
      await call(s, 'POST', '/namespaces/alice/immutable-tag-rules', alice, {
        name: 'releases',
        tags: 'v*',
        excludeTags: ['*-dev'],
        excludeRepositories: ['scratch/**'],
      }),
      201,
    ).body;
    assert.deepEqual(
      { ...r, createdAt: 0, updatedAt: 0 },
      {
        name: 'releases',
        namespace: 'alice',
        repositories: '**',
        tags: 'v*',
        excludeRepositories: ['scratch/**'],
        excludeTags: ['*-dev'],
        createdBy: 'alice',
        createdAt: 0,
        updatedAt: 0,
      },
    );
  });

  it('refuses moving a matching tag with 409 DENIED naming the rule; the tag stays', async () => {
    await assert.rejects(pushAs(s, alice, 'alice/app', 'v1'), /DENIED.*rule \\"releases\\"/);
    const r = await v2(alice, 'HEAD', 'alice/app', 'v1');
    assert.equal(r.status, 200);
    const history = expect(await call(s, 'GET', '/repositories/alice/app/tag-history?tag=v1', alice), 200).body.entries;
    assert.equal(history.length, 1, 'the refused move is not in the history');
    assert.equal(history[0].digest, v1);
  });

  it('names the rule in the error body of the manifest PUT', async () => {
    // Another manifest over the same blobs, pushed under the immutable tag.
    const doc = JSON.parse((await bytesOf(alice, 'alice/app', 'v1')).toString());
    doc.annotations = { 'org.example.rebuilt': 'yes' };
    const other = Buffer.from(JSON.stringify(doc));
    denied(await v2(alice, 'PUT', 'alice/app', 'v1', other), 'releases', /immutable.*cannot be moved/);
    // By digest with ?tag=v1 too.
    denied(await v2(alice, 'PUT', 'alice/app', `${digestOf(other)}?tag=v1`, other), 'releases', /cannot be moved/);
    assert.equal((await v2(alice, 'GET', 'alice/app', digestOf(other))).status, 404, 'nothing of the refused push is stored');
  });

  it('accepts the same digest again', async () => {
    const r = await v2(alice, 'PUT', 'alice/app', 'v1', await bytesOf(alice, 'alice/app', 'v1'));
    assert.equal(r.status, 201);
  });

  it('refuses deleting the tag and the manifest it points at, and the repository', async () => {
    denied(await v2(alice, 'DELETE', 'alice/app', 'v1'), 'releases', /cannot be deleted/);
    denied(await v2(alice, 'DELETE', 'alice/app', v1), 'releases', new RegExp(`manifest ${v1}`));
    const r = expect(await call(s, 'DELETE', '/repositories/alice/app', alice), 409, 'CONFLICT');
    assert.match(r.body.errors[0].message, /rule "releases"/);
    assert.equal((await v2(alice, 'HEAD', 'alice/app', 'v1')).status, 200);
  });

  it('leaves excluded tags, excluded repositories and other tags movable', async () => {
    await pushAs(s, alice, 'alice/app', 'v2-dev');
    await pushAs(s, alice, 'alice/app', 'latest');
    await pushAs(s, alice, 'alice/app', 'latest');
    await pushAs(s, alice, 'alice/scratch/tool', 'v1');
    assert.equal((await v2(alice, 'DELETE', 'alice/app', 'v2-dev')).status, 202);
    // Creating a new matching tag is fine (it is then immutable).
    await pushAs(s, alice, 'alice/app', 'v3');
    await assert.rejects(pushAs(s, alice, 'alice/app', 'v3'), /DENIED/);
  });

  it('refuses restoring an immutable tag to another digest', async () => {
    // alice/app:v1 pointed only at v1; a tag moved before the rule existed can not be moved back either.
    await call(s, 'DELETE', '/namespaces/alice/immutable-tag-rules/releases', alice);
    const old = await pushAs(s, alice, 'alice/app', 'v4');
    await pushAs(s, alice, 'alice/app', 'v4');
    expect(await call(s, 'POST', '/namespaces/alice/immutable-tag-rules', alice, { name: 'releases', tags: 'v*', excludeTags: ['*-dev'] }), 201);
    const r = expect(await call(s, 'POST', '/repositories/alice/app/tags/v4/restore', alice, { digest: old }), 409, 'CONFLICT');
    assert.match(r.body.errors[0].message, /rule "releases"/);
  });

  it('applies the change of a rule at once, and lifts it when the rule goes', async () => {
    expect(await call(s, 'PATCH', '/namespaces/alice/immutable-tag-rules/releases', alice, { tags: 'release-*' }), 200);
    await pushAs(s, alice, 'alice/app', 'v1');
    await pushAs(s, alice, 'alice/app', 'release-1');
    await assert.rejects(pushAs(s, alice, 'alice/app', 'release-1'), /DENIED/);
    expect(await call(s, 'DELETE', '/namespaces/alice/immutable-tag-rules/releases', alice), 204);
    await pushAs(s, alice, 'alice/app', 'release-1');
    assert.deepEqual(expect(await rules('alice', alice), 200).body.rules, []);
  });

  it('checks patterns and names', async () => {
    const post = (b: unknown) => call(s, 'POST', '/namespaces/alice/immutable-tag-rules', alice, b);
    expect(await post({ name: 'bad', tags: '!v*' }), 400, 'INVALID');
    expect(await post({ name: 'bad', tags: 'v[0-9' }), 400, 'INVALID');
    expect(await post({ name: 'bad', tags: 'a b' }), 400, 'INVALID');
    expect(await post({ name: 'Bad Name', tags: 'v*' }), 400, 'INVALID');
    expect(await post({ name: 'bad', tags: 'v*', excludeTags: Array(21).fill('x') }), 400, 'INVALID');
    expect(await post({ name: 'dup', tags: 'v*' }), 201);
    expect(await post({ name: 'dup', tags: 'x*' }), 409, 'CONFLICT');
    expect(await call(s, 'DELETE', '/namespaces/alice/immutable-tag-rules/dup', alice), 204);
    expect(await call(s, 'DELETE', '/namespaces/alice/immutable-tag-rules/dup', alice), 404, 'NOT_FOUND');
  });

  it('namespace administrators manage the rules, members read them, others see nothing', async () => {
    expect(await call(s, 'POST', '/orgs', olga, { name: 'acme' }), 201);
    expect(await call(s, 'PUT', '/orgs/acme/members/mona', olga, { role: 'member' }), 200);
    const rule = { name: 'frozen', tags: '*' };
    expect(await call(s, 'POST', '/namespaces/acme/immutable-tag-rules', olga, rule), 201);
    // A member reads but may not change; a stranger is told there is no such namespace.
    assert.equal(expect(await rules('acme', mona), 200).body.rules.length, 1);
    expect(await call(s, 'POST', '/namespaces/acme/immutable-tag-rules', mona, { name: 'x', tags: '*' }), 403, 'DENIED');
    expect(await call(s, 'DELETE', '/namespaces/acme/immutable-tag-rules/frozen', mona), 403, 'DENIED');
    const unknown = expect(await rules('no-such-namespace', bob), 404, 'NOT_FOUND');
    assert.deepEqual(expect(await rules('acme', bob), 404, 'NOT_FOUND').body, unknown.body);
    expect(await call(s, 'POST', '/namespaces/acme/immutable-tag-rules', bob, { name: 'x', tags: '*' }), 404, 'NOT_FOUND');
    expect(await rules('acme', null), 401, 'UNAUTHORIZED');
    // Another user's namespace: only that user (and administrators).
    expect(await rules('alice', bob), 404, 'NOT_FOUND');
    expect(await rules('alice', ADMIN), 200);
    // An access token, however wide, does not change rules.
    const t = expect(await call(s, 'POST', '/user/tokens', olga, { name: 'all', scopes: ['pull', 'push', 'delete'] }), 201).body.secret;
    expect(await call(s, 'DELETE', '/namespaces/acme/immutable-tag-rules/frozen', { bearer: t }), 403, 'DENIED');
    expect(await call(s, 'DELETE', '/namespaces/acme/immutable-tag-rules/frozen', ADMIN), 204);
    const audit = expect(await call(s, 'GET', '/audit?n=50', ADMIN), 200).body.entries.map((e: { action: string }) => e.action);
    for (const a of ['tag-rule.create', 'tag-rule.update', 'tag-rule.delete']) assert.ok(audit.includes(a), a);
  });
});
