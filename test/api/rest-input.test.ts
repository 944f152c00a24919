// REST input (/api/v1 and the UI's JSON routes): the REST error vocabulary (one code per
// status), schema violations as 400 INVALID naming the field, JSON bodies only (415),
// bodies that are not valid UTF-8 and strings with control characters refused with 400
// and nothing changed. Free text that may span lines (a README, a comment) keeps tab,
// line feed and carriage return; nothing else does.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { REST_ERRORS } from '../../src/errors/rest.js';
import { ADMIN, addUser, basic, call, fails, indexServer, ok, pushImage, type User } from '../index/helpers.js';
import { readJsonReply } from '../helpers/json-reply.js';

const s = indexServer();
let alice: User;

/** A request with a raw body (bytes as given) and a Content-Type. */
async function raw(method: string, path: string, who: User | null, body: Buffer | string, type = 'application/json') {
  const res = await fetch(`${s.url}${path.startsWith('/ui/') ? '' : '/api/v1'}${path}`, {
    method,
    headers: { 'content-type': type, ...(who ? { authorization: basic(who) } : {}), ...(path.startsWith('/ui/') ? { 'x-berth-csrf': 'anonymous' } : {}) },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  return readJsonReply(res);
}

function invalid(r: Awaited<ReturnType<typeof raw>>, detail: object, context: string): void {
  fails(r, 400, 'INVALID', context);
  assert.deepEqual(r.body.errors[0].detail, detail, `${context}: ${r.text}`);
}

const description = async () => ok(await call(s, 'GET', '/repositories/alice/app/description', null));

describe('REST input', () => {
  before(async () => {
    alice = await addUser(s, 'alice');
    await pushImage(s, alice, 'alice/app', 'v1');
    ok(await call(s, 'PATCH', '/repositories/alice/app', alice, { visibility: 'public' }));
    ok(await call(s, 'PUT', '/repositories/alice/app/description', alice, { description: 'the first', readme: '# App' }));
  });

  it('declares each REST error code once, with a status of its own', () => {
    const statuses = Object.values(REST_ERRORS).map((e) => e.status);
    assert.equal(new Set(statuses).size, statuses.length);
    assert.deepEqual(Object.keys(REST_ERRORS).sort(), [
      'CONFLICT',
      'DENIED',
      'INTERNAL',
      'INVALID',
      'NOT_FOUND',
      'STORAGE_FULL',
      'TOO_LARGE',
      'TOO_MANY_REQUESTS',
      'UNAUTHORIZED',
      'UNAVAILABLE',
      'UNSUPPORTED',
      'UNSUPPORTED_MEDIA_TYPE',
    ]);
  });

  it('answers in the REST vocabulary, never with a registry code', async () => {
    const bob = await addUser(s, 'bob');
    fails(await call(s, 'GET', '/user', null), 401, 'UNAUTHORIZED');
    fails(await call(s, 'GET', '/users', bob), 403, 'DENIED');
    fails(await call(s, 'GET', '/users/nobody-here', ADMIN), 404, 'NOT_FOUND');
    fails(await call(s, 'GET', '/repositories/alice/nothing', bob), 404, 'NOT_FOUND');
    fails(await call(s, 'GET', '/repositories/Bad..Name', bob), 400, 'INVALID');
    fails(await call(s, 'POST', '/users', ADMIN, { username: 'bob', password: 'another-password' }), 409, 'CONFLICT');
    fails(await call(s, 'POST', '/users', ADMIN, { username: 'Bad Name', password: 'another-password' }), 400, 'INVALID');
    fails(await call(s, 'POST', '/users', ADMIN, { username: 'carl', password: 'short' }), 400, 'INVALID');
  });

  it('a schema violation is INVALID and names the field', async () => {
    const r = await call(s, 'GET', '/search?n=1000', null);
    fails(r, 400, 'INVALID');
    assert.equal(r.body.errors[0].message, 'querystring/n must be <= 100');
    assert.deepEqual(r.body.errors[0].detail, { location: 'querystring', field: 'n' });
    invalid(await call(s, 'POST', '/orgs', alice, { name: 'colour-org', colour: 'red' }), { location: 'body', field: 'colour' }, 'an unknown field');
    invalid(await call(s, 'POST', '/user/tokens', alice, { name: 'ci', scopes: ['pull', 'fly'] }), { location: 'body', field: 'scopes/1' }, 'a bad array item');
  });

  it('refuses bodies that are not JSON with 415 and changes nothing', async () => {
    fails(await raw('POST', '/orgs', alice, '{"name":"plain-org"}', 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    fails(await raw('POST', '/orgs', alice, 'name=form-org', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE');
    const orgs = ok(await call(s, 'GET', '/orgs', alice));
    assert.deepEqual(orgs.orgs, []);
  });

  it('refuses a body that is not valid UTF-8 and stores nothing', async () => {
    const latin1 = Buffer.concat([Buffer.from('{"description":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    invalid(await raw('PUT', '/repositories/alice/app/description', alice, latin1), { location: 'body' }, 'Latin-1 description');
    const cut = Buffer.concat([Buffer.from('{"body":"'), Buffer.from('€').subarray(0, 2), Buffer.from('"}')]);
    invalid(await raw('POST', '/repositories/alice/app/comments', alice, cut), { location: 'body' }, 'a truncated sequence in a comment');
    invalid(
      await raw('PUT', '/repositories/alice/app/description', alice, '{"description":"\\ud800 alone"}'),
      { location: 'body', field: 'description' },
      'a lone surrogate',
    );
    assert.equal((await description()).description, 'the first');
    assert.deepEqual(ok(await call(s, 'GET', '/repositories/alice/app/comments', alice)).comments, []);
  });

  it('refuses control characters in strings, field names, the query and the path', async () => {
    for (const [text, code] of [
      ['a\u0000b', 'U+0000'],
      ['line\nbreak', 'U+000A'],
      ['tab\there', 'U+0009'],
      ['bell\u0007', 'U+0007'],
      ['del\u007f', 'U+007F'],
      ['c1\u0085', 'U+0085'],
    ]) {
      const r = await call(s, 'PUT', '/repositories/alice/app/description', alice, { description: text });
      invalid(r, { location: 'body', field: 'description' }, JSON.stringify(text));
      assert.match(r.body.errors[0].message, new RegExp(`^body/description holds a control character \\(${code.replace('+', '\\+')}\\)$`));
    }
    assert.equal((await description()).description, 'the first');
    invalid(
      await call(s, 'PUT', '/repositories/alice/app/description', alice, { readme: 'ring \u0007 ring' }),
      { location: 'body', field: 'readme' },
      'BEL in a README',
    );
    invalid(
      await call(s, 'POST', '/repositories/alice/app/comments', alice, { body: 'nul \u0000 here' }),
      { location: 'body', field: 'body' },
      'NUL in a comment',
    );
    invalid(await call(s, 'PATCH', '/users/alice', alice, { email: 'alice@example.org\u0000' }), { location: 'body', field: 'email' }, 'NUL in an email');
    invalid(
      await call(s, 'POST', '/user/webhooks', alice, { url: 'https://example.org/hook', name: 'two\nlines' }),
      { location: 'body', field: 'name' },
      'a newline in a webhook name',
    );
    invalid(await call(s, 'POST', '/orgs', alice, { 'na\u0000me': 'acme' }), { location: 'body' }, 'NUL in a field name');
    invalid(
      await raw('POST', '/ui/session', null, JSON.stringify({ username: 'alice\u0000', password: alice.password })),
      { location: 'body', field: 'username' },
      'NUL at sign-in',
    );
    invalid(await call(s, 'GET', '/search?q=%00', null), { location: 'querystring', field: 'q' }, 'NUL in the query');
    invalid(await call(s, 'GET', '/namespaces/al%00ice/webhooks', alice), { location: 'params', field: 'ns' }, 'NUL in the path');
    assert.equal(ok(await call(s, 'GET', '/user', alice)).email, null);
    assert.deepEqual(ok(await call(s, 'GET', '/repositories/alice/app/comments', alice)).comments, []);
  });

  it('keeps tab, line feed and carriage return in a README and a comment', async () => {
    const readme = '# App\n\n\tcode\r\nend';
    ok(await call(s, 'PUT', '/repositories/alice/app/description', alice, { readme }));
    assert.equal((await description()).readme, readme);
    const comment = ok(await call(s, 'POST', '/repositories/alice/app/comments', alice, { body: 'first line\n\tsecond line' }), 201);
    assert.equal(comment.body, 'first line\n\tsecond line');
  });
});
