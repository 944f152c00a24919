// The index's search: the JSON API (/api/v1/search) and Docker's v1 search, over HTTP
// against an in-process token-auth server. Full text over names, descriptions and
// READMEs; filters (namespace, platform, media type, artifact type, starred); sorts;
// pagination; and above all the private-repository rule: anonymous callers and
// outsiders never see a private repository, in any search, filter or sort.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { MT } from '../helpers/api-server.js';
import { indexServiceOf } from '../../src/index/service.js';
import { TokenClient } from '../helpers/token-client.js';
import { ADMIN, addUser, call, fails, indexServer, names, ok, pull, pushArtifact, pushImage, pushIndex, setVisibility, settle, type User } from './helpers.js';

const s = indexServer();
let alice: User, bob: User, carol: User, dave: User;
const PRIVATE = ['alice/secret-webapp', 'acme/private-tool'];
const SBOM = 'application/spdx+json';

describe('index search', () => {
  before(async () => {
    alice = await addUser(s, 'alice');
    bob = await addUser(s, 'bob');
    carol = await addUser(s, 'carol');
    dave = await addUser(s, 'dave');

    await pushImage(s, alice, 'alice/webapp', 'v1');
    await setVisibility(s, alice, 'alice/webapp', 'public');
    ok(
      await call(s, 'PUT', '/repositories/alice/webapp/description', alice, {
        description: 'A web application server',
        readme: '# Webapp\n\nServes pages with **nginx**.',
      }),
    );

    await pushIndex(
      s,
      alice,
      'alice/secret-webapp',
      'v1',
      [
        { os: 'linux', arch: 'amd64' },
        { os: 'linux', arch: 'arm64', variant: 'v8' },
      ],
      { 'org.opencontainers.image.description': 'The secret webapp of alice' },
    );
    ok(await call(s, 'PUT', '/repositories/alice/secret-webapp/collaborators/carol', alice, { permission: 'read' }));

    ok(await call(s, 'POST', '/orgs', alice, { name: 'acme' }), 201);
    ok(await call(s, 'PUT', '/orgs/acme/members/dave', alice, { role: 'member' }));
    await pushImage(s, alice, 'acme/private-tool', 'latest', { os: 'linux', arch: 'arm64' });

    await pushArtifact(s, bob, 'bob/tool', 'sbom', SBOM);
    await pushImage(s, bob, 'bob/tool', 'v1', { annotations: { 'org.opencontainers.image.description': 'A  tool\nfor SBOMs' } });
    await setVisibility(s, bob, 'bob/tool', 'public');
    await pushIndex(s, bob, 'bob/webapp-fork', 'v1', [{ os: 'linux', arch: 'arm64' }], { 'org.opencontainers.image.description': 'Fork of a webapp' });
    await setVisibility(s, bob, 'bob/webapp-fork', 'public');
    await settle(s);
  });

  const search = async (who: User | null, query: Record<string, string | number | boolean>) => {
    const q = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)]));
    return ok(await call(s, 'GET', `/search?${q}`, who), 200, `search ${q} as ${who?.user ?? 'anonymous'}`);
  };

  test('full text over names, descriptions and READMEs, ranked', async () => {
    const r = await search(null, { q: 'webapp' });
    assert.deepEqual(names(r), ['alice/webapp', 'bob/webapp-fork'], 'name match with the whole last component first');
    assert.equal(r.total, 2);
    assert.equal(r.query, 'webapp');
    const hit = r.results[0];
    assert.equal(hit.description, 'A web application server');
    assert.equal(hit.visibility, 'public');
    assert.deepEqual(hit.platforms, ['linux/amd64']);
    assert.equal(typeof hit.lastPushAt, 'number');
    // every word must match somewhere; README text counts
    assert.deepEqual(names(await search(null, { q: 'NGINX webapp' })), ['alice/webapp']);
    assert.deepEqual(names(await search(null, { q: 'sboms' })), ['bob/tool'], 'description from the annotation is searchable');
    assert.deepEqual(names(await search(null, { q: 'fork' })), ['bob/webapp-fork']);
    // LIKE wildcards are literal
    assert.equal((await search(null, { q: '%' })).total, 0);
    assert.equal((await search(null, { q: '_' })).total, 0);
    assert.equal((await search(null, { q: 'web%app' })).total, 0);
  });

  test('the private-repository rule: who sees what', async () => {
    const all = async (who: User | null) => names(await search(who, { n: 100 }));
    assert.deepEqual(await all(null), ['alice/webapp', 'bob/tool', 'bob/webapp-fork']);
    assert.deepEqual(await all(bob), ['alice/webapp', 'bob/tool', 'bob/webapp-fork']);
    assert.deepEqual(await all(alice), ['acme/private-tool', 'alice/secret-webapp', 'alice/webapp', 'bob/tool', 'bob/webapp-fork']);
    assert.deepEqual(await all(carol), ['alice/secret-webapp', 'alice/webapp', 'bob/tool', 'bob/webapp-fork'], 'collaborator');
    assert.deepEqual(await all(dave), ['acme/private-tool', 'alice/webapp', 'bob/tool', 'bob/webapp-fork'], 'organisation member');
    assert.deepEqual(await all(ADMIN), ['acme/private-tool', 'alice/secret-webapp', 'alice/webapp', 'bob/tool', 'bob/webapp-fork']);

    // The same rule as the repository list of the REST API, for every caller.
    for (const who of [null, alice, bob, carol, dave, ADMIN]) {
      const listed = ok(await call(s, 'GET', '/repositories?n=100', who)).repositories.map((r: { name: string }) => r.name);
      assert.deepEqual(await all(who), listed, `search and /repositories agree for ${who?.user ?? 'anonymous'}`);
    }
  });

  test('no filter, sort or page shows a private repository to anonymous callers or outsiders', async () => {
    // bob stars what he can, so starred=true has something to return
    ok(await call(s, 'PUT', '/repositories/alice/webapp/star', bob));
    const queries: Record<string, string | number | boolean>[] = [];
    for (const q of ['', 'webapp', 'secret', 'alice', 'tool', 'private', 'acme', 'a']) {
      for (const sort of ['relevance', 'stars', 'pulls', 'pushed', 'name']) queries.push({ q, sort, n: 100 });
    }
    for (const platform of ['linux/amd64', 'linux/arm64', 'linux/arm64/v8']) queries.push({ platform });
    for (const mediaType of [MT.ociIndex, MT.ociManifest]) queries.push({ mediaType });
    queries.push({ artifactType: SBOM }, { namespace: 'alice' }, { namespace: 'acme' }, { n: 1, page: 2 }, { n: 1, page: 3 }, { n: 2, page: 2 });
    for (const who of [null, bob]) {
      for (const query of queries) {
        const r = await search(who, who ? { ...query, starred: false } : query);
        for (const n of names(r)) assert.ok(!PRIVATE.includes(n), `${n} shown to ${who?.user ?? 'anonymous'} for ${JSON.stringify(query)}`);
        assert.ok(r.total <= 3, `total ${r.total} counts private repositories for ${JSON.stringify(query)}`);
      }
      if (who) {
        const r = await search(who, { starred: true });
        assert.deepEqual(names(r), ['alice/webapp']);
      }
    }
    // Docker's v1 search too
    for (const q of ['', 'secret', 'acme', 'webapp', 'private']) {
      const r = ok(await call(s, 'GET', `/v1/search?q=${q}&n=100`, null));
      for (const h of r.results) assert.ok(!PRIVATE.includes(h.name), `${h.name} in v1 search for "${q}"`);
      const rb = ok(await call(s, 'GET', `/v1/search?q=${q}&n=100`, bob));
      for (const h of rb.results) assert.ok(!PRIVATE.includes(h.name), `${h.name} in bob's v1 search for "${q}"`);
    }
    ok(await call(s, 'DELETE', '/repositories/alice/webapp/star', bob));
  });

  test('filters: namespace, platform, media type, artifact type', async () => {
    assert.deepEqual(names(await search(alice, { namespace: 'alice' })), ['alice/secret-webapp', 'alice/webapp']);
    assert.deepEqual(
      names(await search(alice, { platform: 'linux/arm64' })),
      ['acme/private-tool', 'alice/secret-webapp', 'bob/webapp-fork'],
      'linux/arm64 matches linux/arm64/v8',
    );
    assert.deepEqual(names(await search(alice, { platform: 'linux/arm64/v8' })), ['alice/secret-webapp']);
    assert.deepEqual(names(await search(null, { platform: 'linux/arm64' })), ['bob/webapp-fork']);
    assert.deepEqual(names(await search(alice, { platform: 'linux/amd64', q: 'webapp' })), ['alice/webapp', 'alice/secret-webapp']);
    assert.deepEqual(names(await search(alice, { mediaType: MT.ociIndex })), ['alice/secret-webapp', 'bob/webapp-fork']);
    assert.deepEqual(names(await search(null, { artifactType: SBOM })), ['bob/tool']);
    const secret = (await search(alice, { q: 'secret' })).results[0];
    assert.deepEqual(secret.platforms, ['linux/amd64', 'linux/arm64/v8'], 'platforms of an index come from its children');
    assert.equal(secret.description, 'The secret webapp of alice', 'description from the index annotation');
    fails(await call(s, 'GET', '/search?platform=linux', null), 400);
    fails(await call(s, 'GET', '/search?sort=random', null), 400);
    fails(await call(s, 'GET', '/search?n=1000', null), 400);
    fails(await call(s, 'GET', '/search?starred=true', null), 401, 'UNAUTHORIZED');
  });

  test('pagination', async () => {
    const p1 = await search(alice, { n: 2, page: 1 });
    const p2 = await search(alice, { n: 2, page: 2 });
    const p3 = await search(alice, { n: 2, page: 3 });
    assert.equal(p1.total, 5);
    assert.equal(p1.numPages, 3);
    assert.equal(p1.pageSize, 2);
    assert.deepEqual([...names(p1), ...names(p2), ...names(p3)], ['acme/private-tool', 'alice/secret-webapp', 'alice/webapp', 'bob/tool', 'bob/webapp-fork']);
    assert.deepEqual(names(await search(alice, { n: 2, page: 4 })), []);
  });

  test('stars: star, unstar, counts, my starred repositories, sort by stars', async () => {
    const star = (who: User | null, repo: string, method = 'PUT') => call(s, method, `/repositories/${repo}/star`, who);
    assert.deepEqual(ok(await star(bob, 'bob/tool')), { name: 'bob/tool', starred: true, starCount: 1 });
    assert.equal(ok(await star(bob, 'bob/tool')).starCount, 1, 'starring twice counts once');
    assert.equal(ok(await star(alice, 'bob/tool')).starCount, 2);
    assert.equal(ok(await star(alice, 'alice/secret-webapp')).starCount, 1);
    fails(await star(bob, 'alice/secret-webapp'), 404, 'NOT_FOUND');
    fails(await star(null, 'bob/tool'), 401);
    fails(await star(bob, 'nobody/nothing'), 404, 'NOT_FOUND');

    assert.deepEqual(names(await search(null, { sort: 'stars' })).slice(0, 1), ['bob/tool']);
    const starred = ok(await call(s, 'GET', '/user/starred', alice));
    assert.deepEqual(names(starred), ['alice/secret-webapp', 'bob/tool']);
    assert.ok(starred.results.every((r: { starred: boolean }) => r.starred));
    fails(await call(s, 'GET', '/user/starred', null), 401);

    const page = ok(await call(s, 'GET', '/repositories/bob/tool/description', alice));
    assert.equal(page.starCount, 2);
    assert.equal(page.starred, true);

    assert.equal(ok(await star(alice, 'bob/tool', 'DELETE')).starCount, 1);
    assert.equal(ok(await star(alice, 'bob/tool', 'DELETE')).starCount, 1, 'unstarring twice is harmless');
    assert.deepEqual(names(ok(await call(s, 'GET', '/user/starred', alice))), ['alice/secret-webapp']);

    // carol stars the private repository, then loses access: it leaves her list and search
    ok(await star(carol, 'alice/secret-webapp'));
    assert.deepEqual(names(ok(await call(s, 'GET', '/user/starred', carol))), ['alice/secret-webapp']);
    ok(await call(s, 'DELETE', '/repositories/alice/secret-webapp/collaborators/carol', alice), 204);
    assert.deepEqual(names(ok(await call(s, 'GET', '/user/starred', carol))), []);
    ok(await call(s, 'PUT', '/repositories/alice/secret-webapp/collaborators/carol', alice, { permission: 'read' }));
  });

  test('pull counts: manifest GETs (not HEADs), flushed in batches; last pull and push times', async () => {
    const before = ok(await call(s, 'GET', '/repositories/bob/webapp-fork/description', null));
    assert.equal(before.pullCount, 0);
    assert.equal(before.lastPullAt, null);
    assert.equal(typeof before.lastPushAt, 'number');
    await pull(s, null, 'bob/webapp-fork', 'v1', 3);
    await pull(s, alice, 'alice/webapp', 'v1', 1);
    const head = await new TokenClient(s.url).fetch('/v2/bob/webapp-fork/manifests/v1', { method: 'HEAD', headers: { Accept: MT.ociIndex } });
    assert.equal(head.status, 200);
    await settle(s);
    const after = ok(await call(s, 'GET', '/repositories/bob/webapp-fork/description', null));
    assert.equal(after.pullCount, 3, 'three GETs; the HEAD does not count');
    assert.ok(after.lastPullAt >= before.lastPushAt);
    assert.deepEqual(names(await search(null, { sort: 'pulls' })), ['bob/webapp-fork', 'alice/webapp', 'bob/tool']);
    await pull(s, null, 'bob/webapp-fork', 'v1', 1);
    await settle(s);
    assert.equal(ok(await call(s, 'GET', '/repositories/bob/webapp-fork/description', null)).pullCount, 4, 'flushes add');

    // sort by last push: a new push moves a repository to the front
    await pushImage(s, bob, 'bob/tool', 'v2');
    assert.equal(names(await search(null, { sort: 'pushed' }))[0], 'bob/tool');
  });

  test('descriptions: set by hand (admins), from annotations otherwise; README rendered safely', async () => {
    fails(await call(s, 'PUT', '/repositories/alice/webapp/description', bob, { description: 'hijacked' }), 403, 'DENIED');
    fails(await call(s, 'PUT', '/repositories/alice/webapp/description', null, { description: 'hijacked' }), 401);
    fails(await call(s, 'PUT', '/repositories/alice/secret-webapp/description', bob, { description: 'x' }), 404, 'NOT_FOUND');
    fails(await call(s, 'GET', '/repositories/alice/secret-webapp/description', bob), 404, 'NOT_FOUND');
    fails(await call(s, 'PUT', '/repositories/alice/webapp/description', alice, { description: 'x'.repeat(301) }), 400);

    // a hand-set description wins over annotations
    await pushImage(s, alice, 'alice/webapp', 'v2', { annotations: { 'org.opencontainers.image.description': 'from the annotation' } });
    let page = ok(await call(s, 'GET', '/repositories/alice/webapp/description', null));
    assert.equal(page.description, 'A web application server');
    assert.equal(page.descriptionSource, 'manual');
    // cleared: the next push's annotation fills it
    page = ok(await call(s, 'PUT', '/repositories/alice/webapp/description', alice, { description: null }));
    assert.equal(page.description, null);
    assert.equal(page.readme, '# Webapp\n\nServes pages with **nginx**.', 'the README is kept when only the description changes');
    await pushImage(s, alice, 'alice/webapp', 'v3', { annotations: { 'org.opencontainers.image.description': 'from the annotation' } });
    page = ok(await call(s, 'GET', '/repositories/alice/webapp/description', null));
    assert.equal(page.description, 'from the annotation');
    assert.equal(page.descriptionSource, 'annotation');
    // annotations follow each other; a push without one keeps the last
    await pushImage(s, alice, 'alice/webapp', 'v4');
    assert.equal(ok(await call(s, 'GET', '/repositories/alice/webapp/description', null)).description, 'from the annotation');

    const readme = [
      '# Title',
      '<script>alert(1)</script>',
      '<img src=x onerror=alert(1)>',
      '[a](javascript:alert(1)) [b](JAVASCRIPT:alert(1)) [c](&#106;avascript:alert(1)) [d](data:text/html;base64,PHNjcmlwdD4=)',
      '![e](data:image/png;base64,iVBORw0KGgo=) ![f](javascript:alert(1))',
      '<a href="javascript:alert(1)">g</a> <iframe src="https://evil.example"></iframe>',
      '[ok](https://example.com/x) https://example.org/y',
      '![logo](https://example.com/logo.png)',
    ].join('\n\n');
    page = ok(await call(s, 'PUT', '/repositories/alice/webapp/description', alice, { readme }));
    assert.equal(page.readme, readme);
    const html: string = page.readmeHtml;
    assert.match(html, /<h1>Title<\/h1>/);
    assert.doesNotMatch(html, /<script|<img[^>]*onerror|<iframe|href="javascript|href="data|src="data|src="javascript|<a href="java/i);
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.match(html, /<a href="https:\/\/example.com\/x" rel="nofollow ugc noopener">ok<\/a>/);
    assert.match(html, /<a href="https:\/\/example.org\/y" rel="nofollow ugc noopener">/);
    assert.match(html, /<img src="https:\/\/example.com\/logo.png" alt="logo"/);
    for (const a of html.match(/<a [^>]*>/g) ?? []) assert.match(a, /rel="nofollow ugc noopener"/, a);
    // the page also tells platforms and comment state
    assert.deepEqual(page.platforms, ['linux/amd64']);
    assert.equal(page.commentsEnabled, true);
  });

  test('Docker v1 search: _ping and the exact JSON shape', async () => {
    const ping = await call(s, 'GET', '/v1/_ping', null);
    assert.equal(ping.status, 200);
    assert.deepEqual(ping.body, {});
    const r = ok(await call(s, 'GET', '/v1/search?q=webapp&n=1&page=1', null));
    assert.deepEqual(Object.keys(r).sort(), ['num_pages', 'num_results', 'page', 'page_size', 'query', 'results']);
    assert.deepEqual(r, {
      num_pages: 2,
      num_results: 2,
      results: [{ name: 'alice/webapp', description: 'from the annotation', star_count: 0, is_official: false, is_automated: false }],
      page_size: 1,
      query: 'webapp',
      page: 1,
    });
    assert.equal(ok(await call(s, 'GET', '/v1/search?q=webapp&n=1&page=2', null)).results[0].name, 'bob/webapp-fork');
    // credentials: Basic, or a registry token (what dockerd sends after `docker login`)
    assert.deepEqual(
      ok(await call(s, 'GET', '/v1/search?q=secret', alice)).results.map((x: { name: string }) => x.name),
      ['alice/secret-webapp'],
    );
    assert.equal(ok(await call(s, 'GET', '/v1/search?q=secret', null)).num_results, 0);
    const token = await new TokenClient(s.url, alice).tokenFor(['registry:catalog:search']);
    const viaToken = await fetch(`${s.url}/v1/search?q=secret`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(viaToken.status, 200);
    assert.deepEqual(
      ((await viaToken.json()) as { results: { name: string }[] }).results.map((x) => x.name),
      ['alice/secret-webapp'],
    );
    const bad = await fetch(`${s.url}/v1/search?q=secret`, { headers: { authorization: 'Bearer not-a-token' } });
    assert.equal(bad.status, 401);
    assert.match(bad.headers.get('www-authenticate') ?? '', /^Bearer realm="[^"]+\/token",service="berth",scope="registry:catalog:search"/);
    fails(await call(s, 'GET', '/v1/search?q=x', { user: 'alice', password: 'wrong' }), 401);
    fails(await call(s, 'GET', '/v1/search?q=x&n=abc', null), 400);
    // docker asks for 25 by default and never more than 100
    assert.equal(ok(await call(s, 'GET', '/v1/search?q=', null)).page_size, 25);
    assert.equal(ok(await call(s, 'GET', '/v1/search?q=&n=500', null)).page_size, 100);
  });
  test('platforms read for a manifest deleted meanwhile are dropped, not a foreign-key error', async () => {
    const digest = await pushImage(s, bob, 'bob/short-lived', 'v1', { os: 'linux', arch: 'riscv64' });
    await settle(s);
    const index = indexServiceOf(s.app)!;
    const row = await index.meta.db.selectFrom('manifests').select('id').where('digest', '=', digest).executeTakeFirstOrThrow();
    const del = await new TokenClient(s.url, bob).fetch(`/v2/bob/short-lived/manifests/${digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    // What a platform reader that listed the manifest before the delete then records.
    await index.store.recordPlatforms(Number(row.id), ['linux/riscv64']);
    const left = await index.meta.db.selectFrom('index_platforms').select('platform').where('manifest_id', '=', Number(row.id)).execute();
    assert.deepEqual(left, []);
  });
});
