// The web UI's tag history and immutable-tag rules in headless Chromium (Debian's package, driven
// by playwright-core): the owner sees who moved a tag from what to what, restores the earlier image
// with the Restore button (the tag then points at it again), adds an immutable-tag rule for her
// namespace and sees a push over a matching tag refused; a reader sees the history without a
// Restore button. Screenshots go to test-results/ui/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, signInAs } from '../helpers/browser.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { TokenClient } from '../helpers/token-client.js';
import { addUser, call, indexServer, ok, pushImage, type User } from '../index/helpers.js';

const SHOTS = path.join(REPO_ROOT, 'test-results', 'ui');
const s = indexServer();

let browser: Browser;
let alice: User;
let bob: User;
let first = '';
let second = '';

async function tagDigest(who: User, repo: string, tag: string): Promise<string | null> {
  const res = await new TokenClient(s.url, who).fetch(`/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  return res.status === 200 ? res.headers.get('docker-content-digest') : null;
}

describe('web UI: tag history and immutable tags', () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const launching = launchChromium();
    alice = await addUser(s, 'alice');
    bob = await addUser(s, 'bob');
    first = await pushImage(s, alice, 'alice/app', 'v1');
    second = await pushImage(s, alice, 'alice/app', 'v1');
    ok(await call(s, 'PUT', '/repositories/alice/app/collaborators/bob', alice, { permission: 'read' }));
    browser = await launching;
  });

  after(async () => {
    await browser?.close();
  });

  it('shows the history and restores the earlier image', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signInAs(context, s.url, alice);
    await page.goto(`${s.url}/ui/r/alice/app/-/history`);
    const table = page.getByRole('table');
    await table.getByRole('row').nth(2).waitFor();
    const rows = table.getByRole('row');
    assert.equal(await rows.count(), 3, 'a header and two changes');
    assert.match(await rows.nth(1).innerText(), /v1\s+pushed[\s\S]*alice/);
    assert.equal(
      await rows
        .nth(1)
        .getByRole('button', { name: /^Copy digest/ })
        .first()
        .getAttribute('data-copy'),
      first,
      'moved from the first image',
    );
    await page.screenshot({ path: path.join(SHOTS, '20-tag-history.png'), fullPage: true });
    // The first push's row offers the restore (its image is not what v1 points at now).
    assert.equal(await rows.nth(1).getByRole('button', { name: 'Restore' }).count(), 0, 'v1 already points at the second image');
    page.once('dialog', (d) => void d.accept());
    await rows
      .nth(2)
      .getByRole('button', { name: `Restore v1 to ${first}` })
      .click();
    await page.getByText(`v1 restored to ${first}.`).waitFor();
    assert.equal(await tagDigest(alice, 'alice/app', 'v1'), first);
    await table.getByRole('row').filter({ hasText: 'restored' }).waitFor();
    assert.match(await table.getByRole('row').nth(1).innerText(), /v1\s+restored[\s\S]*alice/);
    await context.close();
    void second;
  });

  it('shows a reader the history without Restore buttons', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signInAs(context, s.url, bob);
    await page.goto(`${s.url}/ui/r/alice/app/-/history`);
    await page.getByRole('table').getByRole('row').nth(3).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Restore' }).count(), 0);
    await context.close();
  });

  it('adds an immutable-tag rule for the namespace; a push over a matching tag is then refused', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await signInAs(context, s.url, alice);
    await page.goto(`${s.url}/ui/r/alice/app/-/history`);
    await page.getByRole('link', { name: 'Immutable tags of alice' }).click();
    await page.getByRole('heading', { name: 'Immutable tags of alice' }).waitFor();
    await page.getByText('No rules').waitFor();
    await page.getByLabel('Name').fill('releases');
    await page.getByLabel('Tags', { exact: true }).fill('v*');
    await page.getByLabel(/^Except tags/).fill('*-dev');
    await page.getByRole('button', { name: 'Add rule' }).click();
    const row = page.getByTestId('rule-releases');
    await row.waitFor();
    assert.match(await row.innerText(), /releases\s+\*\*\s+v\*\s+tags \*-dev/);
    await page.screenshot({ path: path.join(SHOTS, '21-immutable-tag-rules.png'), fullPage: true });
    const rules = ok(await call(s, 'GET', '/namespaces/alice/immutable-tag-rules', alice)).rules;
    assert.deepEqual(
      rules.map((r: { name: string; tags: string; excludeTags: string[] }) => [r.name, r.tags, r.excludeTags]),
      [['releases', 'v*', ['*-dev']]],
    );
    await assert.rejects(pushImage(s, alice, 'alice/app', 'v1'), /DENIED/);
    // The tags tab marks the tag.
    await page.goto(`${s.url}/ui/r/alice/app/-/tags`);
    const v1 = page
      .getByRole('table')
      .getByRole('row')
      .filter({ has: page.getByRole('link', { name: 'v1', exact: true }) });
    await v1.getByText('immutable').waitFor();
    assert.equal(await v1.getByText('immutable').getAttribute('title'), 'Immutable: rule releases of alice');
    await page.goto(`${s.url}/ui/n/alice/tag-rules`);
    await row.waitFor();
    // A bad pattern is explained, not stored.
    await page.getByLabel('Name').fill('broken');
    await page.getByLabel('Tags', { exact: true }).fill('v[0-9');
    await page.getByRole('button', { name: 'Add rule' }).click();
    await page.getByRole('alert').waitFor();
    page.once('dialog', (d) => void d.accept());
    await row.getByRole('button', { name: 'Remove' }).click();
    await page.getByText('No rules').waitFor();
    await pushImage(s, alice, 'alice/app', 'v1');
    await context.close();
  });
});
