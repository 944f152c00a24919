// Retention end to end with a real client: a Berth child process in token mode; skopeo pushes four
// distinct images as alice/app:v1…v4 (in that order) and pulls two of them; a policy created
// through the REST API keeps the latest 2 pushed tags and deletes untagged images at once. Its dry
// run lists v1 and v2 and deletes nothing; the run deletes them and their images (they answer 404,
// also to skopeo) and says how many bytes collection frees. The bytes stay on disk until
// `berth gc --delay 0s` runs against the server's stores; then the blob files shrink by exactly
// that many bytes (measured on disk, not in the database), and v3 and v4 still pull completely.
// Always against Berth (the reference registry has no retention).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { run, Skopeo } from '../helpers/clients.js';
import { withServerLog } from '../helpers/e2e.js';
import { assertLayoutMatches, type Layout, MANIFEST_ACCEPT, writeUniqueLayout } from '../helpers/oci.js';
import { REPO_ROOT, removeTree, tempDir } from '../helpers/shared.js';
import { TokenClient } from '../helpers/token-client.js';

const ADMIN = { user: 'admin', password: 'admin-Passw0rd-retention' };
const ALICE = { user: 'alice', password: 'alice-Passw0rd-retention' };
const TAGS = ['v1', 'v2', 'v3', 'v4'];

let reg: RegistryProcess;
let work: string;
let skopeo: Skopeo;
const layouts = new Map<string, Layout>();

const basic = (u: { user: string; password: string }) => `Basic ${Buffer.from(`${u.user}:${u.password}`).toString('base64')}`;

async function rest(method: string, p: string, who: { user: string; password: string }, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${reg.url}/api/v1${p}`, {
    method,
    headers: { authorization: basic(who), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

function ok<T = any>(r: { status: number; body: any }, status: number, what: string): T {
  assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
  return r.body as T;
}

async function manifestStatus(ref: string): Promise<number> {
  const res = await new TokenClient(reg.url, ALICE).fetch(`/v2/alice/app/manifests/${ref}`, { method: 'HEAD', headers: { Accept: MANIFEST_ACCEPT } });
  return res.status;
}

/** Bytes of every blob file in the storage root (manifest bodies are blobs too). */
function storedBytes(): number {
  let total = 0;
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += fs.statSync(p).size;
    }
  };
  walk(path.join(reg.root, 'blobs'));
  return total;
}

const ref = (tag: string) => `docker://${reg.hostPort}/alice/app:${tag}`;
const creds = `${ALICE.user}:${ALICE.password}`;

/** skopeo pulls the tag into a fresh OCI layout and it matches the pushed image byte for byte. */
async function assertPullsCompletely(tag: string): Promise<void> {
  const out = path.join(work, `pulled-${tag}-${randomBytes(3).toString('hex')}`);
  await skopeo.run(['copy', '--quiet', '--src-tls-verify=false', '--src-creds', creds, ref(tag), `oci:${out}:latest`]);
  await assertLayoutMatches(out, layouts.get(tag)!);
}

const step = (name: string, fn: () => Promise<void>) => test(name, { timeout: 180_000 }, () => withServerLog(() => reg, fn));

before(async () => {
  work = tempDir('retention-e2e');
  reg = await startBerth({
    name: 'retention',
    env: {
      REGISTRY_AUTH: 'token',
      BERTH_AUTH_ACCOUNTS_ADMINUSER: ADMIN.user,
      BERTH_AUTH_ACCOUNTS_ADMINPASSWORD: ADMIN.password,
      BERTH_AUTH_ACCOUNTS_BCRYPTCOST: '4',
      // Only this test's `berth gc` collects, so the disk changes when it says.
      REGISTRY_STORAGE_GC_ENABLED: 'false',
    },
  });
  ok(await rest('POST', '/users', ADMIN, { username: ALICE.user, password: ALICE.password }), 201, 'create alice');
  skopeo = new Skopeo('retention-skopeo');
  for (const tag of TAGS) {
    // Random content: every image's layer and config are its own, so deleting one frees all of them.
    layouts.set(tag, writeUniqueLayout(path.join(work, `image-${tag}`), `retention-${tag}-${process.pid}-${Date.now()}`, randomBytes(256 * 1024)));
  }
});

after(async () => {
  await reg?.dispose();
  if (work) removeTree(work);
});

step('skopeo pushes v1…v4 of distinct images and pulls two of them', async () => {
  for (const tag of TAGS) {
    await skopeo.run(['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', creds, `oci:${layouts.get(tag)!.dir}:latest`, ref(tag)]);
    assert.equal(await manifestStatus(tag), 200);
  }
  await assertPullsCompletely('v1');
  await assertPullsCompletely('v3');
});

step('a policy keeping the latest 2 pushed deletes v1 and v2 and their images; berth gc then frees exactly the bytes it reported', async () => {
  const [v1, v2] = [layouts.get('v1')!, layouts.get('v2')!];
  const expected = v1.totalSize() + v2.totalSize();
  const policy = { name: 'keep-2', rules: [{ repositories: '**', tags: '*', keep: { latestPushed: 2 }, untagged: '0s' }] };
  ok(await rest('POST', '/namespaces/alice/retention-policies', ALICE, policy), 201, 'create the policy');

  const dry = ok(await rest('POST', '/namespaces/alice/retention-policies/keep-2/run', ALICE, { dryRun: true }), 200, 'dry run');
  assert.deepEqual(
    dry.tags.map((t: { repository: string; tag: string; digest: string }) => [t.repository, t.tag, t.digest]),
    [
      ['alice/app', 'v1', v1.top().digest],
      ['alice/app', 'v2', v2.top().digest],
    ],
  );
  assert.deepEqual(dry.manifests.map((m: { digest: string }) => m.digest).sort(), [v1.top().digest, v2.top().digest].sort());
  assert.equal(dry.bytes, expected, 'the dry run counts the images, their configs and layers');
  for (const tag of TAGS) assert.equal(await manifestStatus(tag), 200, `${tag} after the dry run`);

  const before = storedBytes();
  const done = ok(await rest('POST', '/namespaces/alice/retention-policies/keep-2/run', ALICE, { dryRun: false }), 200, 'run');
  assert.equal(done.dryRun, false);
  assert.deepEqual(done.tags.map((t: { tag: string }) => t.tag).sort(), ['v1', 'v2']);
  assert.equal(done.manifests.length, 2);
  assert.equal(done.kept, 2);
  assert.equal(done.bytes, expected);
  const listed = ok(await rest('GET', '/namespaces/alice/retention-policies/keep-2', ALICE), 200, 'the policy');
  assert.deepEqual(
    { tags: listed.lastRun?.tagsDeleted, manifests: listed.lastRun?.manifestsDeleted, bytes: listed.lastRun?.bytes },
    { tags: 2, manifests: 2, bytes: expected },
  );

  for (const gone of ['v1', 'v2', v1.top().digest, v2.top().digest]) assert.equal(await manifestStatus(gone), 404, `${gone} after the run`);
  const inspect = await skopeo.runMayFail(['inspect', '--raw', '--tls-verify=false', '--creds', creds, ref('v1')]);
  assert.notEqual(inspect.code, 0, 'skopeo inspect of a deleted tag must fail');
  assert.match(inspect.stderr, /manifest unknown/i);
  assert.equal(storedBytes(), before, 'retention deletes rows; the bytes wait for garbage collection');

  const gc = await run(process.execPath, [path.join(REPO_ROOT, 'dist', 'main.js'), 'gc', '--delay', '0s'], {
    env: { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: reg.root, REGISTRY_LOG_LEVEL: 'warn' },
  });
  console.log(`${gc.stdout.trim()}; on disk ${before} → ${storedBytes()} bytes`);
  assert.equal(before - storedBytes(), expected, 'the blob files shrank by what the run reported');

  for (const tag of ['v3', 'v4']) {
    assert.equal(await manifestStatus(tag), 200);
    await assertPullsCompletely(tag);
  }
});
