// Real clients pushing over an immutable tag: a Berth child process with a rule ("releases": tags
// v* in every repository of the namespace e2e, written straight into its database as the REST API
// would); skopeo and docker push an image under v1, then another image under v1, and print the
// registry's refusal, which names the rule; pushing the first image again succeeds, and the tag
// still points at it. Always against Berth (the reference registry has no immutable tags).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { openSqlite, type MetadataDb } from '../../src/metadata/database.js';
import { ImmutableTagRuleStore } from '../../src/metadata/immutable-tag-rules.js';
import { startBerth, type RegistryProcess } from '../helpers/berth-process.js';
import { BIN, Docker, Skopeo, run, type RunResult } from '../helpers/clients.js';
import { withServerLog } from '../helpers/e2e.js';
import { type Layout, RegistryApi, writeUniqueLayout } from '../helpers/oci.js';
import { tempDir } from '../helpers/shared.js';

let reg: RegistryProcess;
let meta: MetadataDb;
let api: RegistryApi;
let work: string;

const step = (name: string, fn: () => Promise<void>) => test(name, { timeout: 120_000 }, () => withServerLog(() => reg, fn));

/** A small image no other test (or earlier run against the shared dockerd) has. */
function uniqueLayout(name: string): Layout {
  return writeUniqueLayout(path.join(work, name), `immutable-${name}-${process.pid}-${Date.now()}`, randomBytes(8 * 1024));
}

/** What the client printed about the failure, without log prefixes. */
const errorText = (r: RunResult) => `${r.stderr}\n${r.stdout}`.replace(/time="[^"]*" /g, '').trim();

function assertRefused(r: RunResult, client: string): void {
  assert.notEqual(r.code, 0, `${client} push over an immutable tag must fail:\n${errorText(r)}`);
  const text = errorText(r);
  console.log(`${client} printed: ${text.split('\n').find((l) => /denied/i.test(l)) ?? text}`);
  assert.match(text, /denied/i, `${client} shows the DENIED code`);
  // skopeo's logger escapes the quotes (\"releases\").
  assert.match(text, /is immutable \(rule \\?"releases\\?" of namespace e2e\): it cannot be moved/, `${client} shows the message naming the rule`);
}

async function tagDigest(repo: string, tag: string): Promise<string> {
  const r = await api.req('HEAD', `/v2/${repo}/manifests/${tag}`, {
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
  });
  assert.equal(r.status, 200);
  return String(r.headers['docker-content-digest']);
}

before(async () => {
  work = tempDir('immutable-tags');
  reg = await startBerth({ name: 'immutable-tags' });
  api = new RegistryApi(reg.url);
  meta = await openSqlite(path.join(reg.root, 'berth.db'));
  const rules = new ImmutableTagRuleStore(meta);
  await meta.transaction(async (tx) => {
    await tx.insertInto('namespaces').values({ name: 'e2e', kind: 'org', created_at: Date.now() }).execute();
    await rules.create(tx, 'e2e', 'releases', { repositories: '**', tags: 'v*', excludeRepositories: [], excludeTags: [] }, null, Date.now());
  });
});

after(async () => {
  await meta?.close();
  await reg?.dispose();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

step('skopeo: a push over an immutable tag fails with the rule in its message; the same image again succeeds', async () => {
  const skopeo = new Skopeo('immutable-skopeo');
  const [a, b] = [uniqueLayout('sk-a'), uniqueLayout('sk-b')];
  const copy = (layout: Layout) => ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout.dir}:latest`, `docker://${reg.hostPort}/e2e/skopeo:v1`];
  await skopeo.run(copy(a));
  const first = await tagDigest('e2e/skopeo', 'v1');
  assert.equal(first, a.top().digest);
  assertRefused(await skopeo.runMayFail(copy(b)), 'skopeo');
  assert.equal(await tagDigest('e2e/skopeo', 'v1'), first, 'the tag did not move');
  await skopeo.run(copy(a));
  assert.equal(await tagDigest('e2e/skopeo', 'v1'), first);
  // A tag the rule does not match moves as usual.
  await skopeo.run(['copy', '--quiet', '--dest-tls-verify=false', `oci:${a.dir}:latest`, `docker://${reg.hostPort}/e2e/skopeo:latest`]);
  await skopeo.run(['copy', '--quiet', '--dest-tls-verify=false', `oci:${b.dir}:latest`, `docker://${reg.hostPort}/e2e/skopeo:latest`]);
  assert.equal(await tagDigest('e2e/skopeo', 'latest'), b.top().digest);
});

step('docker: a push over an immutable tag fails with the rule in its message; the same image again succeeds', async () => {
  const docker = await Docker.create('immutable-docker');
  const target = `${reg.hostPort}/e2e/docker:v1`;
  const load = async (layout: Layout, name: string) => {
    const archive = path.join(work, `${name}.tar`);
    await run(BIN.skopeo, ['--insecure-policy', 'copy', '--quiet', `oci:${layout.dir}:latest`, `docker-archive:${archive}:berth-immutable/${name}:latest`]);
    await docker.run(['load', '--quiet', '--input', archive]);
    await docker.run(['tag', `berth-immutable/${name}:latest`, target]);
  };
  await load(uniqueLayout('dk-a'), 'a');
  const pushed = await docker.run(['push', target]);
  const first = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
  assert.ok(first, pushed.stdout);
  await load(uniqueLayout('dk-b'), 'b');
  assertRefused(await docker.runMayFail(['push', target]), 'docker');
  assert.equal(await tagDigest('e2e/docker', 'v1'), first, 'the tag did not move');
  await docker.run(['tag', 'berth-immutable/a:latest', target]);
  const again = await docker.run(['push', target]);
  assert.match(again.stdout, new RegExp(`digest: ${first}`), 'the same image again is accepted');
  for (const name of ['a', 'b']) await docker.removeImage(`berth-immutable/${name}:latest`);
  await docker.removeImage(target);
});
