// One error mapper (src/http/error-response.ts): the same failure on each surface gives
// that surface's one shape. The registry surface (/v2, /v1, /token, the rest) answers
// with OCI codes, /api/v1 and /ui with the REST vocabulary; every error is JSON,
// no-store, {"errors":[{code, message, detail?}]}, and HEAD gets no body.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ADMIN, accountsServer, authHeader } from '../api-v1/helpers.js';
import { rawRequest, type TestServer } from '../helpers/api-server.js';

const s = accountsServer({}, { config: { limits: { manifestbytes: 1024 } } });
const failing = accountsServer({}, { exposeMeta: true });
const CSRF = { 'x-berth-csrf': 'anonymous' };

interface Seen {
  status: number;
  code: string;
  message: string;
  detail?: unknown;
  headers: Headers;
}

async function fails(server: TestServer, method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<Seen> {
  const res = await fetch(server.url + path, { method, headers: init.headers, body: init.body });
  const text = await res.text();
  assert.ok(res.status >= 400, `${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, `${method} ${path}: content-type`);
  assert.equal(res.headers.get('cache-control'), 'no-store', `${method} ${path}: cache-control`);
  const body = JSON.parse(text) as { errors: { code: string; message: string; detail?: unknown }[] };
  assert.equal(body.errors.length, 1, `${method} ${path}: ${text}`);
  const [e] = body.errors;
  assert.deepEqual(
    Object.keys(e).filter((k) => !['code', 'message', 'detail'].includes(k)),
    [],
    `${method} ${path}: only code, message, detail`,
  );
  return { status: res.status, code: e.code, message: e.message, detail: e.detail, headers: res.headers };
}

function is(seen: Seen, status: number, code: string, context: string): Seen {
  assert.deepEqual({ status: seen.status, code: seen.code }, { status, code }, `${context}: ${seen.message}`);
  return seen;
}

describe('one error mapper, one shape per surface', () => {
  it('an unknown route', async () => {
    is(await fails(s, 'GET', '/no/such/endpoint'), 404, 'NAME_UNKNOWN', 'registry');
    is(await fails(s, 'GET', '/api/v1/no/such/endpoint'), 404, 'NOT_FOUND', 'api');
    is(await fails(s, 'POST', '/ui/no/such/endpoint', { headers: { ...CSRF, 'content-type': 'application/json' }, body: '{}' }), 404, 'NOT_FOUND', 'ui');
  });

  it('a body over the limit', async () => {
    const token = (
      (await (await fetch(`${s.url}/token?service=berth&scope=repository:admin/big:pull,push`, { headers: authHeader(ADMIN) })).json()) as { token: string }
    ).token;
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', padding: 'x'.repeat(2048) });
    is(
      await fails(s, 'PUT', '/v2/admin/big/manifests/v1', {
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: manifest,
      }),
      413,
      'SIZE_INVALID',
      'registry',
    );
    const big = JSON.stringify({ name: 'x'.repeat(70_000) });
    is(await fails(s, 'POST', '/api/v1/orgs', { headers: { ...authHeader(ADMIN), 'content-type': 'application/json' }, body: big }), 413, 'TOO_LARGE', 'api');
    is(await fails(s, 'POST', '/ui/session', { headers: { ...CSRF, 'content-type': 'application/json' }, body: big }), 413, 'TOO_LARGE', 'ui');
  });

  it('a query or body that breaks the rules', async () => {
    is(await fails(s, 'GET', '/v1/search?q=x&n=many'), 400, 'PAGINATION_NUMBER_INVALID', 'registry');
    const api = is(await fails(s, 'GET', '/api/v1/search?n=1000'), 400, 'INVALID', 'api');
    assert.equal(api.message, 'querystring/n must be <= 100');
    assert.deepEqual(api.detail, { location: 'querystring', field: 'n' });
    const ui = is(await fails(s, 'GET', '/ui/api/tags?repository=a/b&n=1000'), 400, 'INVALID', 'ui');
    assert.deepEqual(ui.detail, { location: 'querystring', field: 'n' });
    const missing = is(
      await fails(s, 'POST', '/api/v1/orgs', { headers: { ...authHeader(ADMIN), 'content-type': 'application/json' }, body: '{}' }),
      400,
      'INVALID',
      'api body',
    );
    assert.deepEqual(missing.detail, { location: 'body', field: 'name' });
    is(
      await fails(s, 'POST', '/api/v1/orgs', { headers: { ...authHeader(ADMIN), 'content-type': 'application/json' }, body: '{"name":' }),
      400,
      'INVALID',
      'api JSON',
    );
  });

  it('a URL that cannot be decoded', async () => {
    for (const [path, code] of [
      ['/v2/a/%zz/tags/list', undefined],
      ['/api/v1/users/%zz', 'INVALID'],
    ] as const) {
      const res = await rawRequest(s.url, 'GET', path);
      assert.equal(res.status, 400, `${path}: ${res.body}`);
      assert.equal(res.headers['cache-control'], 'no-store', path);
      const e = JSON.parse(res.body.toString()).errors?.[0];
      assert.equal(typeof e?.code, 'string', `${path}: ${res.body}`);
      if (code) assert.equal(e.code, code, path);
    }
  });

  it('missing credentials: each surface its challenge', async () => {
    const v2 = is(await fails(s, 'GET', '/v2/'), 401, 'UNAUTHORIZED', 'registry');
    assert.match(v2.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
    const api = is(await fails(s, 'GET', '/api/v1/user'), 401, 'UNAUTHORIZED', 'api');
    assert.equal(api.headers.get('www-authenticate'), 'Basic realm="Berth API", charset="UTF-8"');
    const ui = is(
      await fails(s, 'GET', '/ui/api/tags?repository=a/b', { headers: { authorization: `Basic ${Buffer.from('admin:wrong-password').toString('base64')}` } }),
      401,
      'UNAUTHORIZED',
      'ui',
    );
    assert.equal(ui.headers.get('www-authenticate'), null);
    const oauth = await fetch(`${s.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=password&username=admin&password=wrong&service=berth',
    });
    assert.equal(oauth.status, 401);
    assert.deepEqual(await oauth.json(), {
      error: 'invalid_grant',
      error_description: 'invalid username or password',
      errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }],
    });
  });

  it('HEAD gets the status and headers, no body', async () => {
    for (const path of ['/v2/', '/api/v1/user', '/no/such/endpoint']) {
      const res = await rawRequest(s.url, 'HEAD', path);
      assert.ok(res.status === 401 || res.status === 404, `${path}: ${res.status}`);
      assert.equal(res.body.length, 0, path);
      assert.equal(res.headers['cache-control'], 'no-store', path);
    }
  });

  it('an internal error (the database is gone)', async () => {
    await failing.meta!.close();
    for (const [path, status, code] of [
      ['/v1/search?q=x', 500, 'UNKNOWN'],
      ['/api/v1/repositories', 500, 'INTERNAL'],
      ['/ui/api/tags?repository=a/b', 500, 'INTERNAL'],
    ] as const) {
      const seen = is(await fails(failing, 'GET', path), status, code, path);
      assert.equal(seen.message, 'internal server error', `${path}: the cause stays in the log`);
    }
  });
});
