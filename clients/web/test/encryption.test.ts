/**
 * End-to-end encryption in the web app, headless Chromium against a real stack, three devices
 * of one user: the laptop writes entries and a photo and turns encryption on (the recovery key
 * once, three words asked back, the migration's progress); the server then holds envelopes and
 * encrypted files only. The phone signs in locked, keeps an edit made while locked, unlocks with
 * the passphrase, sees entries and photo, and search works; after a passphrase change on the
 * laptop a third device is refused the old one once, in words, and gets in with the recovery
 * key. An entry no key opens is announced. Badge, axe-core, no CSP violation (Argon2id runs as
 * WebAssembly). Writes docs/images/web-recovery-key.png and web-unlock.png for the README.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../../scripts/lib/tools.js';
import { startTestStack, type TestStack } from '../../../test-support/stack.js';
import {
  accountLink,
  expectAccessible,
  goTo,
  naturalWidth,
  PASSWORD,
  serverHolds,
  signIn,
  titles,
  user,
  waitSynced,
  writeEntry,
} from './encryption-devices.js';
import {
  type BrowserHandle,
  recordCspViolations,
  serveWebApp,
  startBrowser,
  type WebApp,
} from './harness.js';

const PASSPHRASE = 'five quiet lanterns over the bay';
const NEW_PASSPHRASE = 'seven paper boats at dawn';
const RECOVERED_PASSPHRASE = 'a new key for the third device';
const ENCRYPTED_TYPE = 'application/vnd.journal.encrypted';
const IMAGES = join(ROOT, 'docs', 'images');

let stack: TestStack;
let web: WebApp;
let chrome: BrowserHandle;
const csp: string[][] = [];
let a: Page; // the laptop: turns encryption on
let b: Page; // the phone: unlocks with the passphrase
let c: Page; // a third device: recovers with the recovery key
let recoveryWords: string[] = [];

beforeAll(async () => {
  stack = await startTestStack('web-encryption');
  web = await serveWebApp(stack.gateway);
  user.url = web.url;
  chrome = await startBrowser();
  const pages: Page[] = [];
  for (const name of ['laptop', 'phone', 'third']) {
    const context = await chrome.browser.newContext({ serviceWorkers: 'block' });
    csp.push(await recordCspViolations(context));
    const page = await context.newPage();
    page.on('pageerror', (e) => console.log(`[${name}] pageerror: ${e.message}`));
    pages.push(page);
  }
  [a, b, c] = pages as [Page, Page, Page];
}, 240_000);

afterEach(async (ctx) => {
  const violations = csp.flat();
  for (const list of csp) list.length = 0;
  if (ctx.task.result?.state === 'fail')
    for (const [name, page] of [
      ['laptop', a],
      ['phone', b],
      ['third', c],
    ] as const)
      console.log(
        `--- ${name} at ${page?.url()} ---\n${await page
          ?.locator('body')
          .textContent({ timeout: 2000 })
          .catch(() => '(no page)')}`,
      );
  expect(violations, 'Content-Security-Policy violations').toEqual([]);
});

afterAll(async () => {
  await chrome?.stop();
  await web?.stop();
  await stack?.stop();
});

describe('end-to-end encryption in the web app, three devices', { timeout: 120_000 }, () => {
  it('turns encryption on: the recovery key once, three words asked back, the journal migrated', async () => {
    await signIn(a, 'Laptop', true);
    await a.getByText('Nothing here yet.').waitFor();
    const photo = await readFile(join(ROOT, 'clients/web/public/icons/icon-192.png'));
    await writeEntry(a, 'Harbour walk', 'Gulls over the lighthouse.', photo);
    await writeEntry(a, 'Market day', 'Plums and a paper kite.');
    await waitSynced(a);
    expect((await serverHolds()).entries.some((e) => e.content?.title === 'Harbour walk')).toBe(
      true,
    ); // plaintext before: the check below can fail
    expect(await a.locator('#e2e-badge').isVisible()).toBe(false);

    await accountLink(a).click();
    const section = a.locator('#e2e');
    await section.getByRole('heading', { name: 'End-to-end encryption' }).waitFor();
    await expectAccessible(a, 'account, encryption off');
    await section.getByText('If you lose both, nobody can open your journal again').waitFor();
    await a.getByLabel('Encryption passphrase', { exact: true }).fill('too short');
    await a.getByRole('button', { name: 'Turn on encryption' }).click();
    await section.getByText('Use at least 10 characters.').waitFor();
    await a.getByLabel('Encryption passphrase', { exact: true }).fill(PASSWORD);
    await a.getByLabel('Repeat the passphrase').fill(PASSWORD);
    await a.getByLabel('Your account password').fill(PASSWORD);
    await a.getByRole('button', { name: 'Turn on encryption' }).click();
    await section.getByText('Choose a passphrase different from your account password.').waitFor();
    await a.getByLabel('Encryption passphrase', { exact: true }).fill(PASSPHRASE);
    await a.getByLabel('Repeat the passphrase').fill(PASSPHRASE);
    // Every text the progress line shows, recorded as it changes.
    await a.evaluate(`(() => {
      window.__progress = [];
      new MutationObserver(() => {
        const t = document.getElementById('e2e-progress')?.textContent;
        if (t && window.__progress.at(-1) !== t) window.__progress.push(t);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    })()`);
    await a.getByRole('button', { name: 'Turn on encryption' }).click();

    const words = a.locator('#recovery-words li');
    await expect.poll(() => words.count(), { timeout: 30_000 }).toBe(24);
    recoveryWords = await words.allTextContents();
    await expectAccessible(a, 'recovery key');
    await a.locator('#e2e').screenshot({ path: join(IMAGES, 'web-recovery-key.png') });
    await a.getByRole('button', { name: 'Continue' }).click();
    await section.getByText('Write the words down first, then tick the box.').waitFor();
    await a.getByLabel('I have written it down').check();
    await a.getByRole('button', { name: 'Continue' }).click();
    expect(await words.count()).toBe(0); // shown once: gone from the page
    const [w3, w11, w20] = [3, 11, 20].map((n) => recoveryWords[n - 1] as string);
    await a.getByLabel('Word 3', { exact: true }).fill('notaword');
    await a.getByLabel('Word 11', { exact: true }).fill(w11 as string);
    await a.getByLabel('Word 20', { exact: true }).fill(w20 as string);
    await a.getByRole('button', { name: 'Confirm' }).click();
    await section.getByText('This is not word 3 of your recovery key.').waitFor();
    await a.getByLabel('Word 3', { exact: true }).fill(w3 as string);
    await a.getByRole('button', { name: 'Confirm' }).click();
    await section.getByText('Your recovery key is confirmed.').waitFor();
    await section.getByText('Your journal is end-to-end encrypted.').waitFor({ timeout: 60_000 });
    const progress = await a.evaluate<string[]>('window.__progress');
    expect(
      progress.some((t) => /^Encrypting \d+ of \d+ entries…$/.test(t)),
      progress.join(' | '),
    ).toBe(true);
    await a.getByRole('button', { name: 'Continue' }).click();
    await section.getByRole('button', { name: 'Change encryption passphrase' }).waitFor();
    await expectAccessible(a, 'account, encryption on');
    const badge = a.getByRole('link', { name: 'End-to-end encrypted' });
    await badge.waitFor();

    // The server holds envelopes and encrypted files only: no title, no photo type.
    const held = await serverHolds();
    const current = held.entries.filter((e) => !e.deleted);
    expect(current.length).toBe(2);
    for (const e of current)
      expect(Object.keys(e.content ?? {}).sort()).toEqual(['alg', 'ct', 'kid', 'n', 'v']);
    expect(JSON.stringify(held.entries)).not.toContain('Harbour');
    expect(held.files.map((f) => f.contentType)).toEqual([ENCRYPTED_TYPE]);
    // And the laptop still shows its photo, now through the encrypted attachment.
    await goTo(a, '#/');
    const thumb = a.locator('.entry', { hasText: 'Harbour walk' }).getByRole('img');
    await expect.poll(() => thumb.evaluate(naturalWidth)).toBe(192);
  });

  it('a second device is locked, keeps what is written there, unlocks with the passphrase', async () => {
    await signIn(b, 'Phone');
    await b.getByRole('heading', { name: 'Unlock your journal' }).waitFor();
    await b.getByText('not even the server’s operators').waitFor();
    expect(await b.getByRole('link', { name: 'deleting your account' }).getAttribute('href')).toBe(
      '#/account/delete',
    );
    await expect
      .poll(() => b.locator('#e2e-badge').textContent())
      .toContain('this device is locked');
    await expectAccessible(b, 'unlock');
    await b.screenshot({ path: join(IMAGES, 'web-unlock.png'), fullPage: true });

    // Written while locked: kept on the device, sent (encrypted) once unlocked.
    await b.getByRole('link', { name: 'Open the journal without unlocking' }).click();
    await b.locator('.sync-status[data-status="locked"]').waitFor();
    await writeEntry(b, 'Ferry notes', 'Written on the phone while it was locked.');
    await b.locator('.entry', { hasText: 'Ferry notes' }).locator('.pending').waitFor();
    await accountLink(b).click();
    await b.getByRole('link', { name: 'Unlock this device' }).click();
    await b.getByLabel('Encryption passphrase', { exact: true }).fill(PASSPHRASE);
    await b.getByRole('button', { name: 'Unlock' }).click();
    await b.getByRole('heading', { name: 'Journal', exact: true }).waitFor();

    await expect
      .poll(async () => (await titles(b)).sort(), { timeout: 30_000 })
      .toEqual(['Ferry notes', 'Harbour walk', 'Market day']);
    await waitSynced(b);
    await a.locator('.entry-title', { hasText: 'Ferry notes' }).waitFor();
    const thumb = b.locator('.entry', { hasText: 'Harbour walk' }).getByRole('img');
    await expect.poll(() => thumb.evaluate(naturalWidth)).toBe(192);
    // Search runs on the device's decrypted journal.
    await b.getByLabel('Search').fill('lighthouse');
    await b.getByText('1 of 3 entries match “lighthouse”.').waitFor();
    expect(await titles(b)).toEqual(['Harbour walk']);
    await b.getByLabel('Search').fill('');
    await b.getByRole('link', { name: 'End-to-end encrypted' }).waitFor();
    const held = await serverHolds();
    expect(JSON.stringify(held.entries)).not.toContain('Ferry');
  });

  it('a passphrase change on the laptop leaves the phone unlocked', async () => {
    await accountLink(a).click();
    await a.getByLabel('Current encryption passphrase').fill('not the passphrase');
    await a.getByLabel('New encryption passphrase').fill(NEW_PASSPHRASE);
    await a.getByLabel('Repeat the passphrase').fill(NEW_PASSPHRASE);
    await a.getByRole('button', { name: 'Change encryption passphrase' }).click();
    await a.getByText("That passphrase doesn't open this journal.").waitFor({ timeout: 30_000 });
    await a.getByLabel('Current encryption passphrase').fill(PASSPHRASE);
    await a.getByRole('button', { name: 'Change encryption passphrase' }).click();
    await a.getByText('Your encryption passphrase is changed.').waitFor({ timeout: 30_000 });
    await goTo(a, '#/');
    await writeEntry(a, 'After the change', 'The phone still reads this.');
    await b.locator('.entry-title', { hasText: 'After the change' }).waitFor({ timeout: 30_000 });
  });

  it('a third device: the old passphrase refused once, in words; the recovery key lets it in', async () => {
    await signIn(c, 'Tablet');
    await c.getByRole('heading', { name: 'Unlock your journal' }).waitFor();
    await c.getByLabel('Encryption passphrase', { exact: true }).fill(PASSPHRASE);
    await c.getByRole('button', { name: 'Unlock' }).click();
    const refused = c.getByText("That passphrase doesn't open this journal.");
    await refused.waitFor({ timeout: 30_000 });
    // Asked once: the same screen, the field emptied, nothing retried behind the person.
    await c.getByRole('button', { name: 'Unlock' }).waitFor();
    expect(await c.getByLabel('Encryption passphrase', { exact: true }).inputValue()).toBe('');
    expect(await refused.count()).toBe(1);
    await c.locator('.sync-status[data-status="locked"]').waitFor();

    await c.getByText('Use your recovery key').click();
    await c.getByLabel('Recovery key (24 words)').fill(recoveryWords.slice(0, 23).join(' '));
    await c.getByRole('button', { name: 'Recover and set passphrase' }).click();
    await c.getByText('A recovery key is 24 words; this is 23.').waitFor();
    await c.getByLabel('Recovery key (24 words)').fill(recoveryWords.join('  ').toUpperCase());
    await c.getByLabel('New encryption passphrase').fill(RECOVERED_PASSPHRASE);
    await c.getByLabel('Repeat the passphrase').fill(RECOVERED_PASSPHRASE);
    await expectAccessible(c, 'unlock, recovery key');
    await c.getByRole('button', { name: 'Recover and set passphrase' }).click();
    await c.getByRole('heading', { name: 'Journal', exact: true }).waitFor({ timeout: 30_000 });
    await expect
      .poll(async () => (await titles(c)).sort(), { timeout: 30_000 })
      .toEqual(['After the change', 'Ferry notes', 'Harbour walk', 'Market day']);
    const thumb = c.locator('.entry', { hasText: 'Harbour walk' }).getByRole('img');
    await expect.poll(() => thumb.evaluate(naturalWidth)).toBe(192);
    await c.getByRole('link', { name: 'End-to-end encrypted' }).waitFor();
  });

  it('announces an entry no key opens instead of hiding it', async () => {
    const { token, call } = await serverHolds();
    const { bundle } = (await (await call('/auth/encryption', token)).json()) as {
      bundle: { currentKid: string };
    };
    const b64 = (n: number) => Buffer.alloc(n, 7).toString('base64url');
    const pushed = await call('/sync/push', token, {
      method: 'POST',
      body: JSON.stringify({
        changes: [
          {
            id: 'forged-entry',
            baseRevision: 0,
            content: {
              v: 1,
              alg: 'xchacha20-poly1305',
              kid: bundle.currentKid,
              n: b64(24),
              ct: b64(300),
            },
          },
        ],
      }),
    });
    expect(pushed.status).toBe(200);
    for (const page of [b, c]) {
      const notice = page.locator('#decryption-failures');
      await notice.waitFor({ timeout: 30_000 });
      expect(await notice.getAttribute('data-entries')).toBe('1');
      await page.getByText('1 entry could not be decrypted on this device').waitFor();
      expect(await page.locator('.entry-title').count()).toBe(4);
    }
    await expectAccessible(b, 'journal with a decryption failure');
  });
});
