// The web UI's replication policies in headless Chromium (Debian's package, driven by playwright-core):
// an administrator opens Admin → Replication, creates a push policy through the form (a name the API
// refuses shows its message and stores nothing), sees it listed with its remote registry, account and
// trigger (the password never reaches the page), runs it now and watches the history until the run
// has succeeded (the image is then on the remote registry, a second open Berth, with the same
// digest), edits it (the password field stays empty; "Remove the stored password" removes it) and
// deletes it. On a phone (390 px) the list, the form and the history fit the screen. A user who is
// not an administrator gets no Admin link and "Administrators only." Screenshots go to test-results/ui/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { serverPerFile } from '../helpers/api-server.js';
import { launchChromium, signInAs } from '../helpers/browser.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { ADMIN, addUser, call, ok, pushImage, type User } from '../index/helpers.js';

const SHOTS = path.join(REPO_ROOT, 'test-results', 'ui');
const PASSWORD = 'remote-Pa55word-that-must-never-show';
const s = serverPerFile({
  config: {
    auth: {
      token: { signingkeysecret: 'replication-ui-test-signing-secret-0123' },
      accounts: { adminpassword: ADMIN.password, bcryptcost: 4, loginlimit: 1000, addresslimit: 100000 },
    },
    // The remote registry of these tests listens on loopback; runs start on demand only (no job
    // copying for the policy the first test makes scheduled).
    replication: { allow: ['127.0.0.1'], enabled: false },
  } as never,
});
/** The remote registry: another Berth, open (no auth). */
const target = serverPerFile();

let browser: Browser;
let alice: User;
let pushed = '';

const desktop = () => browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });

async function assertNoHorizontalOverflow(page: Page, what: string): Promise<void> {
  const m = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth }));
  assert.ok(m.scroll <= m.view && m.body <= m.view, `${what}: page is ${Math.max(m.scroll, m.body)} px wide in a ${m.view} px viewport`);
}

describe('web UI: replication policies', () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const launching = launchChromium();
    alice = await addUser(s, 'alice');
    pushed = await pushImage(s, alice, 'alice/app', 'v1');
    browser = await launching;
  });

  after(async () => {
    await browser?.close();
  });

  it('creates a policy through the form (a refused name shows the API message), lists it, edits and deletes it', async () => {
    const context = await desktop();
    const page = await signInAs(context, s.url, ADMIN);
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByRole('link', { name: 'Replication' }).click();
    await page.getByRole('heading', { name: 'Replication policies' }).waitFor();
    await page.getByText('No replication policies.').waitFor();

    await page.getByRole('button', { name: 'New policy' }).click();
    // The defaults a new policy starts from: every repository and tag, pushed on each push.
    assert.equal(await page.getByLabel(/^Repositories/).inputValue(), '**');
    assert.equal(await page.getByLabel(/^Tags/).inputValue(), '*');
    assert.equal(await page.getByLabel('Trigger').inputValue(), 'event');
    await page.getByLabel(/^Name/).fill('To Target');
    await page.getByLabel(/^URL/).fill(target.url);
    await page.getByLabel(/^Username/).fill('replicator');
    await page.getByLabel(/^Password or token/).fill(PASSWORD);
    await page.getByLabel(/^Repositories/).fill('alice/*');
    await page.getByLabel(/^Prefix on the remote registry/).fill('copy');
    await page.getByLabel('Trigger').selectOption('manual');
    // A name the API does not take: its message, and nothing stored.
    await page.getByRole('button', { name: 'Create policy' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /name/);
    assert.deepEqual(ok(await call(s, 'GET', '/replication/policies', ADMIN)).policies, []);

    await page.getByLabel(/^Name/).fill('to-target');
    await page.getByRole('button', { name: 'Create policy' }).click();
    await page.getByText('Policy to-target created.').waitFor();
    const row = page.getByTestId('policy-to-target');
    await row.waitFor();
    const text = await row.innerText();
    assert.match(text, new RegExp(`to ${target.url.replace(/[.]/g, '\\.')} \\(prefix copy\\)`));
    assert.match(text, /as replicator with a stored password/);
    assert.match(text, /alice\/\*/);
    assert.match(text, /by hand/);
    assert.match(text, /never/, 'not run yet');
    const [stored] = ok(await call(s, 'GET', '/replication/policies', ADMIN)).policies;
    assert.equal(stored.name, 'to-target');
    assert.equal(stored.direction, 'push');
    assert.equal(stored.remoteUrl, target.url);
    assert.equal(stored.remoteUsername, 'replicator');
    assert.equal(stored.hasPassword, true);
    assert.deepEqual(stored.repositories, ['alice/*']);
    assert.deepEqual(stored.tags, ['*']);
    assert.equal(stored.remotePrefix, 'copy');
    assert.equal(stored.trigger, 'manual');
    assert.ok(!(await page.content()).includes(PASSWORD), 'the password is not on the page');
    await page.screenshot({ path: path.join(SHOTS, '40-replication-list.png'), fullPage: true });

    // Edit: the password is never filled in; leaving it empty keeps it, the checkbox removes it.
    await page.getByRole('button', { name: 'Edit to-target' }).click();
    await page.getByRole('heading', { name: 'Edit to-target' }).waitFor();
    assert.equal(await page.getByLabel(/^Password or token/).inputValue(), '');
    assert.equal(await page.getByLabel(/^Name/).inputValue(), 'to-target');
    assert.equal(await page.getByLabel('Trigger').inputValue(), 'manual');
    await page.getByLabel(/^Tags/).fill('v*, latest');
    await page.getByLabel('Trigger').selectOption('schedule');
    await page.getByLabel(/^Every/).fill('6h');
    await page.screenshot({ path: path.join(SHOTS, '41-replication-edit.png'), fullPage: true });
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByText('Policy to-target saved.').waitFor();
    await row.getByText('every 6h').waitFor();
    let now = ok(await call(s, 'GET', `/replication/policies/${stored.id}`, ADMIN));
    assert.deepEqual(now.tags, ['v*', 'latest']);
    assert.equal(now.interval, '6h');
    assert.equal(now.hasPassword, true, 'kept');

    await page.getByRole('button', { name: 'Edit to-target' }).click();
    await page.getByLabel('Remove the stored password').check();
    await page.getByRole('button', { name: 'Save policy' }).click();
    await row.getByText(/^as replicator$/).waitFor();
    now = ok(await call(s, 'GET', `/replication/policies/${stored.id}`, ADMIN));
    assert.equal(now.hasPassword, false);

    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Delete to-target' }).click();
    await page.getByText('No replication policies.').waitFor();
    assert.equal((await call(s, 'GET', `/replication/policies/${stored.id}`, ADMIN)).status, 404);
    await context.close();
  });

  it('runs a policy now and follows its history until the run has succeeded; the image is then on the remote registry', async () => {
    const p = ok(
      await call(s, 'POST', '/replication/policies', ADMIN, {
        name: 'run-me',
        direction: 'push',
        remoteUrl: target.url,
        repositories: ['alice/*'],
        remotePrefix: 'copy',
        trigger: 'manual',
      }),
      201,
    );
    const context = await desktop();
    const page = await signInAs(context, s.url, ADMIN);
    await page.goto(`${s.url}/ui/admin/replication`);
    const row = page.getByTestId('policy-run-me');
    await row.getByText('never').waitFor();
    await page.getByRole('button', { name: 'Run run-me now' }).click();
    await page.getByText(/Run of run-me started/).waitFor();
    const history = page.getByTestId('run-history');
    await history.getByRole('heading', { name: 'Runs of run-me' }).waitFor();
    await history.getByText('succeeded', { exact: true }).waitFor({ timeout: 30_000 });
    const [run] = ok(await call(s, 'GET', `/replication/policies/${p.id}/runs`, ADMIN)).runs;
    assert.equal(run.status, 'succeeded');
    assert.ok(run.copied >= 1);
    assert.match(await history.getByTestId(`run-${run.id}`).innerText(), /manual/);
    // The list reads the last run again too.
    await row.getByText('succeeded', { exact: true }).waitFor();
    const copied = await fetch(`${target.url}/v2/copy/alice/app/manifests/v1`, {
      method: 'HEAD',
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(copied.status, 200);
    assert.equal(copied.headers.get('docker-content-digest'), pushed);
    await page.screenshot({ path: path.join(SHOTS, '42-replication-history.png'), fullPage: true });
    await context.close();
  });

  it('fits a phone screen (390 px): the list, the form and the history', async () => {
    const p = ok(
      await call(s, 'POST', '/replication/policies', ADMIN, {
        name: 'phone-check-with-a-long-name',
        direction: 'push',
        remoteUrl: target.url,
        repositories: ['alice/**', 'team/some-long-repository-name/**'],
        excludeTags: ['*-rc*', 'nightly-*'],
        trigger: 'manual',
      }),
      201,
    );
    ok(await call(s, 'POST', `/replication/policies/${p.id}/run`, ADMIN), 202);
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'en-US' });
    const page = await signInAs(phone, s.url, ADMIN);
    await page.goto(`${s.url}/ui/admin/replication`);
    const row = page.getByTestId(`policy-${p.name}`);
    await row.waitFor();
    await assertNoHorizontalOverflow(page, 'policy list');
    await page.screenshot({ path: path.join(SHOTS, '43-replication-phone-list.png'), fullPage: true });
    await page.getByRole('button', { name: `History of ${p.name}` }).click();
    await page
      .getByTestId('run-history')
      .getByRole('heading', { name: `Runs of ${p.name}` })
      .waitFor();
    await page.getByTestId('run-history').locator('tbody tr').first().waitFor();
    await assertNoHorizontalOverflow(page, 'run history');
    await page.getByRole('button', { name: `Edit ${p.name}` }).click();
    await page.getByRole('heading', { name: `Edit ${p.name}` }).waitFor();
    await assertNoHorizontalOverflow(page, 'policy form');
    await page.screenshot({ path: path.join(SHOTS, '44-replication-phone-form.png'), fullPage: true });
    await phone.close();
  });

  it('shows a user who is not an administrator no Admin link and "Administrators only."', async () => {
    const context = await desktop();
    const page = await signInAs(context, s.url, alice);
    assert.equal(await page.getByRole('link', { name: 'Admin' }).count(), 0);
    await page.goto(`${s.url}/ui/admin/replication`);
    await page.getByText('Administrators only.').waitFor();
    assert.equal(await page.getByRole('button', { name: 'New policy' }).count(), 0);
    assert.equal((await call(s, 'GET', '/replication/policies', alice)).status, 403);
    await context.close();
  });
});
