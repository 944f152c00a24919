// The pull command a repository page shows (headless Chromium): it names something that
// exists, so copying it works. `latest` when there is such a tag, else the most recently
// pushed tag, else the digest of the newest image pushed without a tag (never a signature
// or other referrer), and no command when nothing is left to pull.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import { MT } from '../helpers/api-server.js';
import { launchChromium } from '../helpers/browser.js';
import { TokenClient } from '../helpers/token-client.js';
import { addUser, pull, pushImage, setVisibility, type User } from '../index/helpers.js';
import { indexServer } from '../index/helpers.js';

const s = indexServer();

let browser: Browser;
let context: BrowserContext;
let alice: User;
let host: string;

/** The pull command on the repository page, as an anonymous visitor sees it (null: none shown). */
async function pullCommand(repo: string): Promise<string | null> {
  const page = await context.newPage();
  try {
    await page.goto(`${s.url}/ui/r/${repo}`);
    await page.locator('#page-title', { hasText: repo }).waitFor();
    const command = page.locator('section[aria-labelledby="page-title"] .copy code');
    const nothing = page.getByText('Nothing to pull yet');
    await command.or(nothing).waitFor();
    if (await nothing.isVisible()) return null;
    const text = await command.innerText();
    // The copy button copies exactly what is shown.
    assert.equal(await page.getByRole('button', { name: 'Copy pull command' }).first().getAttribute('data-copy'), text);
    return text;
  } finally {
    await page.close();
  }
}

/** The reference of a `docker pull HOST/REPO<ref>` command pulls: the manifest answers 200. */
async function assertPullable(command: string, repo: string): Promise<void> {
  const prefix = `docker pull ${host}/${repo}`;
  assert.ok(command.startsWith(prefix), command);
  const ref = command.slice(prefix.length);
  assert.match(ref, /^(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$/, 'a tag or a digest');
  await pull(s, null, repo, ref.slice(1));
}

/** A signature-like artifact referring to `subject`, pushed by digest. */
async function pushReferrer(who: User, repo: string, subject: string): Promise<string> {
  const c = new TokenClient(s.url, who);
  const head = await c.fetch(`/v2/${repo}/manifests/${subject}`, { method: 'HEAD' });
  const empty = await c.pushBlob(repo, Buffer.from('{}'));
  const sig = await c.pushBlob(repo, Buffer.from(`signature of ${subject}`));
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
      config: { mediaType: MT.ociEmpty, digest: empty.digest, size: empty.size },
      layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: sig.digest, size: sig.size }],
      subject: { mediaType: head.headers.get('content-type'), digest: subject, size: Number(head.headers.get('content-length')) },
    }),
  );
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const res = await c.fetch(`/v2/${repo}/manifests/${digest}`, { method: 'PUT', headers: { 'Content-Type': MT.ociManifest }, body: bytes });
  assert.equal(res.status, 201, await res.text());
  return digest;
}

describe('pull command on the repository page', () => {
  before(async () => {
    const launching = launchChromium();
    host = new URL(s.url).host;
    alice = await addUser(s, 'alice');
    browser = await launching;
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  });
  after(async () => {
    await browser?.close();
  });

  it('without a latest tag: the most recently pushed tag; then latest once it exists', async () => {
    await pushImage(s, alice, 'alice/app', 'v1');
    await pushImage(s, alice, 'alice/app', 'v2', { arch: 'arm64' });
    await setVisibility(s, alice, 'alice/app', 'public');
    let command = await pullCommand('alice/app');
    assert.equal(command, `docker pull ${host}/alice/app:v2`);
    await assertPullable(command!, 'alice/app');

    await pushImage(s, alice, 'alice/app', 'latest', { arch: 'riscv64' });
    await pushImage(s, alice, 'alice/app', 'v3', { arch: 's390x' });
    command = await pullCommand('alice/app');
    assert.equal(command, `docker pull ${host}/alice/app:latest`, 'latest, though v3 is newer');
    await assertPullable(command!, 'alice/app');
  });

  it('without any tag: the newest image by digest, not a referrer pushed after it', async () => {
    const image = await pushImage(s, alice, 'alice/untagged', null);
    await pushReferrer(alice, 'alice/untagged', image);
    await setVisibility(s, alice, 'alice/untagged', 'public');
    const command = await pullCommand('alice/untagged');
    assert.equal(command, `docker pull ${host}/alice/untagged@${image}`);
    await assertPullable(command!, 'alice/untagged');
  });

  it('nothing left to pull: no command, a hint how to push', async () => {
    const digest = await pushImage(s, alice, 'alice/emptied', 'v1');
    await setVisibility(s, alice, 'alice/emptied', 'public');
    const c = new TokenClient(s.url, alice);
    const res = await c.fetch(`/v2/alice/emptied/manifests/${digest}`, { method: 'DELETE' });
    assert.equal(res.status, 202, await res.text());
    assert.equal(await pullCommand('alice/emptied'), null);
  });

  it('a private repository’s pull reference is not found for others', async () => {
    await pushImage(s, alice, 'alice/private', 'v1');
    const anonymous = await fetch(`${s.url}/ui/api/pull?repository=alice/private`);
    assert.equal(anonymous.status, 404);
    const missing = await fetch(`${s.url}/ui/api/pull?repository=alice/nothing-here`);
    assert.equal(missing.status, 404);
    assert.deepEqual(await anonymous.json(), await missing.json(), 'private answers like missing');
  });
});
