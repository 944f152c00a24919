// /api/v1 users: authentication, admin-only routes, self-service, passwords, the last admin.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ADMIN, accountsServer, addUser, call, expect } from './helpers.js';

const s = accountsServer();

describe('api/v1 authentication', () => {
  it('refuses anonymous callers on account routes with 401 and a Basic challenge', async () => {
    const r = expect(await call(s, 'GET', '/user', null), 401, 'UNAUTHORIZED');
    assert.match(r.headers.get('www-authenticate') ?? '', /^Basic /);
    expect(await call(s, 'GET', '/users', null), 401, 'UNAUTHORIZED');
  });

  it('refuses a wrong password, an unknown user, an unknown bearer token and other schemes', async () => {
    expect(await call(s, 'GET', '/user', { user: 'admin', password: 'wrong-password' }), 401, 'UNAUTHORIZED');
    expect(await call(s, 'GET', '/user', { user: 'nobody', password: 'whatever-1' }), 401, 'UNAUTHORIZED');
    expect(await call(s, 'GET', '/user', { bearer: 'berth_pat_notarealtoken' }), 401, 'UNAUTHORIZED');
    expect(await call(s, 'GET', '/user', { bearer: 'eyJhbGciOiJFUzI1NiJ9.e30.x' }), 401, 'UNAUTHORIZED');
    const res = await fetch(`${s.url}/api/v1/user`, { headers: { authorization: 'Digest abc' } });
    assert.equal(res.status, 401);
  });

  it('GET /user describes the caller', async () => {
    const r = expect(await call(s, 'GET', '/user', ADMIN), 200);
    assert.deepEqual(r.body, { name: 'admin', email: null, admin: true, orgs: [] });
  });
});

describe('api/v1 users', () => {
  it('admins create users; duplicates are 409 and invalid names 400', async () => {
    const r = expect(await call(s, 'POST', '/users', ADMIN, { username: 'carol', password: 'carol-password', email: 'carol@example.org' }), 201);
    assert.equal(r.body.name, 'carol');
    assert.equal(r.body.email, 'carol@example.org');
    assert.equal(r.body.admin, false);
    assert.equal(r.body.password, undefined);
    assert.equal(JSON.stringify(r.body).includes('carol-password'), false);
    expect(await call(s, 'POST', '/users', ADMIN, { username: 'carol', password: 'another-pass' }), 409);
    expect(await call(s, 'POST', '/users', ADMIN, { username: 'Carol!', password: 'another-pass' }), 400, 'INVALID');
    expect(await call(s, 'POST', '/users', ADMIN, { username: 'x', password: 'another-pass' }), 400, 'INVALID');
    expect(await call(s, 'POST', '/users', ADMIN, { username: 'dave' }), 400);
    expect(await call(s, 'POST', '/users', ADMIN, { username: 'dave', password: 'short' }), 400);
    expect(await call(s, 'POST', '/users', ADMIN, { username: 'dave', password: 'long-enough', admin: 'yes please' }), 400);
  });

  it('non-admins may not list or create users, nor read others', async () => {
    const eve = await addUser(s, 'eve');
    await addUser(s, 'frank');
    expect(await call(s, 'GET', '/users', eve), 403, 'DENIED');
    expect(await call(s, 'POST', '/users', eve, { username: 'mallory', password: 'mallory-pass' }), 403, 'DENIED');
    expect(await call(s, 'GET', '/users/frank', eve), 403, 'DENIED');
    expect(await call(s, 'GET', '/users/nobody-here', eve), 403, 'DENIED');
    expect(await call(s, 'DELETE', '/users/frank', eve), 403, 'DENIED');
    const own = expect(await call(s, 'GET', '/users/eve', eve), 200);
    assert.equal(own.body.name, 'eve');
  });

  it('lists users with paging for admins', async () => {
    const all = expect(await call(s, 'GET', '/users', ADMIN), 200);
    assert.ok(all.body.users.some((u: { name: string }) => u.name === 'admin'));
    const page = expect(await call(s, 'GET', '/users?n=1', ADMIN), 200);
    assert.equal(page.body.users.length, 1);
    const next = expect(await call(s, 'GET', `/users?n=1&last=${page.body.next}`, ADMIN), 200);
    assert.ok(next.body.users[0].name > page.body.users[0].name);
    expect(await call(s, 'GET', '/users?n=0', ADMIN), 400);
  });

  it('users change their email but not their admin flag; admins change both', async () => {
    const gina = await addUser(s, 'gina');
    const r = expect(await call(s, 'PATCH', '/users/gina', gina, { email: 'gina@example.org' }), 200);
    assert.equal(r.body.email, 'gina@example.org');
    expect(await call(s, 'PATCH', '/users/gina', gina, { admin: true }), 403, 'DENIED');
    expect(await call(s, 'PATCH', '/users/gina', gina, { email: 'not an address' }), 400);
    const promoted = expect(await call(s, 'PATCH', '/users/gina', ADMIN, { admin: true }), 200);
    assert.equal(promoted.body.admin, true);
    expect(await call(s, 'GET', '/users', gina), 200);
    expect(await call(s, 'PATCH', '/users/gina', ADMIN, { admin: false }), 200);
    expect(await call(s, 'GET', '/users', gina), 403);
  });

  it('keeps at least one administrator', async () => {
    expect(await call(s, 'PATCH', '/users/admin', ADMIN, { admin: false }), 409);
    expect(await call(s, 'PATCH', '/users/admin', ADMIN, { disabled: true }), 409);
    expect(await call(s, 'DELETE', '/users/admin', ADMIN), 409);
  });

  it('disabled users cannot sign in', async () => {
    const hal = await addUser(s, 'hal');
    expect(await call(s, 'PATCH', '/users/hal', ADMIN, { disabled: true }), 200);
    expect(await call(s, 'GET', '/user', hal), 401);
    expect(await call(s, 'PATCH', '/users/hal', ADMIN, { disabled: false }), 200);
    expect(await call(s, 'GET', '/user', hal), 200);
  });

  it('users delete themselves; admins delete anyone; the name can be taken again when no repository holds it', async () => {
    const ivan = await addUser(s, 'ivan');
    expect(await call(s, 'DELETE', '/users/ivan', ivan), 204);
    expect(await call(s, 'GET', '/user', ivan), 401);
    await addUser(s, 'judy');
    expect(await call(s, 'DELETE', '/users/judy', ADMIN), 204);
    expect(await call(s, 'GET', '/users/judy', ADMIN), 404);
    expect(await call(s, 'DELETE', '/users/judy', ADMIN), 404);
    await addUser(s, 'judy');
  });
});

describe('api/v1 passwords', () => {
  it('self-service needs the current password; the old one stops working', async () => {
    const kim = await addUser(s, 'kim');
    expect(await call(s, 'PUT', '/users/kim/password', kim, { password: 'kim-new-password' }), 403);
    expect(await call(s, 'PUT', '/users/kim/password', kim, { password: 'kim-new-password', currentPassword: 'wrong-one' }), 403);
    expect(await call(s, 'PUT', '/users/kim/password', kim, { password: 'short', currentPassword: kim.password }), 400);
    expect(await call(s, 'PUT', '/users/kim/password', kim, { password: 'kim-new-password', currentPassword: kim.password }), 204);
    expect(await call(s, 'GET', '/user', kim), 401);
    expect(await call(s, 'GET', '/user', { user: 'kim', password: 'kim-new-password' }), 200);
  });

  it("admins reset anyone's password; others may not", async () => {
    const leo = await addUser(s, 'leo');
    const mia = await addUser(s, 'mia');
    expect(await call(s, 'PUT', '/users/leo/password', mia, { password: 'mia-sets-this', currentPassword: mia.password }), 403);
    expect(await call(s, 'PUT', '/users/leo/password', ADMIN, { password: 'reset-by-admin' }), 204);
    expect(await call(s, 'GET', '/user', leo), 401);
    expect(await call(s, 'GET', '/user', { user: 'leo', password: 'reset-by-admin' }), 200);
  });
});
