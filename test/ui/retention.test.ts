// The web UI's retention policies in headless Chromium (Debian's package, driven by playwright-core):
// alice follows the link from her repository's History tab, creates a policy through the form
// (keep the latest pushed tag, delete images untagged for over an hour), dry-runs it and sees the
// tag and the bytes it would free while nothing changes, runs it and sees the tag and the old
// untagged image gone; a bad duration shows the API's message and stores nothing; she edits and
// deletes the policy. bob, a member (not an owner) of the organisation acme, sees acme's policy
// and may dry-run it (a tag an immutable-tag rule protects is listed as such), with no control to
// change it. The app's clock is a TestClock, so "untagged for over an hour" is a clock move, not a
// wait. Screenshots go to test-results/ui/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { serverPerFile } from '../helpers/api-server.js';
import { launchChromium, signInAs } from '../helpers/browser.js';
import { TestClock } from '../helpers/clock.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { TokenClient } from '../helpers/token-client.js';
import { ADMIN, addUser, call, ok, pushImage, type User } from '../index/helpers.js';

const SHOTS = path.join(REPO_ROOT, 'test-results', 'ui');
const HOUR = 3_600_000;
const clock = new TestClock();
const s = serverPerFile({
  config: { auth: { token: {}, accounts: { adminpassword: ADMIN.password, bcryptcost: 4, loginlimit: 1000, addresslimit: 100000 } } } as never,
  parts: { now: clock.now },
});

let browser: Browser;
let alice: User;
let bob: User;
/** An image pushed by digest two hours before the runs: old enough for `untagged: 1h`. */
let orphan = '';
let orphanBytes = 0;
let v1 = '';

const ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json';

async function manifestStatus(repo: string, ref: string): Promise<number> {
  const res = await new TokenClient(s.url, alice).fetch(`/v2/${repo}/manifests/${ref}`, { method: 'HEAD', headers: { Accept: ACCEPT } });
  return res.status;
}

/** The manifest's own bytes plus its config and layers: what collection frees when it goes (its blobs are its alone). */
async function imageBytes(repo: string, digest: string): Promise<number> {
  const res = await new TokenClient(s.url, alice).fetch(`/v2/${repo}/manifests/${digest}`, { headers: { Accept: ACCEPT } });
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200);
  const doc = JSON.parse(body.toString()) as { config: { size: number }; layers: { size: number }[] };
  return body.length + doc.config.size + doc.layers.reduce((a, l) => a + l.size, 0);
}

const newContext = () => browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });

describe('web UI: retention policies', () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const launching = launchChromium();
    alice = await addUser(s, 'alice');
    bob = await addUser(s, 'bob');
    orphan = await pushImage(s, alice, 'alice/app', null);
    v1 = await pushImage(s, alice, 'alice/app', 'v1');
    clock.advance(2 * HOUR);
    await pushImage(s, alice, 'alice/app', 'v2');
    orphanBytes = await imageBytes('alice/app', orphan);
    ok(await call(s, 'POST', '/orgs', alice, { name: 'acme' }), 201);
    ok(await call(s, 'PUT', '/orgs/acme/members/bob', alice, { role: 'member' }));
    await pushImage(s, alice, 'acme/web', 'v1');
    await pushImage(s, alice, 'acme/web', 'v2');
    // v1 is not among the latest pushed, but an immutable-tag rule protects it.
    ok(await call(s, 'POST', '/namespaces/acme/immutable-tag-rules', alice, { name: 'releases', tags: 'v1' }), 201);
    const nightly = { name: 'nightly', rules: [{ repositories: '**', tags: '*', keep: { latestPushed: 1 } }] };
    ok(await call(s, 'POST', '/namespaces/acme/retention-policies', alice, nightly), 201);
    browser = await launching;
  });

  after(async () => {
    await browser?.close();
  });

  it('creates a policy through the form, dry-runs it (tag and bytes listed, nothing deleted), runs it (tag gone)', async () => {
    const context = await newContext();
    const page = await signInAs(context, s.url, alice);
    await page.goto(`${s.url}/ui/r/alice/app/-/history`);
    await page.getByRole('link', { name: 'Retention policies of alice' }).click();
    await page.getByRole('heading', { name: 'Retention policies of alice' }).waitFor();
    await page.getByText('No retention policies').waitFor();

    await page.getByRole('button', { name: 'New policy' }).click();
    const rule = page.getByRole('group', { name: 'Rule 1' });
    // The defaults a new rule starts from.
    assert.equal(await rule.getByLabel(/^Latest pushed/).inputValue(), '10');
    assert.equal(await rule.getByLabel(/^Delete untagged images after/).inputValue(), '7d');
    await page.getByLabel(/^Name/).fill('keep-latest');
    await rule.getByLabel(/^Latest pushed/).fill('1');
    // A duration the API does not take: its message, and nothing stored.
    await rule.getByLabel(/^Delete untagged images after/).fill('an hour');
    await page.getByRole('button', { name: 'Create policy' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /untagged|duration/i);
    assert.deepEqual(ok(await call(s, 'GET', '/namespaces/alice/retention-policies', alice)).policies, []);

    await rule.getByLabel(/^Delete untagged images after/).fill('1h');
    await page.getByRole('button', { name: 'Create policy' }).click();
    const row = page.getByTestId('policy-keep-latest');
    await row.waitFor();
    assert.match(await row.innerText(), /latest 1 pushed; untagged after 1h/);
    assert.match(await row.innerText(), /never/, 'not run yet');
    const stored = ok(await call(s, 'GET', '/namespaces/alice/retention-policies/keep-latest', alice));
    assert.equal(stored.repository, null);
    assert.equal(stored.enabled, true);
    assert.equal(stored.rules.length, 1);
    assert.equal(stored.rules[0].repositories, '**');
    assert.equal(stored.rules[0].tags, '*');
    assert.equal(stored.rules[0].keep.latestPushed, 1);
    assert.equal(stored.rules[0].untagged, '1h');

    await page.getByRole('button', { name: 'Dry run keep-latest' }).click();
    const result = page.getByTestId('run-result');
    await result.getByRole('heading', { name: 'Dry run of keep-latest' }).waitFor();
    await result.getByTestId('tag-alice/app:v1').waitFor();
    assert.equal(await result.getByTestId('tag-alice/app:v2').count(), 0, 'the latest push is kept');
    assert.equal(
      await result
        .getByRole('button', { name: /^Copy digest/ })
        .first()
        .getAttribute('data-copy'),
      v1,
    );
    assert.match(await result.innerText(), new RegExp(`${orphan.slice(7, 19)}`), 'the old untagged image is listed');
    assert.match(await result.getByRole('status').first().innerText(), new RegExp(`\\(${orphanBytes.toLocaleString('en-US')} bytes\\)`));
    await page.screenshot({ path: path.join(SHOTS, '30-retention-dry-run.png'), fullPage: true });
    assert.equal(await manifestStatus('alice/app', 'v1'), 200, 'a dry run deletes nothing');
    assert.equal(await manifestStatus('alice/app', orphan), 200);

    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Run keep-latest now' }).click();
    await result.getByRole('heading', { name: 'Run of keep-latest' }).waitFor();
    await row.getByText(/1 tag, 1 image deleted/).waitFor();
    assert.equal(await manifestStatus('alice/app', 'v1'), 404);
    assert.equal(await manifestStatus('alice/app', orphan), 404);
    assert.equal(await manifestStatus('alice/app', 'v2'), 200);
    await page.screenshot({ path: path.join(SHOTS, '31-retention-run.png'), fullPage: true });

    // The repository's tags: v2 only.
    await page.goto(`${s.url}/ui/r/alice/app/-/tags`);
    await page.getByRole('link', { name: 'v2', exact: true }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'v1', exact: true }).count(), 0);
    await context.close();
  });

  it('edits and deletes the policy', async () => {
    const context = await newContext();
    const page = await signInAs(context, s.url, alice);
    await page.goto(`${s.url}/ui/storage`);
    await page.getByRole('region', { name: 'alice' }).getByRole('link', { name: 'Retention policies' }).click();
    const row = page.getByTestId('policy-keep-latest');
    await row.waitFor();
    await page.getByRole('button', { name: 'Edit keep-latest' }).click();
    const rule = page.getByRole('group', { name: 'Rule 1' });
    assert.equal(await rule.getByLabel(/^Latest pushed/).inputValue(), '1');
    await rule.getByLabel(/^Latest pushed/).fill('3');
    await rule.getByLabel(/^Except tags/).fill('latest, stable');
    await page.screenshot({ path: path.join(SHOTS, '32-retention-edit.png'), fullPage: true });
    await page.getByRole('button', { name: 'Save policy' }).click();
    await page.getByText('Policy keep-latest saved.').waitFor();
    // The list reloads after the save: wait for the changed rule rather than read the row at once.
    await row.getByText(/except tags latest, tags stable\): keep latest 3 pushed/).waitFor();
    const stored = ok(await call(s, 'GET', '/namespaces/alice/retention-policies/keep-latest', alice));
    assert.equal(stored.rules[0].keep.latestPushed, 3);
    assert.deepEqual(stored.rules[0].excludeTags, ['latest', 'stable']);

    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Delete keep-latest' }).click();
    await page.getByText('No retention policies').waitFor();
    assert.equal((await call(s, 'GET', '/namespaces/alice/retention-policies/keep-latest', alice)).status, 404);
    await context.close();
  });

  it('shows a member of the organisation its policies and dry run, without controls to change them', async () => {
    const context = await newContext();
    const page = await signInAs(context, s.url, bob);
    await page.goto(`${s.url}/ui/n/acme/retention`);
    const row = page.getByTestId('policy-nightly');
    await row.waitFor();
    await page.getByRole('button', { name: 'Dry run nightly' }).click();
    await page.getByRole('heading', { name: 'Dry run of nightly' }).waitFor();
    const result = page.getByTestId('run-result');
    assert.match(await result.innerText(), /A run would delete 0 tags and 0 images and keep 2 tags/);
    await result.getByRole('heading', { name: 'Kept by immutable-tag rules' }).waitFor();
    assert.match(await result.getByRole('listitem').first().innerText(), /^acme\/web:v1 \(rule releases\)$/);
    assert.equal(await result.getByRole('link', { name: 'releases' }).getAttribute('href'), '/ui/n/acme/tag-rules');
    for (const name of ['Run nightly now', 'Edit nightly', 'Delete nightly', 'New policy']) {
      assert.equal(await page.getByRole('button', { name }).count(), 0, `no ${name} button for a member`);
    }
    // What the API says to a member who tries anyway: the UI would show it; the policy stays.
    assert.equal((await call(s, 'DELETE', '/namespaces/acme/retention-policies/nightly', bob)).status, 403);
    // Another user's namespace is not found, as in the API.
    await page.goto(`${s.url}/ui/n/alice/retention`);
    await page.getByRole('alert').waitFor();
    assert.equal(await page.getByRole('button', { name: 'New policy' }).count(), 0);
    await context.close();
  });
});
