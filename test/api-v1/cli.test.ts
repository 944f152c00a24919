// `berth user add`, `berth user passwd` and `berth keys rotate` against the data
// directory of a stopped server, then a server started on it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/shared.js';
import { removeDir, startServer, tempDir } from '../helpers/api-server.js';
import { call, expect } from './helpers.js';

const dir = tempDir('berth-cli-');
const configFile = path.join(dir, 'config.yml');
writeFileSync(
  configFile,
  `storage:\n  filesystem:\n    rootdirectory: ${JSON.stringify(dir)}\nlog:\n  level: silent\nauth:\n  token: {}\n  accounts:\n    bcryptcost: 4\n`,
);
after(() => removeDir(dir));

function berth(args: string[], input: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'src/main.ts'), ...args, '-c', configFile], {
    input,
    encoding: 'utf8',
    cwd: REPO_ROOT,
    env: { ...process.env, BERTH_CONFIG: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('berth user / keys', () => {
  it('adds users and changes passwords with the server stopped; the server then accepts them', async () => {
    let r = berth(['user', 'add', 'root', '--admin', '--email', 'root@example.org', '--password-stdin'], 'root-password-1\n');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.includes('root-password-1') || r.stdout.includes('root-password-1'), false, 'never echoes the password');
    r = berth(['user', 'add', 'plain', '--password-stdin'], 'plain-password-1');
    assert.equal(r.status, 0, r.stderr);

    r = berth(['user', 'add', 'root', '--password-stdin'], 'another-password');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /taken/);
    r = berth(['user', 'add', 'empty', '--password-stdin'], '\n');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /empty password/);
    r = berth(['user', 'add', 'Bad!Name', '--password-stdin'], 'password-123');
    assert.equal(r.status, 1);
    r = berth(['user', 'passwd', 'plain', '--password-stdin'], 'plain-password-2\n');
    assert.equal(r.status, 0, r.stderr);
    r = berth(['user', 'passwd', 'ghost', '--password-stdin'], 'plain-password-2\n');
    assert.equal(r.status, 1);
    r = berth(['keys', 'rotate'], '');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /new signing key \S+/);

    const s = await startServer({ dir, config: { auth: { token: {}, accounts: { bcryptcost: 4 } } } });
    try {
      const me = expect(await call(s, 'GET', '/user', { user: 'root', password: 'root-password-1' }), 200);
      assert.deepEqual(me.body, { name: 'root', email: 'root@example.org', admin: true, orgs: [] });
      expect(await call(s, 'GET', '/user', { user: 'plain', password: 'plain-password-1' }), 401);
      const plain = expect(await call(s, 'GET', '/user', { user: 'plain', password: 'plain-password-2' }), 200);
      assert.equal(plain.body.admin, false);
      const audit = expect(await call(s, 'GET', '/audit', { user: 'root', password: 'root-password-1' }), 200);
      const cli = audit.body.entries.filter((e: { actor: string }) => e.actor === '(cli)').map((e: { action: string }) => e.action);
      assert.deepEqual(cli.sort(), ['keys.rotate', 'user.create', 'user.create', 'user.password']);
    } finally {
      await s.close();
    }
  });
});
