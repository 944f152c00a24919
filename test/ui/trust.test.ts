// Signature trust in the web UI, in headless Chromium (Debian's package, driven by playwright-core)
// against a real Berth: cosign signatures made byte for byte as cosign writes them
// (test/helpers/signatures.ts) are pushed next to alice's images; her namespace's trust policy
// (from the configuration file) trusts one key. The tag table then says v1 is verified (by that
// key), v2 unsigned and v3 untrusted (signed with another key); the manifest page lists each
// signature with its format, signer, status and reason. bob edits his namespace's trust policy
// through the form (a key that is not PEM shows the API's message and stores nothing), and his
// signed image becomes verified; the administrator edits the global policy under Admin → Security,
// which a user who is not an administrator cannot reach. Desktop and 390 px phone, with screenshots
// in test-results/ui/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { serverPerFile, type TestServer } from '../helpers/api-server.js';
import { launchChromium, signInAs } from '../helpers/browser.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { cosignLegacySignature, makeKey, type SignatureArtifact, type TestKey } from '../helpers/signatures.js';
import { TokenClient } from '../helpers/token-client.js';
import { ADMIN, addUser, call, ok, pushImage, type User } from '../index/helpers.js';

const SHOTS = path.join(REPO_ROOT, 'test-results', 'ui');
const release: TestKey = makeKey('ecdsa', 'release');
const stranger: TestKey = makeKey('ed25519', 'stranger');
const bobKey: TestKey = makeKey('rsa', 'bob-ci');

const s: TestServer = serverPerFile({
  config: {
    auth: { token: {}, accounts: { adminpassword: ADMIN.password, bcryptcost: 4, loginlimit: 1000, addresslimit: 100000 } },
    trust: { policies: { 'alice-release': { namespace: 'alice', mode: 'audit', keys: { release: release.publicKeyPem } } } },
  } as never,
});

let browser: Browser;
let alice: User;
let bob: User;
const digests: Record<string, string> = {};
const sigs: Record<string, SignatureArtifact> = {};

/** Pushes a signature's blobs and manifest as cosign does (by its .sig tag). */
async function pushSignature(who: User, repo: string, sig: SignatureArtifact): Promise<void> {
  const c = new TokenClient(s.url, who);
  for (const b of sig.blobs) await c.pushBlob(repo, b.bytes);
  const res = await c.fetch(`/v2/${repo}/manifests/${sig.tag ?? sig.digest}`, {
    method: 'PUT',
    headers: { 'Content-Type': sig.mediaType },
    body: sig.manifest,
  });
  assert.equal(res.status, 201, `push signature ${repo}: ${await res.text()}`);
}

async function assertNoHorizontalOverflow(page: Page, what: string): Promise<void> {
  const m = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth }));
  assert.ok(m.scroll <= m.view && m.body <= m.view, `${what}: page is ${Math.max(m.scroll, m.body)} px wide in a ${m.view} px viewport`);
}

/** The signature cell of a tag's row. */
const signatureCell = (page: Page, tag: string): Locator => page.getByTestId(`tag-${tag}`).locator('td[data-label="Signature"]');

const desktop = () => browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
const phone = () => browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'en-US' });

describe('web UI: signature trust', () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const launching = launchChromium();
    alice = await addUser(s, 'alice');
    bob = await addUser(s, 'bob');
    const host = new URL(s.url).host;
    for (const tag of ['v1', 'v2', 'v3']) digests[tag] = await pushImage(s, alice, 'alice/app', tag);
    sigs.v1 = cosignLegacySignature({ subjectDigest: digests.v1, reference: `${host}/alice/app`, key: release });
    sigs.v3 = cosignLegacySignature({ subjectDigest: digests.v3, reference: `${host}/alice/app`, key: stranger });
    await pushSignature(alice, 'alice/app', sigs.v1);
    await pushSignature(alice, 'alice/app', sigs.v3);
    digests.bob = await pushImage(s, bob, 'bob/tool', 'v1');
    await pushSignature(bob, 'bob/tool', cosignLegacySignature({ subjectDigest: digests.bob, reference: `${host}/bob/tool`, key: bobKey }));
    browser = await launching;
  });

  after(async () => {
    await browser?.close();
  });

  it('shows each tag as verified (with its signer), unsigned or untrusted in the tag table', async () => {
    const context = await desktop();
    const page = await signInAs(context, s.url, alice);
    await page.goto(`${s.url}/ui/r/alice/app/-/tags`);
    await page.getByRole('columnheader', { name: 'Signature' }).waitFor();
    assert.equal((await signatureCell(page, 'v1').innerText()).replace(/\s+/g, ' ').trim(), 'verified by release');
    assert.equal((await signatureCell(page, 'v2').innerText()).trim(), 'unsigned');
    assert.match(await signatureCell(page, 'v3').innerText(), /^untrusted/);
    // cosign's .sig tags are what they are, not "unsigned" images; the pull command names the newest image.
    assert.equal((await signatureCell(page, sigs.v1.tag!).innerText()).trim(), 'cosign signature');
    assert.match(await page.locator('.copy code').first().innerText(), /\/alice\/app:v3$/);
    await page.screenshot({ path: path.join(SHOTS, '40-trust-tags.png'), fullPage: true });
    await context.close();
  });

  it("lists a manifest's signatures with format, signer, status and reason", async () => {
    const context = await desktop();
    const page = await signInAs(context, s.url, alice);
    await page.goto(`${s.url}/ui/r/alice/app/-/tags`);
    await page.getByRole('link', { name: 'v1', exact: true }).click();
    const section = page.getByTestId('signatures');
    await section.getByRole('heading', { name: 'Signatures' }).waitFor();
    const row = section.getByTestId(`signature-${sigs.v1.digest.slice(7, 19)}`);
    await row.waitFor();
    assert.equal(await row.locator('td[data-label="Format"]').innerText(), 'cosign');
    assert.equal(await row.locator('td[data-label="Signer"]').innerText(), 'release');
    assert.equal(await row.locator('td[data-label="Status"]').innerText(), 'verified');
    assert.match(await section.innerText(), /audit mode/);
    await page.screenshot({ path: path.join(SHOTS, '41-trust-manifest-verified.png'), fullPage: true });

    await page.goto(`${s.url}/ui/r/alice/app/-/manifests/v3`);
    const untrusted = page.getByTestId('signatures').getByTestId(`signature-${sigs.v3.digest.slice(7, 19)}`);
    await untrusted.waitFor();
    assert.equal(await untrusted.locator('td[data-label="Status"]').innerText(), 'untrusted');
    assert.ok((await untrusted.locator('td[data-label="Reason"]').innerText()).length > 0, 'a reason is shown');

    await page.goto(`${s.url}/ui/r/alice/app/-/manifests/v2`);
    await page.getByTestId('signatures').getByText('No signature refers to this manifest.').waitFor();
    await context.close();
  });

  it("edits a namespace's trust policy through the form; a bad key shows the API's message and stores nothing", async () => {
    const context = await desktop();
    const page = await signInAs(context, s.url, bob);
    await page.goto(`${s.url}/ui/storage`);
    await page.getByRole('region', { name: 'bob' }).getByRole('link', { name: 'Security policies' }).click();
    await page.getByRole('heading', { name: 'Security policies of bob' }).waitFor();
    const card = page.getByTestId('trust-policy');
    await card.getByText('No policy is set here.').waitFor();
    await card.getByRole('button', { name: 'Add a key' }).click();
    await card.getByLabel(/^Key 1 name/).fill('bob-ci');
    await card.getByLabel(/^Key 1 public key/).fill('not a key');
    await card.getByLabel(/Enforce:/).check();
    await card.getByRole('button', { name: 'Save trust policy' }).click();
    await card.getByRole('alert').waitFor();
    assert.match(await card.getByRole('alert').innerText(), /key/i);
    assert.equal((await call(s, 'GET', '/namespaces/bob/trust-policy', bob)).status, 404, 'nothing stored');

    await card.getByLabel(/^Key 1 public key/).fill(bobKey.publicKeyPem);
    await card.getByRole('button', { name: 'Save trust policy' }).click();
    await card.getByText('Trust policy saved.').waitFor();
    const stored = ok(await call(s, 'GET', '/namespaces/bob/trust-policy', bob));
    assert.equal(stored.mode, 'enforce');
    assert.deepEqual(
      stored.keys.map((k: { name: string }) => k.name),
      ['bob-ci'],
    );
    await page.screenshot({ path: path.join(SHOTS, '42-trust-policy-form.png'), fullPage: true });

    // The signed image is now verified, in enforce mode.
    await page.goto(`${s.url}/ui/r/bob/tool/-/tags`);
    await page.getByRole('columnheader', { name: 'Signature' }).waitFor();
    assert.equal((await signatureCell(page, 'v1').innerText()).replace(/\s+/g, ' ').trim(), 'verified by bob-ci');
    await page.goto(`${s.url}/ui/r/bob/tool/-/manifests/v1`);
    await page
      .getByTestId('signatures')
      .getByText(/enforce mode/)
      .waitFor();

    // Removing it: the form is empty again, and so is the API.
    page.once('dialog', (d) => void d.accept());
    await page.goto(`${s.url}/ui/n/bob/security`);
    await page.getByTestId('trust-policy').getByRole('button', { name: 'Remove trust policy' }).click();
    await page.getByTestId('trust-policy').getByText('No policy is set here.').waitFor();
    assert.equal((await call(s, 'GET', '/namespaces/bob/trust-policy', bob)).status, 404);
    await context.close();
  });

  it('lets administrators edit the global policy under Admin → Security, and nobody else', async () => {
    const context = await desktop();
    const page = await signInAs(context, s.url, ADMIN);
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByRole('navigation', { name: 'Administration' }).getByRole('link', { name: 'Security' }).click();
    const card = page.getByTestId('trust-policy');
    await card.getByRole('heading', { name: 'Global signature trust policy' }).waitFor();
    await card.getByRole('button', { name: 'Add a key' }).click();
    await card.getByLabel(/^Key 1 name/).fill('release');
    await card.getByLabel(/^Key 1 public key/).fill(release.publicKeyPem);
    await card.getByRole('button', { name: 'Save trust policy' }).click();
    await card.getByText('Trust policy saved.').waitFor();
    const stored = ok(await call(s, 'GET', '/trust-policy', ADMIN));
    assert.equal(stored.mode, 'audit');
    assert.equal(stored.keys[0].name, 'release');
    await page.screenshot({ path: path.join(SHOTS, '43-trust-admin.png'), fullPage: true });
    await context.close();

    const other = await desktop();
    const bobPage = await signInAs(other, s.url, bob);
    assert.equal(await bobPage.getByRole('link', { name: 'Admin' }).count(), 0);
    await bobPage.goto(`${s.url}/ui/admin/security`);
    await bobPage.getByText('Administrators only.').waitFor();
    // Another user's namespace: the API says not found, and so does the page.
    await bobPage.goto(`${s.url}/ui/n/alice/security`);
    await bobPage.getByTestId('trust-policy').getByRole('alert').waitFor();
    await other.close();
  });

  it('fits a phone screen (390 px): the tag table, the signatures and the policy form', async () => {
    const context = await phone();
    const page = await signInAs(context, s.url, alice);
    await page.goto(`${s.url}/ui/r/alice/app/-/tags`);
    await signatureCell(page, 'v1').getByText('verified').waitFor();
    await assertNoHorizontalOverflow(page, 'tags');
    await page.screenshot({ path: path.join(SHOTS, '44-trust-tags-phone.png'), fullPage: true });
    await page.goto(`${s.url}/ui/r/alice/app/-/manifests/v1`);
    await page.getByTestId('signatures').getByText('release').first().waitFor();
    await assertNoHorizontalOverflow(page, 'manifest');
    await page.screenshot({ path: path.join(SHOTS, '45-trust-manifest-phone.png'), fullPage: true });
    await page.goto(`${s.url}/ui/n/alice/security`);
    // alice's policy comes from the configuration file: shown, not editable here.
    await page.getByTestId('trust-policy').getByText('Set in the configuration file (trust.policies.alice-release)').waitFor();
    assert.equal(await page.getByTestId('trust-policy').getByRole('button', { name: 'Save trust policy' }).count(), 0);
    await assertNoHorizontalOverflow(page, 'security policies');
    await page.screenshot({ path: path.join(SHOTS, '46-trust-policy-phone.png'), fullPage: true });
    await context.close();
  });
});
