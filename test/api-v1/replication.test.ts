// Replication policies through /api/v1/replication/policies: create, read, list, change, delete in
// the documented JSON shape; bad input answers 400 naming the field and changes nothing; only
// administrators with a password login get in (other users and access tokens 403, anonymous 401,
// before any lookup); the remote password is write-only (replies, the audit log and the database
// never show it; only `hasPassword`), and refused where nothing can seal it; run now answers 202
// with the run, which then shows in the history and as the policy's last run: a real copy to a
// second, open Berth (same digest there; a second run copies nothing); a second run while one is in
// progress is 409; a remote that goes away makes a failed run that says why.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { before, describe, it } from 'node:test';
import { openMetadata } from '../../src/app.js';
import { serverPerFile, type TestServer } from '../helpers/api-server.js';
import { ADMIN, addUser, call, expect, pushAs, type Creds, type Reply } from './helpers.js';

const SECRET = 'replication-test-signing-secret-0123456789';
const PASSWORD = 'remote-Pa55word-that-must-never-show';

const tokenMode = (auth: Record<string, unknown>) => ({
  auth: { token: auth, accounts: { adminpassword: ADMIN.password, bcryptcost: 4, loginlimit: 1000, addresslimit: 100000 } },
});
/**
 * This Berth: its secret seals remote passwords; loopback remotes are allowed for the run tests, whose
 * retries of a remote that is down are quick; no replication job (runs start only on demand here).
 */
const s = serverPerFile({
  config: {
    ...tokenMode({ signingkeysecret: SECRET }),
    replication: { allow: ['127.0.0.1'], enabled: false, backoff: '20ms', maxbackoff: '100ms' },
  } as never,
});
/** The same without auth.token.signingkeysecret: no password can be stored. */
const plain = serverPerFile({ config: tokenMode({}) as never });
/** The remote registry of the copy test: another Berth, open (no auth). */
const target = serverPerFile();

const BASE = '/replication/policies';
let alice: { user: string; password: string };

const example = {
  name: 'to-dr',
  direction: 'push',
  remoteUrl: 'https://dr.example.com',
  remoteUsername: 'replicator',
  remotePassword: PASSWORD,
  repositories: ['acme/**'],
  excludeRepositories: ['acme/scratch/**'],
  tags: ['v*', 'latest'],
  excludeTags: ['*-rc*'],
  remotePrefix: 'dr',
  trigger: 'event',
  replicateDeletes: true,
  enabled: true,
};

const noPassword = (r: Reply, context: string) => assert.ok(!r.text.includes(PASSWORD), `${context}: the reply holds the password`);
const policies = async (srv: TestServer = s) => expect(await call(srv, 'GET', BASE, ADMIN), 200).body.policies as Record<string, any>[];

/** The run's row once it has ended (the run goes on after the 202), read through the history. */
async function finished(policyId: number, runId: number): Promise<Record<string, any>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const runs = expect(await call(s, 'GET', `${BASE}/${policyId}/runs`, ADMIN), 200).body.runs as Record<string, any>[];
    const run = runs.find((r) => r.id === runId);
    assert.ok(run, `run ${runId} is in the history`);
    if (run.status !== 'running') return run;
    assert.ok(Date.now() < deadline, `run ${runId} still running: ${JSON.stringify(run)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('replication policies: REST API', () => {
  before(async () => {
    alice = await addUser(s, 'alice');
  });

  it('creates, reads, lists, changes and deletes a policy; the password is write-only', async () => {
    const created = expect(await call(s, 'POST', BASE, ADMIN, example), 201);
    noPassword(created, 'POST');
    const p = created.body;
    const { remotePassword: _, ...given } = example;
    assert.deepEqual(
      { ...p, id: 0, createdAt: '', updatedAt: '' },
      {
        ...given,
        id: 0,
        hasPassword: true,
        interval: null,
        running: false,
        createdBy: 'admin',
        createdAt: '',
        updatedAt: '',
        nextRunAt: null,
        lastRun: null,
      },
    );
    assert.ok(Number.isInteger(p.id) && p.id > 0);
    assert.ok(Math.abs(Date.parse(p.createdAt) - Date.now()) < 60_000, `createdAt ${p.createdAt} is ISO 8601 of now`);
    assert.ok(!('remotePassword' in p));

    const one = expect(await call(s, 'GET', `${BASE}/${p.id}`, ADMIN), 200);
    noPassword(one, 'GET');
    assert.deepEqual(one.body, p);
    const listed = expect(await call(s, 'GET', BASE, ADMIN), 200);
    noPassword(listed, 'GET list');
    assert.deepEqual(listed.body.policies, [p]);

    // Defaults: every repository and tag, the same names, triggered by pushes; a pull policy runs every hour.
    const minimal = expect(await call(s, 'POST', BASE, ADMIN, { name: 'pull-hub', direction: 'pull', remoteUrl: 'https://registry-1.docker.io/' }), 201).body;
    assert.deepEqual(
      {
        remoteUrl: minimal.remoteUrl,
        remoteUsername: minimal.remoteUsername,
        hasPassword: minimal.hasPassword,
        repositories: minimal.repositories,
        tags: minimal.tags,
        excludeRepositories: minimal.excludeRepositories,
        excludeTags: minimal.excludeTags,
        remotePrefix: minimal.remotePrefix,
        trigger: minimal.trigger,
        interval: minimal.interval,
        replicateDeletes: minimal.replicateDeletes,
        enabled: minimal.enabled,
      },
      {
        remoteUrl: 'https://registry-1.docker.io',
        remoteUsername: null,
        hasPassword: false,
        repositories: ['**'],
        tags: ['*'],
        excludeRepositories: [],
        excludeTags: [],
        remotePrefix: '',
        trigger: 'schedule',
        interval: '1h',
        replicateDeletes: false,
        enabled: true,
      },
    );
    assert.ok(minimal.nextRunAt, 'a scheduled policy has its next run');
    assert.deepEqual(
      (await policies()).map((x) => x.name),
      ['pull-hub', 'to-dr'],
    );

    // PATCH changes what it names; the stored password stays when not given.
    const patched = expect(await call(s, 'PATCH', `${BASE}/${p.id}`, ADMIN, { tags: ['*'], enabled: false, trigger: 'schedule', interval: '90m' }), 200);
    noPassword(patched, 'PATCH');
    assert.deepEqual(patched.body.tags, ['*']);
    assert.equal(patched.body.enabled, false);
    assert.equal(patched.body.interval, '1h30m');
    assert.equal(patched.body.hasPassword, true);
    assert.equal(patched.body.remoteUsername, 'replicator');
    assert.deepEqual(patched.body.excludeTags, ['*-rc*'], 'fields not named stay');
    assert.equal(patched.body.createdAt, p.createdAt);
    // A new password replaces the old one; null removes it.
    const renewed = expect(await call(s, 'PATCH', `${BASE}/${p.id}`, ADMIN, { remotePassword: `${PASSWORD}-2` }), 200);
    assert.ok(!renewed.text.includes(PASSWORD));
    assert.equal(renewed.body.hasPassword, true);
    assert.equal(expect(await call(s, 'PATCH', `${BASE}/${p.id}`, ADMIN, { remotePassword: null }), 200).body.hasPassword, false);
    // Renaming onto another policy's name is a conflict.
    expect(await call(s, 'PATCH', `${BASE}/${p.id}`, ADMIN, { name: 'pull-hub' }), 409, 'CONFLICT');
    expect(await call(s, 'POST', BASE, ADMIN, { ...example, name: 'pull-hub' }), 409, 'CONFLICT');

    expect(await call(s, 'DELETE', `${BASE}/${minimal.id}`, ADMIN), 204);
    expect(await call(s, 'DELETE', `${BASE}/${minimal.id}`, ADMIN), 404, 'NOT_FOUND');
    expect(await call(s, 'GET', `${BASE}/${minimal.id}`, ADMIN), 404, 'NOT_FOUND');
    expect(await call(s, 'PATCH', `${BASE}/${minimal.id}`, ADMIN, { enabled: true }), 404, 'NOT_FOUND');
    expect(await call(s, 'POST', `${BASE}/${minimal.id}/run`, ADMIN), 404, 'NOT_FOUND');
    expect(await call(s, 'GET', `${BASE}/${minimal.id}/runs`, ADMIN), 404, 'NOT_FOUND');
    assert.deepEqual(
      (await policies()).map((x) => x.name),
      ['to-dr'],
    );

    // The audit log has every change, and never the password.
    const audit = expect(await call(s, 'GET', '/audit?n=100', ADMIN), 200);
    noPassword(audit, 'audit log');
    assert.ok(!audit.text.includes(`${PASSWORD}-2`));
    const actions = audit.body.entries.map((e: { action: string }) => e.action);
    for (const a of ['replication-policy.create', 'replication-policy.update', 'replication-policy.delete']) assert.ok(actions.includes(a), a);

    // At rest the password is sealed, not stored as given.
    expect(await call(s, 'PATCH', `${BASE}/${p.id}`, ADMIN, { remotePassword: PASSWORD }), 200);
    const meta = await openMetadata(s.config);
    try {
      const row = await meta.db.selectFrom('replication_policies').select(['remote_password_sealed']).where('id', '=', p.id).executeTakeFirstOrThrow();
      assert.ok(row.remote_password_sealed, 'stored');
      assert.ok(!row.remote_password_sealed.includes(PASSWORD), 'sealed');
    } finally {
      await meta.close();
    }
  });

  it('refuses bad input with 400 and a message naming the field; nothing is stored or changed', async () => {
    const before = await policies();
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ...example, name: 'Bad Name' }, /name/],
      [{ ...example, name: '' }, /name/],
      [{ ...example, name: 'x'.repeat(65) }, /name/],
      [{ ...example, name: undefined }, /name/],
      [{ ...example, direction: 'sideways' }, /direction/],
      [{ ...example, remoteUrl: 'not a url' }, /remoteUrl/],
      [{ ...example, remoteUrl: 'ftp://dr.example.com' }, /remoteUrl/],
      [{ ...example, remoteUrl: 'https://user:pw@dr.example.com' }, /remoteUrl/],
      [{ ...example, remoteUrl: 'https://dr.example.com/v2/' }, /remoteUrl/],
      [{ ...example, remoteUrl: 'http://10.1.2.3:5000' }, /remoteUrl.*replication\.allow/],
      [{ ...example, remoteUrl: 'http://169.254.169.254' }, /remoteUrl.*replication\.allow/],
      [{ ...example, remoteUrl: 'http://127.0.0.2:5000' }, /remoteUrl.*replication\.allow/],
      [{ ...example, repositories: [] }, /repositories/],
      [{ ...example, repositories: ['!acme/*'] }, /repositories.*negated/],
      [{ ...example, repositories: ['acme app'] }, /repositories/],
      [{ ...example, tags: ['v 1'] }, /tags/],
      [{ ...example, excludeTags: Array(21).fill('x') }, /excludeTags/],
      [{ ...example, remotePrefix: 'Not/Valid' }, /remotePrefix/],
      [{ ...example, direction: 'pull', trigger: 'event' }, /pull.*schedule/],
      [{ ...example, trigger: 'schedule', interval: 'soon' }, /interval/],
      [{ ...example, trigger: 'schedule', interval: '5s' }, /interval/],
      [{ ...example, trigger: 'sometimes' }, /trigger/],
      [{ ...example, remoteUsername: null }, /remoteUsername/],
      [{ ...example, enabled: 'yes' }, /enabled/],
      [{ ...example, extra: 1 }, /extra|additional/],
    ];
    for (const [body, why] of bad) {
      const r = expect(await call(s, 'POST', BASE, ADMIN, body), 400, 'INVALID', JSON.stringify(body).slice(0, 200));
      assert.match(r.body.errors[0].message, why, JSON.stringify(body).slice(0, 200));
      noPassword(r, 'an error');
    }
    assert.deepEqual(await policies(), before);

    // A bad change leaves the policy as it was.
    const p = before[0];
    const badPatches: [Record<string, unknown>, RegExp][] = [
      [{ repositories: [] }, /repositories/],
      [{ remoteUrl: 'http://192.168.1.10' }, /remoteUrl/],
      [{ trigger: 'event', direction: 'pull' }, /pull/],
      [{ interval: '1 hour', trigger: 'schedule' }, /interval/],
      [{ name: 'UPPER' }, /name/],
      [{}, /properties|fewer/],
      // The stored password goes nowhere else than where it was given for: no other host, port or scheme.
      [{ remoteUrl: 'https://elsewhere.example.com' }, /remotePassword.*again/],
      [{ remoteUrl: 'http://dr.example.com' }, /remotePassword.*again/],
      [{ remoteUrl: 'https://dr.example.com:8443' }, /remotePassword.*again/],
    ];
    for (const [body, why] of badPatches) {
      const r = expect(await call(s, 'PATCH', `${BASE}/${p.id}`, ADMIN, body), 400, 'INVALID', JSON.stringify(body));
      assert.match(r.body.errors[0].message, why, JSON.stringify(body));
    }
    assert.deepEqual(await policies(), before);
    // With the password given again (or removed), the host may change.
    const moved = expect(await call(s, 'PATCH', `${BASE}/${p.id}`, ADMIN, { remoteUrl: 'https://elsewhere.example.com', remotePassword: PASSWORD }), 200).body;
    assert.equal(moved.remoteUrl, 'https://elsewhere.example.com');
    assert.equal(moved.hasPassword, true);
    expect(await call(s, 'PATCH', `${BASE}/${p.id}`, ADMIN, { remoteUrl: p.remoteUrl, remotePassword: PASSWORD }), 200);

    // Malformed ids and queries.
    expect(await call(s, 'GET', `${BASE}/abc`, ADMIN), 400, 'INVALID');
    expect(await call(s, 'GET', `${BASE}/0`, ADMIN), 400, 'INVALID');
    expect(await call(s, 'GET', `${BASE}/${p.id}/runs?n=0`, ADMIN), 400, 'INVALID');
    expect(await call(s, 'GET', `${BASE}/${p.id}/runs?n=101`, ADMIN), 400, 'INVALID');
  });

  it('refuses a password where auth.token.signingkeysecret is not set, and takes policies without one', async () => {
    const r = expect(await call(plain, 'POST', BASE, ADMIN, example), 400, 'INVALID');
    assert.match(r.body.errors[0].message, /signingkeysecret/);
    noPassword(r, 'the refusal');
    assert.deepEqual(await policies(plain), []);
    const { remotePassword: _, ...anonymous } = example;
    const p = expect(await call(plain, 'POST', BASE, ADMIN, anonymous), 201).body;
    assert.equal(p.hasPassword, false);
    expect(await call(plain, 'PATCH', `${BASE}/${p.id}`, ADMIN, { remotePassword: PASSWORD }), 400, 'INVALID');
    assert.equal(expect(await call(plain, 'GET', `${BASE}/${p.id}`, ADMIN), 200).body.hasPassword, false);
  });

  it('lets administrators with a password login in only: users and access tokens 403, anonymous 401; nothing changes', async () => {
    const [p] = await policies();
    const before = await policies();
    const adminToken = expect(await call(s, 'POST', '/user/tokens', ADMIN, { name: 'wide', scopes: ['pull', 'push', 'delete'] }), 201).body.secret;
    const routes: [string, string, unknown?][] = [
      ['GET', BASE],
      ['POST', BASE, { ...example, name: 'intruder' }],
      ['GET', `${BASE}/${p.id}`],
      ['PATCH', `${BASE}/${p.id}`, { enabled: true, remoteUrl: 'https://attacker.example.com' }],
      ['DELETE', `${BASE}/${p.id}`],
      ['POST', `${BASE}/${p.id}/run`],
      ['GET', `${BASE}/${p.id}/runs`],
      // A policy that does not exist: the same answer, nothing to learn.
      ['GET', `${BASE}/999999`],
      ['DELETE', `${BASE}/999999`],
    ];
    const callers: [Creds, number, string][] = [
      [alice, 403, 'DENIED'],
      [{ bearer: adminToken }, 403, 'DENIED'],
      [{ user: ADMIN.user, password: adminToken }, 403, 'DENIED'],
      [null, 401, 'UNAUTHORIZED'],
    ];
    for (const [who, status, code] of callers) {
      for (const [method, path, body] of routes) {
        const r = expect(await call(s, method, path, who, body), status, code, `${method} ${path} as ${JSON.stringify(who).slice(0, 40)}`);
        noPassword(r, `${method} ${path}`);
      }
    }
    assert.deepEqual(await policies(), before);
  });

  it('runs a policy now: 202 with the run, then its history and last run; a real copy, and a second run copies nothing', async () => {
    const pushed = await pushAs(s, alice, 'alice/app', 'v1');
    const remote = target.url;
    const p = expect(
      await call(s, 'POST', BASE, ADMIN, {
        name: 'to-target',
        direction: 'push',
        remoteUrl: remote,
        repositories: ['alice/*'],
        remotePrefix: 'copy',
        trigger: 'manual',
      }),
      201,
    ).body;
    assert.deepEqual(expect(await call(s, 'GET', `${BASE}/${p.id}/runs`, ADMIN), 200).body.runs, []);

    const started = expect(await call(s, 'POST', `${BASE}/${p.id}/run`, ADMIN), 202).body;
    assert.equal(started.policyId, p.id);
    assert.equal(started.trigger, 'manual');
    assert.ok(['running', 'succeeded'].includes(started.status), started.status);
    const first = await finished(p.id, started.id);
    assert.equal(first.status, 'succeeded', JSON.stringify(first));
    assert.ok(first.copied >= 1, JSON.stringify(first));
    assert.ok(first.bytes > 0, JSON.stringify(first));
    assert.ok(first.finishedAt && Date.parse(first.finishedAt) >= Date.parse(first.startedAt));
    const copied = await fetch(`${remote}/v2/copy/alice/app/manifests/v1`, {
      method: 'HEAD',
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(copied.status, 200);
    assert.equal(copied.headers.get('docker-content-digest'), pushed, 'the same digest on the remote registry');

    const again = expect(await call(s, 'POST', `${BASE}/${p.id}/run`, ADMIN), 202).body;
    const second = await finished(p.id, again.id);
    assert.equal(second.status, 'succeeded', JSON.stringify(second));
    assert.equal(second.copied, 0, 'a second run copies nothing');
    assert.ok(second.skipped >= 1);

    const runs = expect(await call(s, 'GET', `${BASE}/${p.id}/runs`, ADMIN), 200).body.runs;
    assert.deepEqual(
      runs.map((r: { id: number }) => r.id),
      [again.id, started.id],
      'newest first',
    );
    assert.deepEqual(expect(await call(s, 'GET', `${BASE}/${p.id}/runs?n=1`, ADMIN), 200).body.runs, [runs[0]]);
    assert.deepEqual(expect(await call(s, 'GET', `${BASE}/${p.id}`, ADMIN), 200).body.lastRun, runs[0]);
    const audit = expect(await call(s, 'GET', '/audit?n=20', ADMIN), 200).body.entries.map((e: { action: string }) => e.action);
    assert.ok(audit.includes('replication-policy.run'));
  });

  it('answers 409 to a second run while one is in progress, and records a failed run with its reason', async () => {
    // A remote that takes connections and never answers keeps the run going; then it goes away.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const p = expect(
      await call(s, 'POST', BASE, ADMIN, {
        name: 'to-silence',
        direction: 'push',
        remoteUrl: `http://127.0.0.1:${port}`,
        repositories: ['alice/*'],
        trigger: 'manual',
      }),
      201,
    ).body;
    const started = expect(await call(s, 'POST', `${BASE}/${p.id}/run`, ADMIN), 202).body;
    assert.equal(started.status, 'running');
    const busy = expect(await call(s, 'POST', `${BASE}/${p.id}/run`, ADMIN), 409, 'CONFLICT');
    assert.match(busy.body.errors[0].message, /to-silence is running/);
    const during = expect(await call(s, 'GET', `${BASE}/${p.id}`, ADMIN), 200).body;
    assert.equal(during.running, true);
    assert.equal(during.lastRun.id, started.id);
    assert.equal(during.lastRun.status, 'running');

    // The remote goes away: connections are refused, the run gives up and says why.
    await new Promise<void>((resolve) => {
      silent.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
    const run = await finished(p.id, started.id);
    assert.equal(run.status, 'failed', JSON.stringify(run));
    assert.equal(run.copied, 0);
    assert.ok(run.failed >= 1, JSON.stringify(run));
    assert.ok(run.error, 'the run says why');
    const after = expect(await call(s, 'GET', `${BASE}/${p.id}`, ADMIN), 200).body;
    assert.equal(after.running, false);
    assert.deepEqual(after.lastRun, run);
  });
});
