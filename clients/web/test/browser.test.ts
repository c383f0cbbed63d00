/**
 * The reference web app in real headless Chromium, two devices of one user against a real
 * stack: live updates, offline edits, a conflict the user resolves, photos, devices, account.
 * Every screen passes axe-core without serious or critical violations. The screenshots in the
 * README are written here (docs/images/).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../../scripts/lib/tools.js';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import {
  axeViolations,
  type BrowserHandle,
  recordCspViolations,
  serveWebApp,
  startBrowser,
  type WebApp,
} from './harness.js';

const IMAGES = join(ROOT, 'docs', 'images');
const PASSWORD = 'correct horse battery';

let stack: TestStack;
let web: WebApp;
let chrome: BrowserHandle;
let laptop: BrowserContext;
let phone: BrowserContext;
let a: Page;
let b: Page;
const username = `ada${Date.now().toString(36)}`;
const timings: Record<string, number> = {};
/** Content-Security-Policy violations on either device: normal use must cause none. */
let cspViolations: string[][] = [];

async function expectAccessible(page: Page, screen: string) {
  expect(await axeViolations(page), `axe on ${screen}`).toEqual([]);
}

const naturalWidth = (img: unknown) => (img as { naturalWidth: number }).naturalWidth;
const titles = (page: Page) => page.locator('.entry-title').allTextContents();

async function openEntry(page: Page, title: string) {
  await page.locator('.entry-link', { hasText: title }).click();
  await page.getByRole('heading', { name: 'Edit entry' }).waitFor();
}

/** On the journal screen: its list drawn (an empty screen has no "not synced" marker), synced. */
async function waitSynced(page: Page) {
  await page.locator('.count:not(:empty)').waitFor();
  await page.locator('.sync-status[data-status="live"]').waitFor();
  await expect.poll(() => page.locator('.pending').count()).toBe(0);
}

/** Opens a screen by its address, as a person typing it would. */
async function goTo(page: Page, hash: string) {
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
}

/** Both devices show exactly these titles (each read until it does, never one from the other). */
async function expectTitles(want: string[]) {
  for (const page of [a, b])
    await expect.poll(async () => (await titles(page)).sort()).toEqual(want);
}

beforeAll(async () => {
  stack = await startTestStack('web', {
    AUTH_LOGIN_MAX_FAILURES_PER_USERNAME: '3',
  });
  web = await serveWebApp(stack.gateway);
  chrome = await startBrowser();
  // No service worker here: these tests are about sync between two devices, and a worker
  // installing beside them was seen offering an "update" mid-run on a busy machine (the
  // offline shell and updates are tested in product.test.ts).
  laptop = await chrome.browser.newContext({
    viewport: { width: 1100, height: 800 },
    serviceWorkers: 'block',
  });
  phone = await chrome.browser.newContext({
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 2,
    serviceWorkers: 'block',
  });
  cspViolations = [await recordCspViolations(laptop), await recordCspViolations(phone)];
  a = await laptop.newPage();
  b = await phone.newPage();
  for (const [name, page] of [
    ['laptop', a],
    ['phone', b],
  ] as const) {
    page.on('console', (m) => console.log(`[${name}] ${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => console.log(`[${name}] pageerror: ${e.message}`));
    page.on('requestfailed', (r) =>
      console.log(`[${name}] failed ${r.url()} ${r.failure()?.errorText}`),
    );
  }
  await mkdir(IMAGES, { recursive: true });
}, 240_000);

// On a failure, what each device showed (the assertion alone rarely says why).
afterEach(async (ctx) => {
  await laptop?.unrouteAll();
  // The app's CSP is strict (clients/web/csp.ts): a refused script, style or connection fails
  // the test that caused it.
  const violations = cspViolations.flat();
  cspViolations.forEach((v) => {
    v.length = 0;
  });
  expect(violations, 'Content-Security-Policy violations').toEqual([]);
  if (ctx.task.result?.state !== 'fail') return;
  for (const [name, page] of [
    ['laptop', a],
    ['phone', b],
  ] as const) {
    const text = await page
      ?.locator('body')
      .textContent({ timeout: 2000 })
      .catch(() => '(no page)');
    console.log(`--- ${name} at ${page?.url()} ---\n${text}`);
  }
});

afterAll(async () => {
  await chrome?.stop();
  await web?.stop();
  await stack?.stop();
  if (Object.keys(timings).length) console.log('web app timings (ms):', JSON.stringify(timings));
});

describe('journal web app, two devices, real browser', { timeout: 60_000 }, () => {
  it('signs up on the laptop with validation errors next to the field, and signs in on the phone', async () => {
    await a.goto(web.url);
    await a.getByRole('heading', { name: 'Sign in to your journal' }).waitFor();
    await expectAccessible(a, 'sign in');
    await a.getByRole('link', { name: 'Create an account' }).click();
    await a.getByRole('heading', { name: 'Create your journal' }).waitFor();
    await expectAccessible(a, 'sign up');

    // The server's validation answer, said next to the field that caused it.
    await a.getByLabel('Username').fill('a!');
    await a.getByLabel('Password', { exact: true }).fill('short');
    await a.getByLabel('Name of this device').fill('Laptop');
    await a.getByRole('button', { name: 'Create account' }).click();
    const usernameId = await a.getByLabel('Username').getAttribute('id');
    await expect
      .poll(() => a.locator(`#${usernameId}-error`).textContent())
      .toContain('3 to 64 characters');
    expect(await a.getByLabel('Username').getAttribute('aria-invalid')).toBe('true');
    await expectAccessible(a, 'sign up with errors');

    // Keyboard only: the fields in reading order, then Enter submits.
    await a.getByLabel('Username').fill(username);
    await a.keyboard.press('Tab');
    await a.keyboard.type(PASSWORD);
    await a.keyboard.press('Tab');
    expect(await a.evaluate<string>('document.activeElement.name')).toBe('deviceName');
    await a.keyboard.press('Tab');
    // "Keep my journal on this device after I sign out": off unless ticked.
    expect(await a.evaluate<string>('document.activeElement.name')).toBe('keep');
    expect(await a.evaluate<boolean>('document.activeElement.checked')).toBe(false);
    await a.keyboard.press('Tab');
    expect(await a.evaluate<string>('document.activeElement.textContent')).toBe('Create account');
    await a.keyboard.press('Enter');
    await a.getByRole('heading', { name: 'Journal', exact: true }).waitFor();
    // Focus moves to the new screen's heading.
    expect(await a.evaluate<string>('document.activeElement.tagName')).toBe('H1');
    await a.getByText('Nothing here yet.').waitFor();
    await expectAccessible(a, 'empty journal');

    // The phone: a wrong password is said in words, then too many attempts are (429; the
    // limiter counts per username, so this uses a name of its own).
    await b.goto(web.url);
    await b.getByLabel('Username').fill(`${username}-typo`);
    await b.getByLabel('Name of this device').fill('Phone');
    await b.getByLabel('Password', { exact: true }).fill('wrong-password');
    await b.getByRole('button', { name: 'Sign in' }).click();
    await b.getByText("That username and password don't match.").waitFor();
    for (let i = 0; i < 4; i++) {
      await b.getByLabel('Password', { exact: true }).fill(`wrong-password-${i}`);
      await b.getByRole('button', { name: 'Sign in' }).click();
      await b.locator('.form-error:not(:empty)').waitFor();
      if ((await b.locator('.form-error').textContent())?.includes('Too many attempts')) break;
    }
    expect(await b.locator('.form-error').textContent()).toMatch(
      /Too many attempts\. Please wait \d+ seconds/,
    );
    await expectAccessible(b, 'sign in with errors (phone)');
  });

  it('shows an entry written on the laptop on the phone without a reload', async () => {
    await b.getByLabel('Username').fill(username);
    await b.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await b.getByRole('button', { name: 'Sign in' }).click();
    await b.getByRole('heading', { name: 'Journal', exact: true }).waitFor();
    await waitSynced(b);

    await a.getByRole('link', { name: 'New entry' }).click();
    await a.getByRole('heading', { name: 'New entry' }).waitFor();
    await a.getByLabel('Title').fill('Morning at the lake');
    await a
      .getByLabel('What happened today?')
      .fill('Cold water, warm coffee.\nA heron stood still for an hour.');
    await a.getByText('Great').click();
    await a.getByLabel('Tags').fill('nature, coffee');
    await expectAccessible(a, 'editor');
    const saved = Date.now();
    await a.getByRole('button', { name: 'Done' }).click();
    await b.locator('.entry-title', { hasText: 'Morning at the lake' }).waitFor();
    timings.saveToOtherDevice = Date.now() - saved;
    // Live, not at the next poll: well under a long-poll's 25 s even on a loaded CI machine.
    expect(timings.saveToOtherDevice).toBeLessThan(15_000);
    await b.locator('.tag', { hasText: '#coffee' }).waitFor();
    expect(await b.locator('.mood').first().getAttribute('title')).toBe('Great');

    // A second entry, then client-side search by word and by tag.
    await a.getByRole('link', { name: 'New entry' }).click();
    await a.getByLabel('Title').fill('Groceries');
    await a.getByLabel('What happened today?').fill('Bread, apples, more coffee.');
    await a.getByLabel('Tags').fill('errands');
    await a.getByRole('button', { name: 'Done' }).click();
    await b.locator('.entry-title', { hasText: 'Groceries' }).waitFor();
    await a.getByLabel('Search').fill('#nature');
    await expect.poll(() => titles(a)).toEqual(['Morning at the lake']);
    await a.getByLabel('Search').fill('coffee');
    await expect
      .poll(async () => (await titles(a)).sort())
      .toEqual(['Groceries', 'Morning at the lake']);
    await a.getByLabel('Search').fill('');
    await expectAccessible(a, 'journal');
    await expectAccessible(b, 'journal (phone)');
  });

  it('keeps an edit made offline and syncs it when the phone is back; both converge', async () => {
    await waitSynced(b);
    await phone.setOffline(true);
    await b.locator('.sync-status[data-status="offline"]').waitFor();
    await openEntry(b, 'Groceries');
    await b.getByLabel('What happened today?').fill('Bread, apples, more coffee. And oat milk.');
    await b.getByText("Saved on this device. It will sync when you're back online.").waitFor();
    // A photo cannot go up offline: said next to the photo button, the text stays.
    await b.locator('#photo-input').setInputFiles({
      name: 'receipt.png',
      mimeType: 'image/png',
      buffer: Buffer.from('89504e470d0a1a0a', 'hex'),
    });
    await b.getByText("receipt.png was not added. You're offline").waitFor();
    expect(await b.getByLabel('What happened today?').inputValue()).toContain('oat milk');
    await b.getByRole('link', { name: '← Journal' }).click();
    await b.locator('.entry', { hasText: 'Groceries' }).locator('.pending').waitFor();
    await expectAccessible(b, 'journal offline (phone)');

    await phone.setOffline(false);
    await waitSynced(b);
    await openEntry(a, 'Groceries');
    await expect
      .poll(() => a.getByLabel('What happened today?').inputValue())
      .toContain('oat milk');
    await a.getByRole('link', { name: '← Journal' }).click();
  });

  it('shows a conflict when both edit while one is offline, and the choice wins on both', async () => {
    await waitSynced(b);
    await phone.setOffline(true);
    await b.locator('.sync-status[data-status="offline"]').waitFor();
    await openEntry(b, 'Morning at the lake');
    await b.getByLabel('Title').fill('Morning at the lake (from the phone)');
    await b.getByText("Saved on this device. It will sync when you're back online.").waitFor();

    // A slow network on the laptop: "Saved and synced." must wait for the server's answer (the
    // phone must find the laptop's version there, or the conflict would be the laptop's).
    await laptop.route('**/sync/push', async (route) => {
      await new Promise((r) => setTimeout(r, 1_000));
      await route.continue();
    });
    await openEntry(a, 'Morning at the lake');
    await a.getByLabel('Title').fill('Morning at the lake (from the laptop)');
    await a.getByText('Saved and synced.').waitFor();
    await a.getByRole('link', { name: '← Journal' }).click();

    await phone.setOffline(false);
    const conflict = b.getByRole('heading', { name: 'This entry was changed on two devices' });
    await conflict.waitFor();
    await laptop.unrouteAll();
    await b.locator('.version', { hasText: 'Morning at the lake (from the laptop)' }).waitFor();
    await expectAccessible(b, 'conflict (phone)');
    await b.screenshot({ path: join(IMAGES, 'web-conflict.png') });

    await b.getByRole('button', { name: "Keep this device's version" }).click();
    await conflict.waitFor({ state: 'detached' });
    expect(await b.getByLabel('Title').inputValue()).toBe('Morning at the lake (from the phone)');
    await a.locator('.entry-title', { hasText: 'Morning at the lake (from the phone)' }).waitFor();
    await b.getByRole('link', { name: '← Journal' }).click();
    await waitSynced(b);
    await expectTitles(['Groceries', 'Morning at the lake (from the phone)']);
  });

  it('shows a photo uploaded on the laptop on the phone', async () => {
    // A real PNG drawn by the browser (a sunset over the lake).
    const png = await a.evaluate<string>(`(() => {
      const c = document.createElement('canvas');
      c.width = 120;
      c.height = 90;
      const g = c.getContext('2d');
      const grad = g.createLinearGradient(0, 0, 0, 90);
      grad.addColorStop(0, '#f6a84b');
      grad.addColorStop(1, '#3b5b8c');
      g.fillStyle = grad;
      g.fillRect(0, 0, 120, 90);
      g.fillStyle = '#fff3c4';
      g.beginPath();
      g.arc(60, 62, 18, 0, Math.PI * 2);
      g.fill();
      return c.toDataURL('image/png').split(',')[1];
    })()`);
    await openEntry(a, 'Morning at the lake (from the phone)');
    await a.locator('#photo-input').setInputFiles({
      name: 'lake.png',
      mimeType: 'image/png',
      buffer: Buffer.from(png, 'base64'),
    });
    const thumb = a.getByRole('img', { name: 'Photo 1' });
    await thumb.waitFor();
    await expect.poll(() => thumb.evaluate(naturalWidth)).toBe(120);
    await a.getByText('Saved and synced.').waitFor();
    await expectAccessible(a, 'editor with a photo');
    await a.screenshot({ path: join(IMAGES, 'web-editor.png'), fullPage: true });
    await a.getByRole('button', { name: 'Done' }).click();

    const onPhone = b
      .locator('.entry', { hasText: 'Morning at the lake' })
      .getByRole('img', { name: 'Photo 1' });
    await onPhone.waitFor();
    await expect.poll(() => onPhone.evaluate(naturalWidth)).toBe(120);
    await a.locator('.thumb').first().waitFor();
    await a.screenshot({ path: join(IMAGES, 'web-journal.png'), fullPage: true });
  });

  it('keeps a draft typed just before the tab closes', async () => {
    await a.getByRole('link', { name: 'New entry' }).click();
    await a.getByLabel('What happened today?').fill('A thought I must not lose');
    await a.reload(); // before the autosave delay: the draft in localStorage brings it back
    await expect
      .poll(() => a.getByLabel('What happened today?').inputValue())
      .toBe('A thought I must not lose');
    await b
      .locator('.snippet, .entry-title', { hasText: 'A thought I must not lose' })
      .first()
      .waitFor();
  });

  it('downloads the journal as a zip and lists the devices', async () => {
    await a.getByRole('link', { name: 'Account' }).click();
    await a.getByRole('heading', { name: 'Account', exact: true }).waitFor();
    await expectAccessible(a, 'account');
    const [download] = await Promise.all([
      a.waitForEvent('download'),
      a.getByRole('button', { name: 'Download my journal' }).click(),
    ]);
    const file = await download.path();
    const zip = await readFile(file);
    expect(zip.subarray(0, 2).toString()).toBe('PK');
    expect(zip.includes(Buffer.from('entries.json'))).toBe(true);
    expect(zip.includes(Buffer.from('attachments/'))).toBe(true);

    await a.getByRole('link', { name: 'Devices' }).click();
    await a.getByRole('heading', { name: 'Your devices' }).waitFor();
    await a.locator('.device', { hasText: 'Phone' }).waitFor();
    await a
      .locator('.device', { hasText: 'Laptop' })
      .locator('.badge', { hasText: 'This device' })
      .waitFor();
    await expectAccessible(a, 'devices');
  });

  it('"sign out everywhere else" signs the phone out at its next call; its writing is kept', async () => {
    await a.getByRole('button', { name: 'Sign out everywhere else' }).click();
    // DELETE /auth/sessions/{id} of the other session: no password asked, this device stays.
    await a.getByText('Your other device is signed out.').waitFor();
    await expect.poll(() => a.locator('.device').count()).toBe(1);
    // The phone's next call is refused: it says why and asks to sign in again. (Its open
    // long-poll may find out first and take the links away: go by address, not by a link.)
    await goTo(b, '#/devices');
    await b.getByRole('heading', { name: 'Sign in to your journal' }).waitFor();
    await b.getByText('This device was signed out').waitFor();
    await expectAccessible(b, 'signed out (phone)');
    // The laptop is still signed in.
    await a
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Journal' })
      .click();
    await a.locator('.entry-title', { hasText: 'Groceries' }).waitFor();
    // Signing the phone in again finds its journal where it was.
    await b.getByLabel('Username').fill(username);
    await b.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await b.getByRole('button', { name: 'Sign in' }).click();
    await b.locator('.entry-title', { hasText: 'Groceries' }).waitFor();
    await waitSynced(b);
  });

  it('changes the password (the other device is signed out) and deletes the account', async () => {
    await a
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Account' })
      .click();
    await a.getByRole('heading', { name: 'Account', exact: true }).waitFor();
    await a.getByLabel('Current password').fill('not-my-password');
    await a.getByLabel('New password').fill('a new and longer passphrase');
    await a.getByRole('button', { name: 'Change password' }).click();
    await a.getByText("That password isn't right.").waitFor();
    await expectAccessible(a, 'account with an error');
    await a.getByLabel('Current password').fill(PASSWORD);
    await a.getByRole('button', { name: 'Change password' }).click();
    await a.getByText('Your password is changed. Your other devices are signed out.').waitFor();
    // The phone's session ended with the change: its next call finds out.
    await goTo(b, '#/devices');
    await b.getByRole('heading', { name: 'Sign in to your journal' }).waitFor();

    await a.getByLabel('Password', { exact: true }).fill('a new and longer passphrase');
    await a.getByLabel('I understand that my journal will be deleted.').check();
    await a.getByRole('button', { name: 'Delete my account' }).click();
    await a.getByText('Your account and journal are deleted.').waitFor();
    await a.getByRole('heading', { name: 'Create your journal' }).waitFor();
    // The credentials no longer work.
    await b.getByLabel('Username').fill(username);
    await b.getByLabel('Password', { exact: true }).fill('a new and longer passphrase');
    await b.getByRole('button', { name: 'Sign in' }).click();
    await b.getByText("That username and password don't match.").waitFor();
  });
});
