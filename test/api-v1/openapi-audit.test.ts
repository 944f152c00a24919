// /api/v1: the OpenAPI document, the audit log (and that it never holds a secret),
// key rotation, and the failed-login limit (429 with Retry-After).
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { RouteOptions } from 'fastify';
import { ADMIN, accountsServer, addUser, call, expect, pushAs } from './helpers.js';

const s = accountsServer();

const ROUTES = [
  'GET /users',
  'POST /users',
  'GET /users/{name}',
  'PATCH /users/{name}',
  'DELETE /users/{name}',
  'PUT /users/{name}/password',
  'GET /user',
  'POST /orgs',
  'GET /orgs',
  'GET /orgs/{org}',
  'DELETE /orgs/{org}',
  'GET /orgs/{org}/members',
  'GET /orgs/{org}/members/{user}',
  'PUT /orgs/{org}/members/{user}',
  'DELETE /orgs/{org}/members/{user}',
  'GET /orgs/{org}/teams',
  'POST /orgs/{org}/teams',
  'GET /orgs/{org}/teams/{team}',
  'PATCH /orgs/{org}/teams/{team}',
  'DELETE /orgs/{org}/teams/{team}',
  'PUT /orgs/{org}/teams/{team}/members/{user}',
  'DELETE /orgs/{org}/teams/{team}/members/{user}',
  'POST /orgs/{org}/robots',
  'GET /orgs/{org}/robots',
  'DELETE /orgs/{org}/robots/{name}',
  'POST /orgs/{org}/robots/{name}/secret',
  'GET /repositories',
  'GET /repositories/{name}',
  'PATCH /repositories/{name}',
  'DELETE /repositories/{name}',
  'GET /repositories/{name}/collaborators',
  'GET /repositories/{name}/collaborators/{user}',
  'PUT /repositories/{name}/collaborators/{user}',
  'DELETE /repositories/{name}/collaborators/{user}',
  'GET /user/tokens',
  'POST /user/tokens',
  'DELETE /user/tokens/{id}',
  'GET /audit',
  'POST /admin/keys/rotate',
  // the index
  'GET /search',
  'GET /user/starred',
  'GET /repositories/{name}/description',
  'PUT /repositories/{name}/description',
  'PUT /repositories/{name}/star',
  'DELETE /repositories/{name}/star',
  'GET /repositories/{name}/comments',
  'POST /repositories/{name}/comments',
  'PUT /repositories/{name}/comments/settings',
  'PATCH /repositories/{name}/comments/{id}',
  'DELETE /repositories/{name}/comments/{id}',
  'POST /repositories/{name}/comments/{id}/report',
  'GET /moderation/comments',
  'POST /moderation/comments/{id}/approve',
  'POST /moderation/comments/{id}/reject',
  // webhooks, watching, notifications
  'GET /namespaces/{ns}/webhooks',
  'POST /namespaces/{ns}/webhooks',
  'GET /repositories/{name}/webhooks',
  'POST /repositories/{name}/webhooks',
  'GET /user/webhooks',
  'POST /user/webhooks',
  'GET /webhooks',
  'GET /webhooks/{id}',
  'PATCH /webhooks/{id}',
  'DELETE /webhooks/{id}',
  'GET /webhooks/{id}/deliveries',
  'GET /webhooks/{id}/deliveries/{delivery}',
  'POST /webhooks/{id}/deliveries/{delivery}/redeliver',
  'GET /repositories/{name}/watch',
  'PUT /repositories/{name}/watch',
  'DELETE /repositories/{name}/watch',
  'GET /user/watching',
  'GET /user/notifications',
  'POST /user/notifications/seen',
  // storage quotas
  'GET /namespaces/{ns}/quota',
  'PUT /namespaces/{ns}/quota',
  'DELETE /namespaces/{ns}/quota',
  'GET /quotas',
  // tag history, restore, immutable-tag rules
  'GET /repositories/{name}/tag-history',
  'POST /repositories/{name}/tags/{tag}/restore',
  'GET /namespaces/{ns}/immutable-tag-rules',
  'POST /namespaces/{ns}/immutable-tag-rules',
  'PATCH /namespaces/{ns}/immutable-tag-rules/{rule}',
  'DELETE /namespaces/{ns}/immutable-tag-rules/{rule}',
  // retention policies
  'GET /namespaces/{ns}/retention-policies',
  'POST /namespaces/{ns}/retention-policies',
  'GET /namespaces/{ns}/retention-policies/{name}',
  'PUT /namespaces/{ns}/retention-policies/{name}',
  'DELETE /namespaces/{ns}/retention-policies/{name}',
  'POST /namespaces/{ns}/retention-policies/{name}/run',
  // replication policies
  'GET /replication/policies',
  'POST /replication/policies',
  'GET /replication/policies/{id}',
  'PATCH /replication/policies/{id}',
  'DELETE /replication/policies/{id}',
  'POST /replication/policies/{id}/run',
  'GET /replication/policies/{id}/runs',
  // signature trust
  'GET /trust-policy',
  'PUT /trust-policy',
  'DELETE /trust-policy',
  'GET /namespaces/{ns}/trust-policy',
  'PUT /namespaces/{ns}/trust-policy',
  'DELETE /namespaces/{ns}/trust-policy',
  'GET /repositories/{name}/trust-policy',
  'PUT /repositories/{name}/trust-policy',
  'DELETE /repositories/{name}/trust-policy',
  'GET /repositories/{name}/manifests/{digest}/signatures',
  // network rules per namespace
  'GET /network-rules',
  'GET /namespaces/{ns}/network-rules',
  'PUT /namespaces/{ns}/network-rules',
  'DELETE /namespaces/{ns}/network-rules',
];

/** Where @fastify/swagger puts a registered route: its swaggerTransform's URL, else the URL with {params}. */
function documentedPath(route: RouteOptions): string {
  const transform = (route.config as { swaggerTransform?: (r: { schema: unknown; url: string }) => { url?: string } } | undefined)?.swaggerTransform;
  const url = transform?.({ schema: route.schema, url: route.url })?.url ?? route.url;
  return url.replace(/:(\w+)/g, '{$1}');
}

describe('api/v1 OpenAPI document', () => {
  it('lists every route, each with its parameters, responses and security', async () => {
    const r = expect(await call(s, 'GET', '/openapi.json', null), 200);
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
    const doc = r.body;
    assert.equal(doc.openapi, '3.1.0');
    const found: string[] = [];
    for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, operation] of Object.entries<any>(item)) {
        found.push(`${method.toUpperCase()} ${path.replace(/^\/api\/v1/, '')}`);
        assert.ok(operation.summary, `${method} ${path}: summary`);
        assert.ok(operation.security?.length, `${method} ${path}: security`);
        assert.ok(
          Object.keys(operation.responses).some((c) => c.startsWith('2')),
          `${method} ${path}: a success response`,
        );
        assert.ok(operation.responses['401'], `${method} ${path}: 401`);
        for (const name of path.match(/\{(\w+)\}/g) ?? []) {
          assert.ok(
            operation.parameters?.some((p: any) => p.in === 'path' && `{${p.name}}` === name),
            `${method} ${path}: parameter ${name}`,
          );
        }
      }
    }
    assert.deepEqual(found.sort(), [...ROUTES].sort());
    assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['basic', 'bearer']);
    const create = doc.paths['/api/v1/users'].post.requestBody.content['application/json'].schema;
    assert.deepEqual(create.required, ['username', 'password']);
  });

  it('documents every route registered under /api/v1, each as its own operation with a response schema', async () => {
    const doc = expect(await call(s, 'GET', '/openapi.json', null), 200).body;
    const seen = new Set<string>();
    const registered = s.routes.filter((r) => r.url.startsWith('/api/v1/') && r.url !== '/api/v1/openapi.json');
    assert.ok(registered.length >= ROUTES.length, `${registered.length} routes registered`);
    for (const route of registered) {
      for (const method of [route.method].flat()) {
        const path = documentedPath(route);
        const key = `${method} ${path}`;
        assert.ok(!path.includes('*'), `${key}: a wildcard route needs its real path (config.swaggerTransform)`);
        assert.ok(!seen.has(key), `${key}: two routes documented as one operation`);
        seen.add(key);
        const operation = doc.paths[path]?.[method.toLowerCase()];
        assert.ok(operation, `${key} is registered but not in the OpenAPI document`);
        const ok = Object.entries<any>(operation.responses).filter(([status]) => status.startsWith('2'));
        assert.ok(ok.length > 0, `${key}: a success response`);
        for (const [status, response] of ok) {
          if (status !== '204') assert.ok(response.content?.['application/json']?.schema, `${key}: a schema for ${status}`);
        }
      }
    }
    assert.equal(seen.size, ROUTES.length);
  });

  it('rejects bodies that are not JSON, too large, or not matching the schema', async () => {
    const res = await fetch(`${s.url}/api/v1/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}` },
      body: '{"username":',
    });
    assert.equal(res.status, 400);
    const big = await fetch(`${s.url}/api/v1/orgs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}` },
      body: JSON.stringify({ name: 'x'.repeat(70_000) }),
    });
    assert.equal(big.status, 413);
    expect(await call(s, 'POST', '/orgs', ADMIN, ['not', 'an', 'object']), 400);
  });
});

describe('api/v1 audit log and keys', () => {
  let secrets: string[] = [];

  before(async () => {
    const u = await addUser(s, 'audrey');
    await pushAs(s, u, 'audrey/app');
    expect(await call(s, 'PATCH', '/repositories/audrey/app', u, { visibility: 'public' }), 200);
    expect(await call(s, 'POST', '/orgs', u, { name: 'audit-org' }), 201);
    expect(await call(s, 'POST', '/orgs/audit-org/teams', u, { name: 'devs', permission: 'write' }), 201);
    const robot = expect(await call(s, 'POST', '/orgs/audit-org/robots', u, { name: 'bot' }), 201);
    const token = expect(await call(s, 'POST', '/user/tokens', u, { name: 'tok', scopes: ['pull'] }), 201);
    expect(await call(s, 'DELETE', `/user/tokens/${token.body.id}`, u), 204);
    await addUser(s, 'buddy');
    expect(await call(s, 'PUT', '/repositories/audrey/app/collaborators/buddy', u, { permission: 'write' }), 200);
    expect(await call(s, 'PUT', '/users/audrey/password', u, { password: 'audrey-second-pw', currentPassword: u.password }), 204);
    expect(await call(s, 'GET', '/user', { user: 'audrey', password: 'wrong-password-here' }), 401);
    secrets = [robot.body.secret, token.body.secret, u.password, 'audrey-second-pw', 'wrong-password-here'];
  });

  it('records every change, with its actor, and no secret', async () => {
    expect(await call(s, 'GET', '/audit', { user: 'buddy', password: 'buddy-password-1' }), 403);
    expect(await call(s, 'GET', '/audit', null), 401);
    const r = expect(await call(s, 'GET', '/audit?n=1000', ADMIN), 200);
    const actions = new Set(r.body.entries.map((e: { action: string }) => e.action));
    for (const a of [
      'user.bootstrap',
      'user.create',
      'repository.visibility',
      'org.create',
      'team.create',
      'robot.create',
      'token.create',
      'token.revoke',
      'collaborator.set',
      'user.password',
      'login.failed',
    ]) {
      assert.ok(actions.has(a), `audit has ${a}: ${[...actions].join(', ')}`);
    }
    const vis = r.body.entries.find((e: { action: string }) => e.action === 'repository.visibility');
    assert.deepEqual(
      { actor: vis.actor, target: vis.target, detail: vis.detail },
      { actor: 'audrey', target: 'audrey/app', detail: { visibility: 'public', previous: 'private' } },
    );
    assert.equal(vis.address, '127.0.0.1');
    for (const secret of secrets) assert.equal(r.text.includes(secret), false, 'a secret in the audit log');
    const ids = r.body.entries.map((e: { id: number }) => e.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a: number, b: number) => b - a),
      'newest first',
    );
    const page = expect(await call(s, 'GET', '/audit?n=2', ADMIN), 200);
    assert.equal(page.body.entries.length, 2);
    const older = expect(await call(s, 'GET', `/audit?n=2&before=${page.body.next}`, ADMIN), 200);
    assert.ok(older.body.entries[0].id < page.body.next);
  });

  it('admins rotate the signing key; the old key stays published', async () => {
    const before = ((await (await fetch(`${s.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys;
    expect(await call(s, 'POST', '/admin/keys/rotate', { user: 'buddy', password: 'buddy-password-1' }), 403);
    const r = expect(await call(s, 'POST', '/admin/keys/rotate', ADMIN), 200);
    const after = ((await (await fetch(`${s.url}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }).keys;
    assert.ok(after.some((k) => k.kid === r.body.kid));
    for (const k of before)
      assert.ok(
        after.some((x) => x.kid === k.kid),
        'retired keys still verify',
      );
    const audit = expect(await call(s, 'GET', '/audit?n=5', ADMIN), 200);
    assert.ok(audit.body.entries.some((e: { action: string; target: string }) => e.action === 'keys.rotate' && e.target === r.body.kid));
  });
});

describe('api/v1 failed-login limit', () => {
  const limited = accountsServer({ loginlimit: 3, addresslimit: 5 });

  it('answers 429 with Retry-After after too many failures, even for the right password', async () => {
    await addUser(limited, 'rita');
    for (let i = 0; i < 3; i++) expect(await call(limited, 'GET', '/user', { user: 'rita', password: `wrong-${i}-password` }), 401);
    const r = expect(await call(limited, 'GET', '/user', { user: 'rita', password: 'rita-password-1' }), 429, 'TOO_MANY_REQUESTS');
    assert.ok(Number(r.headers.get('retry-after')) > 0, 'Retry-After');
    // Per address too: guessing tokens (or other users) from one address runs into its own limit.
    expect(await call(limited, 'GET', '/user', { bearer: 'berth_pat_guess-1' }), 401);
    expect(await call(limited, 'GET', '/user', { user: 'someone', password: 'guess-2-password' }), 401);
    expect(await call(limited, 'GET', '/user', { bearer: 'berth_pat_guess-3' }), 429, 'TOO_MANY_REQUESTS', 'the address is limited');
  });
});
