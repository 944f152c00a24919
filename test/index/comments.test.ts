// Comments on repositories: held for moderation when their author is new, the
// moderator queue (approve, reject), reports, per-account rate limits (429 +
// Retry-After), edit and delete rights, comments turned off by owners, private
// repositories' comments invisible to outsiders, and Markdown rendered inert.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { openSqlite } from '../../src/metadata/database.js';
import { COMMENT_RULES } from '../../src/index/service.js';
import { ADMIN, addUser, call, fails, indexServer, ok, pushImage, setVisibility, type User } from './helpers.js';

const s = indexServer();
let alice: User, bob: User, carol: User, dave: User, erin: User, frank: User, mallory: User;

/** Makes an account look `days` old (what the moderation rule looks at). */
async function age(user: string, days: number): Promise<void> {
  const meta = await openSqlite(s.config.metadata.sqlite.path);
  try {
    await meta.db
      .updateTable('users')
      .set({ created_at: Date.now() - days * 86_400_000 })
      .where('username', '=', user)
      .execute();
  } finally {
    await meta.close();
  }
}

const list = async (who: User | null, repo = 'alice/app') =>
  ok(await call(s, 'GET', `/repositories/${repo}/comments`, who), 200, `comments of ${repo} as ${who?.user ?? 'anonymous'}`);
const post = (who: User | null, body: string, repo = 'alice/app') => call(s, 'POST', `/repositories/${repo}/comments`, who, { body });
const bodies = (r: any) => r.comments.map((c: { body: string }) => c.body);

describe('comments', () => {
  before(async () => {
    alice = await addUser(s, 'alice');
    bob = await addUser(s, 'bob');
    carol = await addUser(s, 'carol');
    dave = await addUser(s, 'dave');
    erin = await addUser(s, 'erin');
    frank = await addUser(s, 'frank');
    mallory = await addUser(s, 'mallory');
    for (const u of ['carol', 'dave', 'erin', 'frank']) await age(u, 30);
    await pushImage(s, alice, 'alice/app', 'v1');
    await setVisibility(s, alice, 'alice/app', 'public');
    await pushImage(s, alice, 'alice/private', 'v1');
    ok(await call(s, 'PUT', '/repositories/alice/private/collaborators/dave', alice, { permission: 'read' }));
    // dave and frank earn trust elsewhere: one approved comment each
    await pushImage(s, alice, 'alice/lounge', 'v1');
    await setVisibility(s, alice, 'alice/lounge', 'public');
    for (const u of [dave, frank]) {
      const c = ok(await post(u, `hello from ${u.user}`, 'alice/lounge'), 201);
      ok(await call(s, 'POST', `/moderation/comments/${c.id}/approve`, ADMIN));
    }
  });

  test('first comments of new accounts are held for moderators; approval publishes them', async () => {
    const c = ok(await post(bob, 'Nice image!'), 201);
    assert.equal(c.status, 'held');
    assert.equal(c.author, 'bob');
    assert.equal(c.reportCount, undefined, 'report counts are for moderators');
    assert.deepEqual(bodies(await list(null)), [], 'anonymous callers do not see held comments');
    assert.deepEqual(bodies(await list(carol)), []);
    assert.deepEqual(bodies(await list(bob)), ['Nice image!'], 'the author sees it (marked held)');
    assert.deepEqual(bodies(await list(ADMIN)), ['Nice image!']);

    // an old account without an approved comment is held too
    const fromCarol = ok(await post(carol, 'Works on arm64?'), 201);
    assert.equal(fromCarol.status, 'held');
    // the repository owner is trusted on their own repository
    const fromAlice = ok(await post(alice, 'Thanks for trying it'), 201);
    assert.equal(fromAlice.status, 'visible');

    const queue = ok(await call(s, 'GET', '/moderation/comments', ADMIN));
    assert.deepEqual(
      queue.comments.map((x: { body: string }) => x.body),
      ['Nice image!', 'Works on arm64?'],
    );
    assert.equal(queue.comments[0].repository, 'alice/app');
    fails(await call(s, 'GET', '/moderation/comments', alice), 403, 'DENIED');
    fails(await call(s, 'GET', '/moderation/comments', null), 401);
    fails(await call(s, 'POST', `/moderation/comments/${c.id}/approve`, alice), 403);

    assert.equal(ok(await call(s, 'POST', `/moderation/comments/${c.id}/approve`, ADMIN)).status, 'visible');
    assert.equal(ok(await call(s, 'POST', `/moderation/comments/${fromCarol.id}/approve`, ADMIN)).status, 'visible');
    assert.deepEqual(bodies(await list(null)), ['Nice image!', 'Works on arm64?', 'Thanks for trying it']);
    assert.deepEqual(ok(await call(s, 'GET', '/moderation/comments', ADMIN)).comments, []);

    // carol (old account, one approved comment) is trusted now; bob's account is still new
    assert.equal(ok(await post(carol, 'It does.'), 201).status, 'visible');
    assert.equal(ok(await post(bob, 'Second try'), 201).status, 'held');
    assert.ok(COMMENT_RULES.newAccountMs > 0 && COMMENT_RULES.approvedToTrust >= 1);
  });

  test('rejected comments stay hidden; the author sees them as rejected', async () => {
    const spam = ok(await post(mallory, 'Buy cheap stuff at https://spam.example'), 201);
    assert.equal(spam.status, 'held');
    const r = ok(await call(s, 'POST', `/moderation/comments/${spam.id}/reject`, ADMIN));
    assert.equal(r.status, 'rejected');
    assert.ok(!bodies(await list(null)).some((b: string) => b.includes('cheap')));
    assert.ok(!bodies(await list(carol)).some((b: string) => b.includes('cheap')));
    const own = (await list(mallory)).comments.find((x: { id: number }) => x.id === spam.id);
    assert.equal(own.status, 'rejected');
    fails(await call(s, 'PATCH', `/repositories/alice/app/comments/${spam.id}`, mallory, { body: 'edited spam' }), 403);
    fails(await call(s, 'POST', '/moderation/comments/999999/approve', ADMIN), 404);
  });

  test('reports: the moderator queue shows them; enough reports hide a comment', async () => {
    const c = ok(await post(carol, 'A trusted comment'), 201);
    assert.equal(c.status, 'visible');
    assert.deepEqual(ok(await call(s, 'POST', `/repositories/alice/app/comments/${c.id}/report`, bob, { reason: 'off topic' })), { id: c.id, reported: true });
    ok(await call(s, 'POST', `/repositories/alice/app/comments/${c.id}/report`, bob, { reason: 'again' }), 200, 'reporting twice is harmless');
    fails(await call(s, 'POST', `/repositories/alice/app/comments/${c.id}/report`, carol), 400, undefined, 'own comment');
    fails(await call(s, 'POST', `/repositories/alice/app/comments/${c.id}/report`, null), 401);
    let queue = ok(await call(s, 'GET', '/moderation/comments', ADMIN)).comments;
    const entry = queue.find((x: { id: number }) => x.id === c.id);
    assert.equal(entry.reportCount, 1);
    assert.deepEqual(entry.reports, [{ user: 'bob', reason: 'off topic' }]);
    assert.ok(bodies(await list(null)).includes('A trusted comment'), 'one report does not hide it');

    for (const u of [dave, mallory].slice(0, COMMENT_RULES.reportsToHold - 1)) ok(await call(s, 'POST', `/repositories/alice/app/comments/${c.id}/report`, u));
    assert.ok(!bodies(await list(null)).includes('A trusted comment'), `${COMMENT_RULES.reportsToHold} reports put it on hold`);
    assert.equal((await list(carol)).comments.find((x: { id: number }) => x.id === c.id).status, 'held');
    // a moderator approves it again: reports are cleared
    assert.equal(ok(await call(s, 'POST', `/moderation/comments/${c.id}/approve`, ADMIN)).reportCount, 0);
    queue = ok(await call(s, 'GET', '/moderation/comments', ADMIN)).comments;
    assert.ok(!queue.some((x: { id: number }) => x.id === c.id));
    assert.ok(bodies(await list(null)).includes('A trusted comment'));
  });

  test('per-account rate limit: 429 with Retry-After', async () => {
    for (let i = 0; i < COMMENT_RULES.rateMax; i++) ok(await post(erin, `comment ${i}`, 'alice/app'), 201);
    const r = await post(erin, 'one too many');
    fails(r, 429, 'TOO_MANY_REQUESTS');
    const retry = Number(r.headers.get('retry-after'));
    assert.ok(Number.isInteger(retry) && retry > 0 && retry <= COMMENT_RULES.rateWindowMs / 1000, `Retry-After ${retry}`);
    // per account: others can still comment
    ok(await post(carol, 'still fine'), 201);
    // deleting comments does not give the allowance back
    const mine = (await list(erin)).comments.filter((x: { author: string }) => x.author === 'erin');
    ok(await call(s, 'DELETE', `/repositories/alice/app/comments/${mine[0].id}`, erin), 204);
    fails(await post(erin, 'after a delete'), 429);
  });

  test('edit by the author, delete by the author, repository admins and moderators', async () => {
    const c = ok(await post(carol, 'tpyo'), 201);
    const edited = ok(await call(s, 'PATCH', `/repositories/alice/app/comments/${c.id}`, carol, { body: 'typo' }));
    assert.equal(edited.body, 'typo');
    assert.equal(typeof edited.editedAt, 'number');
    assert.equal(edited.status, 'visible');
    fails(await call(s, 'PATCH', `/repositories/alice/app/comments/${c.id}`, alice, { body: 'owner edit' }), 403, 'DENIED');
    fails(await call(s, 'PATCH', `/repositories/alice/app/comments/${c.id}`, null, { body: 'x' }), 401);
    fails(await call(s, 'PATCH', `/repositories/alice/app/comments/${c.id}`, carol, { body: '' }), 400);
    fails(await call(s, 'DELETE', `/repositories/alice/app/comments/${c.id}`, bob), 403, 'DENIED');
    ok(await call(s, 'DELETE', `/repositories/alice/app/comments/${c.id}`, carol), 204);
    fails(await call(s, 'DELETE', `/repositories/alice/app/comments/${c.id}`, carol), 404);

    // an approved comment of a new account, edited, goes back to the moderators
    const b = (await list(bob)).comments.find((x: { body: string }) => x.body === 'Nice image!');
    assert.equal(ok(await call(s, 'PATCH', `/repositories/alice/app/comments/${b.id}`, bob, { body: 'Now with a link https://x.example' })).status, 'held');

    const byOwner = ok(await post(dave, 'to be removed by the owner'), 201);
    ok(await call(s, 'DELETE', `/repositories/alice/app/comments/${byOwner.id}`, alice), 204, 'repository admin deletes');
    const byAdmin = ok(await post(dave, 'to be removed by a moderator'), 201);
    ok(await call(s, 'DELETE', `/repositories/alice/app/comments/${byAdmin.id}`, ADMIN), 204, 'moderator deletes');
    // a comment id under another repository's path is not found
    const other = ok(await post(alice, 'on the private one', 'alice/private'), 201);
    fails(await call(s, 'DELETE', `/repositories/alice/app/comments/${other.id}`, alice), 404);
  });

  test('owners may turn comments off', async () => {
    fails(await call(s, 'PUT', '/repositories/alice/app/comments/settings', bob, { enabled: false }), 403, 'DENIED');
    assert.deepEqual(ok(await call(s, 'PUT', '/repositories/alice/app/comments/settings', alice, { enabled: false })), { name: 'alice/app', enabled: false });
    const l = await list(null);
    assert.equal(l.enabled, false);
    fails(await post(frank, 'closed?'), 403, 'DENIED');
    assert.equal(ok(await call(s, 'GET', '/repositories/alice/app/description', null)).commentsEnabled, false);
    ok(await call(s, 'PUT', '/repositories/alice/app/comments/settings', alice, { enabled: true }));
    ok(await post(frank, 'open again'), 201);
  });

  test('comments of a private repository: only those who may pull see them', async () => {
    assert.deepEqual(bodies(await list(alice, 'alice/private')), ['on the private one']);
    assert.deepEqual(bodies(await list(dave, 'alice/private')), ['on the private one'], 'collaborator');
    assert.deepEqual(bodies(await list(ADMIN, 'alice/private')), ['on the private one']);
    for (const who of [null, bob, carol]) {
      fails(await call(s, 'GET', '/repositories/alice/private/comments', who), 404, 'NOT_FOUND', `list as ${who?.user ?? 'anonymous'}`);
    }
    fails(await post(bob, 'let me in', 'alice/private'), 404, 'NOT_FOUND');
    const id = (await list(alice, 'alice/private')).comments[0].id;
    fails(await call(s, 'POST', `/repositories/alice/private/comments/${id}/report`, bob), 404, 'NOT_FOUND');
    fails(await call(s, 'PATCH', `/repositories/alice/private/comments/${id}`, bob, { body: 'x' }), 404, 'NOT_FOUND');
    fails(await call(s, 'DELETE', `/repositories/alice/private/comments/${id}`, bob), 404, 'NOT_FOUND');
    // a missing repository answers the same
    fails(await call(s, 'GET', '/repositories/alice/nothing/comments', bob), 404, 'NOT_FOUND');
  });

  test('Markdown in comments is rendered inert; links get rel="nofollow ugc"', async () => {
    const attacks = [
      '<script>alert(1)</script>',
      '<img src=x onerror=alert(1)>',
      '<a href="javascript:alert(1)">click</a>',
      '[x](javascript:alert(1))',
      '[y](JaVaScRiPt:alert(1))',
      '[z](&#106;&#97;vascript:alert(1))',
      '[w](javascript&#58;alert(1))',
      '&lt;script&gt;alert(1)&lt;/script&gt; &#60;img src=x onerror=alert(1)&#62;',
      '[d](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
      '![i](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)',
      '<svg onload=alert(1)>',
      '[v](vbscript:msgbox(1))',
      '<javascript:alert(1)>',
      '[t](https://ok.example "x\\" onmouseover=\\"alert(1)")',
    ];
    const c = ok(await post(frank, `${attacks.join('\n\n')}\n\nSee [docs](https://docs.example/page) or https://auto.example/link`), 201);
    const html: string = c.html;
    assert.doesNotMatch(html, /<(script|img|svg|iframe)/i, html);
    assert.doesNotMatch(html, /\son\w+="/i, 'no event handler attributes');
    assert.doesNotMatch(html, /(href|src)="\s*(javascript|vbscript|data):/i);
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.match(html, /<a href="https:\/\/docs.example\/page" rel="nofollow ugc noopener">docs<\/a>/);
    assert.match(html, /<a href="https:\/\/auto.example\/link" rel="nofollow ugc noopener">/);
    const anchors = html.match(/<a\s[^>]*>/g) ?? [];
    assert.ok(anchors.length >= 3);
    for (const a of anchors) {
      assert.match(a, /rel="nofollow ugc noopener"/, a);
      assert.match(a, /href="https:\/\//, a);
    }
    // the source is returned as written
    assert.ok(c.body.startsWith('<script>alert(1)</script>'));
    const listed = (await list(null)).comments.find((x: { id: number }) => x.id === c.id);
    assert.equal(listed.html, html);
    fails(await post(frank, 'x'.repeat(COMMENT_RULES.maxLength + 1)), 400);
    fails(await post(frank, '   '), 400);
  });
});
