// `docker search HOST/term` with the real docker CLI (20.10) and the harness's dockerd
// against an in-process token-auth Berth on 127.0.0.1 (an insecure registry by default,
// so plain HTTP). Anonymous searches list public repositories only; after `docker login`
// dockerd fetches a token for registry:catalog:search with its refresh token and the
// signed-in user's private repositories appear too.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { Docker } from '../helpers/clients.js';
import { ADMIN, addUser, call, indexServer, ok, pushImage, setVisibility, type User } from './helpers.js';

const s = indexServer();
let docker: Docker;
let alice: User;
let host: string;

function rows(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t'));
}

describe('docker search', () => {
  before(async () => {
    docker = await Docker.create('index-search');
    host = new URL(s.url).host;
    alice = await addUser(s, 'alice');
    const bob = await addUser(s, 'bob');
    await pushImage(s, alice, 'alice/webapp', 'v1');
    await setVisibility(s, alice, 'alice/webapp', 'public');
    ok(await call(s, 'PUT', '/repositories/alice/webapp/description', alice, { description: 'A web application server' }));
    await pushImage(s, alice, 'alice/secret-webapp', 'v1', { annotations: { 'org.opencontainers.image.description': 'Private webapp' } });
    await pushImage(s, bob, 'bob/webapp-fork', 'v1');
    await setVisibility(s, bob, 'bob/webapp-fork', 'public');
    ok(await call(s, 'PUT', '/repositories/alice/webapp/star', bob));
    ok(await call(s, 'PUT', '/repositories/alice/webapp/star', ADMIN));
  });

  test('anonymous: public repositories with description and stars, private ones absent', { timeout: 120_000 }, async () => {
    const r = await docker.run(['search', '--no-trunc', '--format', '{{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}', `${host}/webapp`]);
    assert.deepEqual(rows(r.stdout), [
      ['alice/webapp', 'A web application server', '2', ''], // IsOfficial prints "[OK]" or nothing
      ['bob/webapp-fork', '', '0', ''],
    ]);
    const none = await docker.run(['search', '--format', '{{.Name}}', `${host}/secret`]);
    assert.equal(none.stdout.trim(), '', 'a private repository is not listed');
    // --limit is sent as n; --filter is applied by dockerd
    const one = await docker.run(['search', '--limit', '1', '--format', '{{.Name}}', `${host}/webapp`]);
    assert.deepEqual(rows(one.stdout), [['alice/webapp']]);
    const starred = await docker.run(['search', '--filter', 'stars=1', '--format', '{{.Name}}', `${host}/webapp`]);
    assert.deepEqual(rows(starred.stdout), [['alice/webapp']]);
  });

  test('after docker login the user sees their private repositories', { timeout: 120_000 }, async () => {
    await docker.run(['login', '--username', alice.user, '--password-stdin', host], { input: alice.password });
    try {
      const r = await docker.run(['search', '--no-trunc', '--format', '{{.Name}}\t{{.Description}}', `${host}/webapp`]);
      assert.deepEqual(rows(r.stdout), [
        ['alice/webapp', 'A web application server'],
        ['alice/secret-webapp', 'Private webapp'],
        ['bob/webapp-fork', ''],
      ]);
    } finally {
      await docker.run(['logout', host]);
    }
  });
});
