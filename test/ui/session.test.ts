// The web UI's sessions and CSRF rules over HTTP: cookie attributes, the CSRF header
// the API requires with the cookie, sign-out removing the database row, sessions served
// by another replica, and the UI's JSON reads keeping private repositories private.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { startServer, type TestServer } from '../helpers/api-server.js';
import { ADMIN, addUser, call, indexServer, ok, pushImage, setVisibility, type User } from '../index/helpers.js';
import { sessionCookie } from '../../src/auth/sessions.js';
import { sessionCount, sessionRow, signIn, withSession } from './helpers.js';

const s: TestServer = indexServer();
let alice: User;
let bob: User;

describe('web UI sessions', () => {
  before(async () => {
    alice = await addUser(s, 'alice');
    bob = await addUser(s, 'bob');
    await pushImage(s, alice, 'alice/app', 'v1');
    await pushImage(s, alice, 'alice/hidden', 'v1');
    await setVisibility(s, alice, 'alice/app', 'public');
  });

  describe('sign in', () => {
    it('sets an HttpOnly, SameSite=Strict session cookie (no Secure over plain http) and stores only its hash', async () => {
      const session = await signIn(s, alice.user, alice.password);
      const attrs = session.setCookie.split(';').map((x) => x.trim());
      assert.ok(attrs.includes('HttpOnly'), session.setCookie);
      assert.ok(attrs.includes('SameSite=Strict'), session.setCookie);
      assert.ok(attrs.includes('Path=/'), session.setCookie);
      assert.ok(!attrs.includes('Secure'), 'no Secure over http');
      assert.ok(session.csrf.length >= 24, 'a CSRF token comes with the session');
      const row = await sessionRow(s, session.secret);
      assert.ok(row, 'the session is a database row');
      assert.notEqual(row.id, session.secret, 'the row is keyed by the hash, not the cookie');
      assert.equal(row.csrf, session.csrf);
    });

    it('marks the cookie Secure when the request came over TLS', () => {
      const header = sessionCookie({ protocol: 'https' } as FastifyRequest, 'x');
      assert.match(header, /; Secure/);
      assert.match(header, /HttpOnly/);
      assert.match(sessionCookie({ protocol: 'http' } as FastifyRequest, null), /Max-Age=0/);
    });

    it('refuses a sign-in without the CSRF header, a wrong password, and an access token as password', async () => {
      const noHeader = await fetch(`${s.url}/ui/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: alice.user, password: alice.password }),
      });
      assert.equal(noHeader.status, 403);
      assert.equal(noHeader.headers.get('set-cookie'), null);

      const wrong = await withSession(s, 'POST', '/ui/session', null, 'x', { username: alice.user, password: 'nope' });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.headers.get('set-cookie'), null);
      assert.equal(wrong.headers.get('www-authenticate'), null, 'no browser login dialog');

      const token = ok(await call(s, 'POST', '/user/tokens', alice, { name: 'ui', scopes: ['pull'] }), 201);
      const viaToken = await withSession(s, 'POST', '/ui/session', null, 'x', { username: alice.user, password: token.secret });
      assert.equal(viaToken.status, 403, viaToken.text);
    });

    it('GET /ui/session tells the page who is signed in and its CSRF token', async () => {
      const session = await signIn(s, alice.user, alice.password);
      const me = await withSession(s, 'GET', '/ui/session', session, undefined);
      assert.equal(me.status, 200);
      assert.equal(me.body.user.name, 'alice');
      assert.equal(me.body.csrf, session.csrf);
      const anon = await withSession(s, 'GET', '/ui/session', null, undefined);
      assert.deepEqual(anon.body, { user: null });
    });
  });

  describe('the API with a session cookie', () => {
    it('accepts the cookie only with the matching X-Berth-CSRF header', async () => {
      const session = await signIn(s, bob.user, bob.password);
      // With the header: bob, signed in like a password login.
      const me = await withSession(s, 'GET', '/api/v1/user', session, session.csrf);
      assert.equal(me.status, 200, me.text);
      assert.equal(me.body.name, 'bob');
      // A GET without it reads as anonymous (a plain navigation).
      assert.equal((await withSession(s, 'GET', '/api/v1/user', session, undefined)).status, 401);

      // State changes: refused without the header or with a wrong token, before anything happens.
      const noHeader = await withSession(s, 'PUT', '/api/v1/repositories/alice/app/star', session, undefined);
      assert.equal(noHeader.status, 403, noHeader.text);
      const wrongToken = await withSession(s, 'PUT', '/api/v1/repositories/alice/app/star', session, 'forged');
      assert.equal(wrongToken.status, 403, wrongToken.text);
      const otherSession = await signIn(s, alice.user, alice.password);
      assert.equal((await withSession(s, 'PUT', '/api/v1/repositories/alice/app/star', session, otherSession.csrf)).status, 403, "another session's token");
      assert.equal(ok(await call(s, 'GET', '/repositories/alice/app/description', null)).starCount, 0, 'no star was recorded');

      const starred = await withSession(s, 'PUT', '/api/v1/repositories/alice/app/star', session, session.csrf);
      assert.equal(starred.status, 200, starred.text);
      assert.equal(starred.body.starCount, 1);

      // Other API plugins (comments, webhooks, tokens) take it the same way.
      assert.equal((await withSession(s, 'POST', '/api/v1/user/tokens', session, undefined, { name: 'x', scopes: ['pull'] })).status, 403);
      assert.equal((await withSession(s, 'POST', '/api/v1/user/tokens', session, session.csrf, { name: 'x', scopes: ['pull'] })).status, 201);
      assert.equal((await withSession(s, 'POST', '/api/v1/repositories/alice/app/comments', session, undefined, { body: 'hi' })).status, 403);
    });

    it('answers 401 without WWW-Authenticate to the UI, so browsers show no login dialog', async () => {
      const r = await withSession(s, 'GET', '/api/v1/user', null, 'anonymous');
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), null);
      const plain = await withSession(s, 'GET', '/api/v1/user', null, undefined);
      assert.match(plain.headers.get('www-authenticate') ?? '', /^Basic/, 'API clients still get the challenge');
    });

    it('ends the session when the user is disabled', async () => {
      const carol = await addUser(s, 'carol');
      const session = await signIn(s, carol.user, carol.password);
      assert.equal((await withSession(s, 'GET', '/api/v1/user', session, session.csrf)).status, 200);
      ok(await call(s, 'PATCH', '/users/carol', ADMIN, { disabled: true }));
      assert.equal((await withSession(s, 'GET', '/api/v1/user', session, session.csrf)).status, 401);
      assert.equal(await sessionRow(s, session.secret), undefined, 'the row is gone');
      assert.deepEqual((await withSession(s, 'GET', '/ui/session', session, undefined)).body, { user: null });
    });
  });

  describe('sign out', () => {
    it('needs the CSRF header, then deletes the row and clears the cookie', async () => {
      const session = await signIn(s, alice.user, alice.password);
      const forged = await withSession(s, 'DELETE', '/ui/session', session, undefined);
      assert.equal(forged.status, 403, 'a cross-site sign-out is refused');
      assert.ok(await sessionRow(s, session.secret), 'still signed in');

      const before = await sessionCount(s);
      const out = await withSession(s, 'DELETE', '/ui/session', session, session.csrf);
      assert.equal(out.status, 204);
      assert.match(out.headers.get('set-cookie') ?? '', /^berth_session=;.*Max-Age=0/);
      assert.equal(await sessionRow(s, session.secret), undefined, 'the database row is deleted');
      assert.equal(await sessionCount(s), before - 1);

      // The old cookie and token no longer work anywhere.
      const after = await withSession(s, 'GET', '/api/v1/user', session, session.csrf);
      assert.equal(after.status, 401);
      assert.deepEqual((await withSession(s, 'GET', '/ui/session', session, undefined)).body, { user: null });
    });
  });

  describe('another replica', () => {
    it('serves a session made by the first one (sessions live in the database)', async () => {
      const session = await signIn(s, alice.user, alice.password);
      const replica = await startServer({ dir: s.dir, config: s.config as never });
      try {
        const r = await withSession(replica, 'GET', '/api/v1/user', session, session.csrf);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.body.name, 'alice');
        assert.equal((await withSession(replica, 'DELETE', '/ui/session', session, session.csrf)).status, 204);
      } finally {
        await replica.close();
      }
      assert.equal((await withSession(s, 'GET', '/api/v1/user', session, session.csrf)).status, 401, 'signed out on the first replica too');
    });
  });

  describe('UI pages and JSON reads', () => {
    it('serves the page shell with a strict CSP, the assets and Preact from Berth itself', async () => {
      const root = await withSession(s, 'GET', '/', null, undefined);
      assert.equal(root.status, 302);
      assert.equal(root.headers.get('location'), '/ui/');
      for (const path of ['/ui/', '/ui/r/alice/app', '/ui/r/alice/app/-/tags', '/ui/admin/users']) {
        const page = await withSession(s, 'GET', path, null, undefined);
        assert.equal(page.status, 200, path);
        assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
        assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self' 'sha256-/);
        assert.match(page.text, /<script type="module" src="\/ui\/assets\/app.js">/, 'the client is built (npm run build)');
        assert.doesNotMatch(page.text, /(src|href)="https?:/, 'nothing loaded from elsewhere');
      }
      for (const path of ['/ui/assets/app.js', '/ui/assets/app.css', '/ui/vendor/preact.mjs', '/ui/vendor/hooks.mjs', '/ui/vendor/jsx-runtime.mjs']) {
        const r = await withSession(s, 'GET', path, null, undefined);
        assert.equal(r.status, 200, path);
      }
      assert.equal((await withSession(s, 'GET', '/ui/assets/nope.js', null, undefined)).status, 404);
    });

    it('lists tags and manifests only to those who may pull the repository', async () => {
      const aliceSession = await signIn(s, alice.user, alice.password);
      const bobSession = await signIn(s, bob.user, bob.password);
      const tags = await withSession(s, 'GET', '/ui/api/tags?repository=alice/hidden', aliceSession, aliceSession.csrf);
      assert.equal(tags.status, 200, tags.text);
      assert.equal(tags.body.tags[0].name, 'v1');
      assert.match(tags.body.tags[0].digest, /^sha256:/);
      assert.ok(tags.body.tags[0].size > 80, 'size counts the blobs');
      const manifest = await withSession(s, 'GET', '/ui/api/manifest?repository=alice/hidden&reference=v1', aliceSession, aliceSession.csrf);
      assert.equal(manifest.status, 200, manifest.text);
      assert.equal(manifest.body.layers.length, 1);

      for (const [who, session] of [
        ['anonymous', null],
        ['bob', bobSession],
      ] as const) {
        for (const path of [
          '/ui/api/tags?repository=alice/hidden',
          '/ui/api/manifest?repository=alice/hidden&reference=v1',
          '/ui/api/tags?repository=alice/missing',
        ]) {
          const r = await withSession(s, 'GET', path, session, session?.csrf ?? 'anonymous');
          assert.equal(r.status, 404, `${who} ${path}`);
          assert.equal(r.body.errors[0].code, 'NOT_FOUND');
        }
      }
      // The public one is readable by anyone.
      assert.equal((await withSession(s, 'GET', '/ui/api/tags?repository=alice/app', null, undefined)).status, 200);
    });
  });
});
