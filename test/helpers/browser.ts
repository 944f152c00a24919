// Debian's Chromium, headless, for the UI tests (playwright-core drives it; no bundled browser).
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const CHROMIUM = process.env.BERTH_CHROMIUM ?? '/usr/bin/chromium';

/** Starts the browser; throws (never skips) when it is not installed. */
export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (scripts/install-test-deps.sh)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
    ],
  });
}

/** Signs `who` in through the UI's form in a new page of `context`; resolves once signed in. */
export async function signInAs(context: BrowserContext, baseUrl: string, who: { user: string; password: string }): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${baseUrl}/ui/sign-in`);
  await page.getByLabel('Username').fill(who.user);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: /Sign out/ }).waitFor();
  return page;
}
