// Vulnerability scanning in the web UI, in headless Chromium (Debian's package, driven by
// playwright-core) against a real Berth with the built-in scanner and the OSV fixture
// (test/fixtures/osv): the scanner's fixture images (test/helpers/scan-images.ts, package databases
// and lockfiles with known-vulnerable versions) are pushed to alice/web without scans on push.
// alice opens the Debian image, which is not scanned yet, presses "Scan now" and the page shows the
// report when the scan is done: the counts the fixture expects, each finding with its package,
// installed and fixed versions and severity; the severity toggles and the search filter them; the
// SBOM downloads as CycloneDX JSON. The Alpine image, scanned through the API, shows its counts by
// severity in the tag table. alice sets her namespace's vulnerability policy through the form (an
// allow-list entry the API refuses shows its message and stores nothing), and the report shows the
// policy's verdict. bob, who may pull but not push, sees the report without "Scan now". Desktop and
// 390 px phone, screenshots in test-results/ui/.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { serverPerFile, type TestServer } from '../helpers/api-server.js';
import { launchChromium, signInAs } from '../helpers/browser.js';
import { EXPECTED, OSV_FIXTURE_DIR, alpineImage, debianImage, type FixtureImage } from '../helpers/scan-images.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { TokenClient } from '../helpers/token-client.js';
import { ADMIN, addUser, call, ok, setVisibility, type User } from '../index/helpers.js';

const SHOTS = path.join(REPO_ROOT, 'test-results', 'ui');
const s: TestServer = serverPerFile({
  config: {
    auth: { token: {}, accounts: { adminpassword: ADMIN.password, bcryptcost: 4, loginlimit: 1000, addresslimit: 100000 } },
    scanning: { enabled: true, onpush: false, interval: '100ms', advisories: { directory: OSV_FIXTURE_DIR } },
  } as never,
});

let browser: Browser;
let alice: User;
let bob: User;
let debian: FixtureImage;
let alpine: FixtureImage;

async function pushFixture(who: User, repo: string, tag: string, image: FixtureImage): Promise<void> {
  const c = new TokenClient(s.url, who);
  await c.pushBlob(repo, image.config);
  for (const l of image.layers) await c.pushBlob(repo, l.bytes);
  const res = await c.fetch(`/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    body: image.manifest,
  });
  assert.equal(res.status, 201, `push ${repo}:${tag}: ${await res.text()}`);
}

/** Polls the API until the image's report is made (the scan job runs every 100 ms). */
async function scanned(repo: string, digest: string): Promise<any> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = ok(await call(s, 'GET', `/repositories/${repo}/manifests/${digest}/vulnerabilities`, alice));
    if (r.status === 'scanned' && !r.queued) return r;
    assert.ok(Date.now() < deadline, `no report of ${repo}@${digest}: ${JSON.stringify(r).slice(0, 300)}`);
    await sleep(100);
  }
}

async function assertNoHorizontalOverflow(page: Page, what: string): Promise<void> {
  const m = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth }));
  assert.ok(m.scroll <= m.view && m.body <= m.view, `${what}: page is ${Math.max(m.scroll, m.body)} px wide in a ${m.view} px viewport`);
}

const vulnCell = (page: Page, tag: string): Locator => page.getByTestId(`tag-${tag}`).locator('td[data-label="Vulnerabilities"]');
const findingRows = (section: Locator): Locator => section.locator('tbody tr');
const desktop = () => browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-US', acceptDownloads: true });
const phone = () => browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'en-US' });

describe('web UI: vulnerability scanning', () => {
  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const launching = launchChromium();
    alice = await addUser(s, 'alice');
    bob = await addUser(s, 'bob');
    debian = await debianImage();
    alpine = await alpineImage();
    await pushFixture(alice, 'alice/web', 'deb', debian);
    await pushFixture(alice, 'alice/web', 'alp', alpine);
    await setVisibility(s, alice, 'alice/web', 'public');
    browser = await launching;
  });

  after(async () => {
    await browser?.close();
  });

  it('scans an image on demand from its page and shows the report, filtered by severity and package', async () => {
    const context = await desktop();
    const page = await signInAs(context, s.url, alice);
    await page.goto(`${s.url}/ui/r/alice/web/-/tags`);
    await page.getByRole('columnheader', { name: 'Vulnerabilities' }).waitFor();
    assert.equal((await vulnCell(page, 'deb').innerText()).trim(), 'not scanned');

    await page.getByRole('link', { name: 'deb', exact: true }).click();
    const section = page.getByTestId('vulnerabilities');
    await section.getByText('Not scanned yet.').waitFor();
    await section.getByRole('button', { name: 'Scan now' }).click();
    // The page reads the report again until the scan is done.
    const verdict = section.getByRole('group', { name: 'Show severities' });
    await verdict.waitFor({ timeout: 60_000 });
    const want = EXPECTED.debian.counts;
    for (const [sev, n] of Object.entries(want)) {
      const label = sev.charAt(0).toUpperCase() + sev.slice(1);
      assert.equal((await verdict.getByRole('button', { name: new RegExp(`^${label}`) }).innerText()).replace(/\s+/g, ' ').trim(), `${label} ${n}`);
    }
    const total = Object.values(want).reduce((a, b) => a + b, 0);
    assert.equal(await findingRows(section).count(), total);
    assert.equal(total, EXPECTED.debian.findings.length);
    const lodash = section.getByTestId('finding-GHSA-35jh-r3h4-6jhm');
    assert.match(await lodash.locator('td[data-label="Package"]').innerText(), /^lodash\s+npm$/);
    assert.equal(await lodash.locator('td[data-label="Installed"]').innerText(), '4.17.20');
    assert.ok((await lodash.locator('td[data-label="Fixed in"]').innerText()).length > 0);
    await page.screenshot({ path: path.join(SHOTS, '50-scan-report.png'), fullPage: true });

    // Only critical: the toggle is pressed and the table has the critical findings alone.
    await verdict.getByRole('button', { name: /^Critical/ }).click();
    assert.equal(await verdict.getByRole('button', { name: /^Critical/ }).getAttribute('aria-pressed'), 'true');
    assert.equal(await findingRows(section).count(), want.critical);
    for (const sev of await findingRows(section).locator('td[data-label="Severity"] .badge').allInnerTexts()) assert.equal(sev, 'critical');
    await verdict.getByRole('button', { name: /^Critical/ }).click();
    await section.getByLabel('Package or vulnerability id').fill('lodash');
    assert.equal(await findingRows(section).count(), 1);
    await section.getByText(`1 of ${total} findings`).waitFor();
    await section.getByLabel('Package or vulnerability id').fill('');

    // The tag table shows the counts now.
    await page.goto(`${s.url}/ui/r/alice/web/-/tags`);
    await vulnCell(page, 'deb').getByText('3 critical').waitFor();
    assert.equal((await vulnCell(page, 'deb').innerText()).replace(/\s+/g, ' ').trim(), '3 critical 3 high 5 medium 1 low 1 unknown');
    await context.close();
  });

  it('shows counts by severity in the tag table for an image scanned through the API', async () => {
    ok(await call(s, 'POST', `/repositories/alice/web/manifests/${alpine.manifestDigest}/scan`, alice, {}), 202);
    await scanned('alice/web', alpine.manifestDigest);
    const context = await desktop();
    const page = await signInAs(context, s.url, alice);
    await page.goto(`${s.url}/ui/r/alice/web/-/tags`);
    await vulnCell(page, 'alp').getByText('1 critical').waitFor();
    assert.equal((await vulnCell(page, 'alp').innerText()).replace(/\s+/g, ' ').trim(), '1 critical 1 high 2 medium');
    await page.screenshot({ path: path.join(SHOTS, '51-scan-tags.png'), fullPage: true });
    await context.close();
  });

  it('downloads the SBOM as CycloneDX JSON', async () => {
    await scanned('alice/web', debian.manifestDigest);
    const context = await desktop();
    const page = await signInAs(context, s.url, alice);
    await page.goto(`${s.url}/ui/r/alice/web/-/manifests/deb`);
    const section = page.getByTestId('vulnerabilities');
    await section.getByRole('group', { name: 'Show severities' }).waitFor();
    const downloading = page.waitForEvent('download');
    await section.getByRole('button', { name: 'Download SBOM' }).click();
    const file = await downloading;
    assert.match(file.suggestedFilename(), /^alice_web-[0-9a-f]{12}\.cdx\.json$/);
    const sbom = JSON.parse(readFileSync(await file.path(), 'utf8'));
    assert.equal(sbom.bomFormat, 'CycloneDX');
    const names = (sbom.components as { name: string }[]).map((c) => c.name);
    for (const name of ['openssl', 'lodash', 'requests']) assert.ok(names.includes(name), `${name} in the SBOM components`);
    await context.close();
  });

  it("edits the namespace's vulnerability policy through the form, and the report shows its verdict", async () => {
    const context = await desktop();
    const page = await signInAs(context, s.url, alice);
    await page.goto(`${s.url}/ui/n/alice/security`);
    const card = page.getByTestId('vuln-policy');
    await card.getByText('The namespace has no policy of its own.').waitFor();
    await card.getByLabel(/Enforce:/).check();
    await card.getByLabel('Threshold', { exact: true }).selectOption('high');
    await card.getByLabel(/^Allowed vulnerabilities/).fill('not an id!');
    await card.getByRole('button', { name: 'Save vulnerability policy' }).click();
    await card.getByRole('alert').waitFor();
    assert.equal(ok(await call(s, 'GET', '/namespaces/alice/vulnerability-policy', alice)).namespace, null, 'nothing stored');

    await card.getByLabel(/^Allowed vulnerabilities/).fill('GHSA-35jh-r3h4-6jhm\nDSA-5585-1');
    await card.getByRole('button', { name: 'Save vulnerability policy' }).click();
    await card.getByText('Vulnerability policy saved.').waitFor();
    const stored = ok(await call(s, 'GET', '/namespaces/alice/vulnerability-policy', alice)).namespace;
    assert.equal(stored.mode, 'enforce');
    assert.equal(stored.severity, 'high');
    assert.deepEqual(stored.allowlist, ['DSA-5585-1', 'GHSA-35JH-R3H4-6JHM'], 'as the API keeps them: upper case, sorted');
    await card
      .getByTestId('vuln-effective')
      .getByText(/^enforce: high and above/)
      .waitFor();
    await page.screenshot({ path: path.join(SHOTS, '52-scan-policy-form.png'), fullPage: true });

    await page.goto(`${s.url}/ui/r/alice/web/-/manifests/deb`);
    const section = page.getByTestId('vulnerabilities');
    const verdict = section.getByTestId('vuln-verdict');
    await verdict.waitFor();
    assert.match(await verdict.innerText(), /^refused .*enforce, high and above.*findings? counts? against it, so pulls are refused/);
    assert.match(await section.getByTestId('finding-GHSA-35jh-r3h4-6jhm').innerText(), /allowed/);
    await context.close();
  });

  it('shows the report to a reader who may not push, without "Scan now"', async () => {
    const context = await desktop();
    const page = await signInAs(context, s.url, bob);
    await page.goto(`${s.url}/ui/r/alice/web/-/manifests/alp`);
    const section = page.getByTestId('vulnerabilities');
    await section.getByRole('group', { name: 'Show severities' }).waitFor();
    assert.equal(await section.getByRole('button', { name: 'Scan now' }).count(), 0);
    assert.equal((await call(s, 'POST', `/repositories/alice/web/manifests/${alpine.manifestDigest}/scan`, bob, {})).status, 403);
    await context.close();
  });

  it('fits a phone screen (390 px): the tag table, the report and the policy form', async () => {
    const context = await phone();
    const page = await signInAs(context, s.url, alice);
    await page.goto(`${s.url}/ui/r/alice/web/-/tags`);
    await vulnCell(page, 'deb').getByText('3 critical').waitFor();
    await assertNoHorizontalOverflow(page, 'tags');
    await page.screenshot({ path: path.join(SHOTS, '53-scan-tags-phone.png'), fullPage: true });
    await page.goto(`${s.url}/ui/r/alice/web/-/manifests/deb`);
    await page.getByTestId('vulnerabilities').getByRole('group', { name: 'Show severities' }).waitFor();
    await assertNoHorizontalOverflow(page, 'report');
    await page.screenshot({ path: path.join(SHOTS, '54-scan-report-phone.png'), fullPage: true });
    await page.goto(`${s.url}/ui/n/alice/security`);
    await page.getByTestId('vuln-policy').getByRole('button', { name: 'Save vulnerability policy' }).waitFor();
    await assertNoHorizontalOverflow(page, 'security policies');
    await page.screenshot({ path: path.join(SHOTS, '55-scan-policy-phone.png'), fullPage: true });
    await context.close();
  });
});
