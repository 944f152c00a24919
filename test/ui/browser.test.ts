// The web UI end to end in headless Chromium (Debian's package, driven by
// playwright-core): sign in, search, open a repository, star it, read its tags,
// manifest and referrers, comment, create a webhook and see its delivery, create an
// access token, moderate as an administrator, set a quota and see storage usage, keep a private repository hidden, and
// render the repository page on a phone (390×844) without horizontal scrolling.
// One server and one browser for the file; screenshots go to test-results/ui/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { MT } from '../helpers/api-server.js';
import { launchChromium, signInAs } from '../helpers/browser.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { TokenClient } from '../helpers/token-client.js';
import { webhooksOf } from '../../src/webhooks/index.js';
import { ADMIN, addUser, call, indexServer, ok, pushImage, pushIndex, setVisibility, settle, type User } from '../index/helpers.js';

const SHOTS = path.join(REPO_ROOT, 'test-results', 'ui');
// The webhook receiver listens on loopback, which webhooks may reach only when allowed.
const s = indexServer({ notifications: { webhooks: { allow: ['127.0.0.1'] } } });

let browser: Browser;
let alice: User;
let bob: User;
let receiver: http.Server;
let receiverUrl = '';
let received = 0;
let indexDigest = '';

async function shot(page: Page, name: string): Promise<void> {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot: ${path.relative(REPO_ROOT, file)}`);
}

/** A signature-like artifact whose subject is `subject` (shows up as a referrer). */
async function pushSignature(who: User, repo: string, subject: string): Promise<string> {
  const c = new TokenClient(s.url, who);
  const head = await c.fetch(`/v2/${repo}/manifests/${subject}`, { method: 'HEAD', headers: { Accept: `${MT.ociIndex}, ${MT.ociManifest}` } });
  const empty = await c.pushBlob(repo, Buffer.from('{}'));
  const sig = await c.pushBlob(repo, Buffer.from(`signature of ${subject}`));
  const doc = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    artifactType: 'application/vnd.dev.cosign.artifact.sig.v1+json',
    config: { mediaType: MT.ociEmpty, digest: empty.digest, size: empty.size },
    layers: [{ mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json', digest: sig.digest, size: sig.size }],
    subject: { mediaType: head.headers.get('content-type'), digest: subject, size: Number(head.headers.get('content-length')) },
  };
  const bytes = Buffer.from(JSON.stringify(doc));
  const { createHash } = await import('node:crypto');
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const res = await c.fetch(`/v2/${repo}/manifests/${digest}`, { method: 'PUT', headers: { 'Content-Type': MT.ociManifest }, body: bytes });
  assert.equal(res.status, 201, await res.text());
  return digest;
}

/** No element wider than the viewport: the page does not scroll sideways. */
async function assertNoHorizontalOverflow(page: Page, what: string): Promise<void> {
  const m = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth }));
  assert.ok(m.scroll <= m.view && m.body <= m.view, `${what}: page is ${Math.max(m.scroll, m.body)} px wide in a ${m.view} px viewport`);
}

describe('web UI in Chromium', () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    receiver = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received++;
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

    const launching = launchChromium();

    alice = await addUser(s, 'alice');
    bob = await addUser(s, 'bob');
    indexDigest = await pushIndex(s, alice, 'alice/web', '1.0', [
      { os: 'linux', arch: 'amd64' },
      { os: 'linux', arch: 'arm64', variant: 'v8' },
    ]);
    await pushImage(s, alice, 'alice/web', 'latest');
    await pushSignature(alice, 'alice/web', indexDigest);
    await setVisibility(s, alice, 'alice/web', 'public');
    ok(
      await call(s, 'PUT', '/repositories/alice/web/description', alice, {
        description: 'The web front end, served by nginx',
        readme: '# alice/web\n\nRun it with `docker run -p 8080:80 alice/web`.\n\n<script>alert(1)</script>\n\n- fast\n- small',
      }),
    );
    await pushImage(s, alice, 'alice/secret', 'v1');
    await pushImage(s, bob, 'bob/tools', 'v1');
    await setVisibility(s, bob, 'bob/tools', 'public');
    await settle(s);
    browser = await launching;
  });

  after(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
  });

  let context: BrowserContext;
  let page: Page;

  it('shows anonymous visitors only public repositories', async () => {
    const anon = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const p = await anon.newPage();
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(e.message));
    p.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await p.goto(`${s.url}/`);
    await p.getByRole('link', { name: 'alice/web' }).waitFor();
    assert.equal(await p.getByRole('link', { name: 'bob/tools' }).count(), 1);
    assert.equal(await p.getByText('alice/secret').count(), 0, 'a private repository is not listed');
    await shot(p, '01-explore-anonymous');
    await p.goto(`${s.url}/ui/r/alice/secret`);
    await p.getByRole('heading', { name: 'Repository not found' }).waitFor();
    await p.goto(`${s.url}/ui/r/alice/secret/-/tags`);
    await p.getByRole('heading', { name: 'Repository not found' }).waitFor();
    assert.deepEqual(
      errors.filter((e) => !/404|401/.test(e)),
      [],
      'no script errors',
    );
    await anon.close();
  });

  it('signs in', async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    await page.goto(`${s.url}/ui/sign-in`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Wrong username or password' }).waitFor();
    await shot(page, '02-sign-in-error');
    await page.getByLabel('Password').fill(alice.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: /Sign out/ }).waitFor();
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'berth_session');
    assert.ok(session, 'session cookie set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
  });

  it('searches and opens a repository with its README', async () => {
    await page.getByRole('searchbox', { name: 'Search repositories' }).fill('nginx');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Search: nginx' }).waitFor();
    const results = page.getByRole('listitem').filter({ has: page.getByRole('link', { name: 'alice/web' }) });
    await results.waitFor();
    assert.equal(await page.getByRole('link', { name: 'bob/tools' }).count(), 0, 'only matches are listed');
    await shot(page, '03-search');
    // The signed-in owner sees her private repository in search.
    await page.getByRole('searchbox', { name: 'Search repositories' }).fill('secret');
    await page.keyboard.press('Enter');
    await page.getByRole('link', { name: 'alice/secret' }).waitFor();

    await page.getByRole('searchbox', { name: 'Search repositories' }).fill('web');
    await page.keyboard.press('Enter');
    await page.getByRole('link', { name: 'alice/web' }).click();
    await page.locator('#page-title', { hasText: 'alice/web' }).waitFor();
    await page.getByText('The web front end, served by nginx').waitFor();
    const readme = page.getByRole('article', { name: 'README' });
    await readme.getByRole('heading', { name: 'alice/web' }).waitFor();
    assert.equal(await readme.locator('script').count(), 0, 'raw HTML in the README is not rendered');
    assert.match(await page.locator('.copy code').first().innerText(), /^docker pull 127\.0\.0\.1:\d+\/alice\/web:latest$/);
    await shot(page, '04-repository');
  });

  it('stars the repository', async () => {
    const star = page.getByTestId('star');
    assert.equal(await star.getAttribute('aria-pressed'), 'false');
    await star.click();
    await page.locator('[data-testid=star][aria-pressed=true]').waitFor();
    assert.match(await star.innerText(), /Starred\s*1/);
    assert.equal(ok(await call(s, 'GET', '/repositories/alice/web/description', alice)).starCount, 1, 'the star is recorded');
  });

  it('lists tags and shows a manifest with its platforms and referrers', async () => {
    await page.getByRole('link', { name: 'Tags', exact: true }).click();
    const table = page.getByRole('table');
    await table.getByRole('link', { name: '1.0' }).waitFor();
    const row = table.getByRole('row').filter({ has: page.getByRole('link', { name: '1.0' }) });
    await row.getByText('linux/arm64/v8').waitFor();
    assert.match(await row.innerText(), /linux\/amd64/);
    assert.match(await row.innerText(), /\d+ (B|kB)/, 'a size');
    assert.equal(
      await row.getByRole('button', { name: 'Copy pull command for 1.0' }).getAttribute('data-copy'),
      `docker pull ${new URL(s.url).host}/alice/web:1.0`,
    );
    assert.equal(await row.getByRole('button', { name: /^Copy digest/ }).getAttribute('data-copy'), indexDigest);
    await shot(page, '05-tags');

    await row.getByRole('link', { name: '1.0' }).click();
    await page.getByRole('heading', { name: 'Tag 1.0' }).waitFor();
    await page.getByRole('heading', { name: 'Platforms in this index' }).waitFor();
    const referrers = page.getByRole('region', { name: /Referrers/ });
    await referrers.getByText('cosign signature').waitFor();
    await shot(page, '06-manifest');

    // A child manifest: its layers.
    await page.getByRole('table').getByRole('row').filter({ hasText: 'linux/amd64' }).getByRole('link').click();
    await page.getByRole('heading', { name: 'Layers' }).waitFor();
    assert.equal(await page.getByRole('table').getByRole('row').count(), 2, 'one header row and one layer');
  });

  it('posts, edits and deletes a comment', async () => {
    await page.goto(`${s.url}/ui/r/alice/web/-/comments`);
    await page.getByLabel('Add a comment').fill('Works **great** behind <b>Traefik</b>.');
    await page.getByRole('button', { name: 'Post comment' }).click();
    const list = page.getByRole('list', { name: 'Comments' });
    await list.locator('strong', { hasText: 'great' }).waitFor();
    assert.equal(await list.locator('b').count(), 0, 'raw HTML in a comment is not rendered');
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('Edit comment').fill('Works great behind Traefik and nginx.');
    await page.getByRole('button', { name: 'Save' }).click();
    await list.getByText('Works great behind Traefik and nginx.').waitFor();
    await list.getByText('(edited)').waitFor();
    await shot(page, '07-comments');
    const comments = ok(await call(s, 'GET', '/repositories/alice/web/comments', null)).comments;
    assert.equal(comments.length, 1);
    assert.equal(comments[0].body, 'Works great behind Traefik and nginx.');

    // bob (a new account) reports nothing yet but comments: held for moderators.
    ok(await call(s, 'POST', '/repositories/alice/web/comments', bob, { body: 'First!' }), 201);
  });

  it('creates a webhook in the settings and shows its delivery log', async () => {
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
    await page.getByLabel('Payload URL').fill(receiverUrl);
    await page.getByLabel(/^Name/).fill('CI');
    await page.getByRole('button', { name: 'Add webhook' }).click();
    await page.getByText('Its signing secret is shown only now').waitFor();
    const hooks = ok(await call(s, 'GET', '/repositories/alice/web/webhooks', alice)).webhooks;
    assert.equal(hooks.length, 1);
    assert.equal(hooks[0].url, receiverUrl);

    // A push is delivered to the receiver and shows up in the log.
    await pushImage(s, alice, 'alice/web', '1.1');
    await webhooksOf(s.app)!.worker()!.drain();
    const d = ok(await call(s, 'GET', `/webhooks/${hooks[0].id}/deliveries`, alice)).deliveries;
    assert.deepEqual(
      d.map((x: { status: string }) => x.status),
      ['delivered'],
    );
    assert.equal(received, 1, 'the push was delivered');
    await page.getByRole('button', { name: 'Deliveries' }).click();
    await page
      .getByRole('cell', { name: /delivered/ })
      .first()
      .waitFor();
    await shot(page, '08-settings-webhooks');
  });

  it('creates an access token and shows its secret once', async () => {
    await page.getByRole('link', { name: 'Tokens' }).click();
    await page.getByLabel('Name', { exact: true }).fill('laptop');
    await page.getByLabel('push').check();
    await page.getByLabel(/^Repositories/).fill('alice/*');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = await page.locator('.secret code').innerText();
    assert.match(secret, /^berth_pat_/);
    await page.getByRole('cell', { name: 'laptop', exact: true }).waitFor();
    await shot(page, '09-tokens');
    const tokens = ok(await call(s, 'GET', '/user/tokens', alice)).tokens;
    assert.deepEqual(tokens[0].scopes.sort(), ['pull', 'push']);
    assert.equal(tokens[0].resource, 'alice/*');
  });

  it('renders the repository page on a phone without horizontal scrolling', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
      storageState: await context.storageState(),
    });
    const p = await phone.newPage();
    await p.goto(`${s.url}/ui/r/alice/web`);
    await p.locator('#page-title', { hasText: 'alice/web' }).waitFor();
    await p.getByRole('article', { name: 'README' }).waitFor();
    await assertNoHorizontalOverflow(p, 'repository page');
    await shot(p, '10-phone-repository');
    await p.getByRole('link', { name: 'Tags', exact: true }).click();
    await p.getByRole('link', { name: '1.0' }).waitFor();
    await assertNoHorizontalOverflow(p, 'tags');
    await shot(p, '11-phone-tags');
    await p.goto(`${s.url}/ui/r/alice/web/-/manifests/1.0`);
    await p.getByRole('heading', { name: 'Tag 1.0' }).waitFor();
    await assertNoHorizontalOverflow(p, 'manifest');
    await phone.close();
  });

  it('signs out', async () => {
    await page.getByRole('button', { name: /Sign out/ }).click();
    await page.getByRole('link', { name: 'Sign in' }).waitFor();
    assert.equal((await context.cookies()).find((c) => c.name === 'berth_session')?.value ?? '', '');
    await context.close();
  });

  it('lets an administrator manage users and moderate comments', async () => {
    const adminContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const p = await signInAs(adminContext, s.url, ADMIN);
    await p.getByRole('link', { name: 'Admin' }).click();
    await p.getByRole('cell', { name: /^bob/ }).waitFor();
    await p.getByLabel('Username').fill('carol');
    await p.getByLabel('Password').fill('carol-password-1');
    await p.getByRole('button', { name: 'Create user' }).click();
    await p.getByText('carol was created.').waitFor();
    await p.getByRole('button', { name: 'Disable carol' }).click();
    await p.getByRole('button', { name: 'Enable carol' }).waitFor();
    assert.equal(ok(await call(s, 'GET', '/users/carol', ADMIN)).disabled, true);
    await shot(p, '12-admin-users');

    await p.getByRole('link', { name: 'Moderation' }).click();
    const held = p.getByRole('list', { name: 'Held comments' });
    await held.getByText('First!').waitFor();
    await shot(p, '13-admin-moderation');
    await p.getByRole('button', { name: 'Approve' }).click();
    await p.getByText('The queue is empty.').waitFor();
    const bodies = ok(await call(s, 'GET', '/repositories/alice/web/comments', null)).comments.map((c: { body: string }) => c.body);
    assert.ok(bodies.includes('First!'), 'approved comment is published');
    await adminContext.close();
  });

  it("lets an administrator set a namespace's quota, and shows the namespace its usage and warning level", async () => {
    const adminContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const p = await signInAs(adminContext, s.url, ADMIN);
    await p.goto(`${s.url}/ui/admin/quotas`);
    await p.getByRole('cell', { name: 'bob' }).waitFor();
    await p.getByLabel('Namespace', { exact: true }).fill('alice');
    await p.getByLabel('Unit').selectOption('MiB');
    await p.getByLabel(/^Limit/).fill('1');
    await p.getByLabel(/^Warning level/).fill('0.001');
    await p.getByRole('button', { name: 'Set quota' }).click();
    await p.getByText('The quota of alice was set.').waitFor();
    await p.getByRole('row', { name: /alice/ }).getByText('above the warning level').waitFor();
    const set = ok(await call(s, 'GET', '/namespaces/alice/quota', ADMIN));
    assert.deepEqual([set.limit, set.warning, set.level], [1024 ** 2, Math.round(0.001 * 1024 ** 2), 'warning']);
    await shot(p, '14-admin-quotas');
    await adminContext.close();

    const aliceContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const a = await signInAs(aliceContext, s.url, alice);
    await a.getByRole('link', { name: 'Storage' }).click();
    const card = a.getByRole('region', { name: 'alice' });
    await card.getByText('above the warning level').waitFor();
    await card.getByText(/used of 1\.0 MB/).waitFor();
    assert.equal(await card.getByRole('meter', { name: 'Storage used in alice' }).getAttribute('value'), String(set.used));
    await shot(a, '15-storage');
    await aliceContext.close();

    // bob sees his own namespace only.
    const bobContext = await browser.newContext();
    const b = await signInAs(bobContext, s.url, bob);
    await b.goto(`${s.url}/ui/storage`);
    await b.getByRole('region', { name: 'bob' }).waitFor();
    assert.equal(await b.getByRole('region', { name: 'alice' }).count(), 0);
    await bobContext.close();
  });
});
