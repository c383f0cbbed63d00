/**
 * The web app as a product, in real headless Chromium against a real stack, two devices of one
 * user: a hostile SVG "photo" stays inert and the strict CSP is never violated, the app opens
 * with no network (service worker) and syncs what was written offline, an entry's history
 * restores a version on both devices, a Day One export imports once however often it is
 * imported, and signing out or deleting the account leaves nothing of the journal in the
 * browser. axe-core checks every new screen. Writes docs/images/web-history.png and
 * web-offline.png for the README.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import type { BrowserContext, Page } from 'playwright-core';
import { build } from 'vite';
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
const ICONS = join(ROOT, 'clients', 'web', 'public', 'icons');
const PASSWORD = 'correct horse battery';
const username = `grace${Date.now().toString(36)}`;

let stack: TestStack;
let web: WebApp;
let chrome: BrowserHandle;
let laptop: BrowserContext;
let phone: BrowserContext;
let a: Page;
let b: Page;
let csp: string[][] = [];
const figures: Record<string, number | string> = {};

const titles = (page: Page) => page.locator('.entry-title').allTextContents();
const naturalWidth = (img: unknown) => (img as { naturalWidth: number }).naturalWidth;

async function expectAccessible(page: Page, screen: string) {
  expect(await axeViolations(page), `axe on ${screen}`).toEqual([]);
}

async function goTo(page: Page, hash: string) {
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
}

/** On the journal screen: its list drawn, live, nothing waiting to be pushed. */
async function waitSynced(page: Page) {
  await page.locator('.count:not(:empty)').waitFor();
  await page.locator('.sync-status[data-status="live"]').waitFor();
  await expect.poll(() => page.locator('.pending').count()).toBe(0);
}

async function signIn(page: Page, device: string) {
  await page.getByRole('heading', { name: 'Sign in to your journal' }).waitFor();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Name of this device').fill(device);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Journal', exact: true }).waitFor();
}

async function openEntry(page: Page, title: string) {
  await page.locator('.entry-link', { hasText: title }).click();
  await page.getByRole('heading', { name: 'Edit entry' }).waitFor();
}

async function writeEntry(page: Page, title: string, body = '') {
  await page.getByRole('link', { name: 'New entry' }).click();
  await page.getByRole('heading', { name: 'New entry' }).waitFor();
  await page.getByLabel('Title').fill(title);
  if (body) await page.getByLabel('What happened today?').fill(body);
  await page.getByRole('button', { name: 'Done' }).click();
  await page.getByRole('heading', { name: 'Journal', exact: true }).waitFor();
}

/** Every place a page can keep data: IndexedDB (every database and store), local and session
 * storage, Cache Storage (the service worker's caches too), as one text. */
async function everythingStored(page: Page): Promise<string> {
  return page.evaluate<string>(`(async () => {
    const out = [];
    const dbs = indexedDB.databases ? await indexedDB.databases() : [];
    for (const info of dbs) {
      const db = await new Promise((ok, ko) => {
        const r = indexedDB.open(info.name);
        r.onsuccess = () => ok(r.result);
        r.onerror = () => ko(r.error);
      });
      for (const name of db.objectStoreNames) {
        const rows = await new Promise((ok, ko) => {
          const r = db.transaction(name).objectStore(name).getAll();
          r.onsuccess = () => ok(r.result);
          r.onerror = () => ko(r.error);
        });
        out.push('idb ' + info.name + '/' + name + ' ' + JSON.stringify(rows));
      }
      db.close();
    }
    for (const s of [localStorage, sessionStorage])
      for (let i = 0; i < s.length; i++) out.push('storage ' + s.key(i) + '=' + s.getItem(s.key(i)));
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      for (const req of await cache.keys()) {
        const res = await cache.match(req);
        out.push('cache ' + name + ' ' + req.url + ' ' + (res ? await res.text() : ''));
      }
    }
    return out.join('\\n');
  })()`);
}

async function api(path: string, init: RequestInit & { token?: string } = {}) {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  return fetch(new URL(path, web.url), { ...init, headers });
}

beforeAll(async () => {
  stack = await startTestStack('web-product');
  web = await serveWebApp(stack.gateway);
  chrome = await startBrowser();
  laptop = await chrome.browser.newContext({ viewport: { width: 1100, height: 800 } });
  phone = await chrome.browser.newContext({
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 2,
  });
  csp = [await recordCspViolations(laptop), await recordCspViolations(phone)];
  a = await laptop.newPage();
  b = await phone.newPage();
  for (const [name, page] of [
    ['laptop', a],
    ['phone', b],
  ] as const) {
    page.on('pageerror', (e) => console.log(`[${name}] pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') console.log(`[${name}] ${m.text()}`);
    });
  }
  await mkdir(IMAGES, { recursive: true });
}, 240_000);

afterEach(async (ctx) => {
  const violations = csp.flat();
  for (const list of csp) list.length = 0;
  if (ctx.task.result?.state === 'fail') {
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
  }
  expect(violations, 'Content-Security-Policy violations').toEqual([]);
});

afterAll(async () => {
  await chrome?.stop();
  await web?.stop();
  await stack?.stop();
  if (Object.keys(figures).length) console.log('web product figures:', JSON.stringify(figures));
});

describe('the web app as a product, real browser', { timeout: 90_000 }, () => {
  it('sends a strict CSP, and records a violation when one happens', async () => {
    await a.goto(web.url);
    await a.getByRole('link', { name: 'Create an account' }).click();
    await a.getByLabel('Username').fill(username);
    await a.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await a.getByLabel('Name of this device').fill('Laptop');
    await a.getByRole('button', { name: 'Create account' }).click();
    await a.getByText('Nothing here yet.').waitFor();

    const page = await api('/');
    const policy = page.headers.get('content-security-policy') ?? '';
    for (const directive of [
      "script-src 'self'",
      "object-src 'none'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
      "connect-src 'self'",
    ])
      expect(policy).toContain(directive);
    // The recorder sees a violation (an inline script): the check after each test can fail.
    await a.evaluate(`(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__inlineRan = true';
      document.head.append(s);
    })()`);
    await expect.poll(() => csp[0]?.length).toBeGreaterThan(0);
    expect(await a.evaluate('window.__inlineRan === true')).toBe(false);
    for (const list of csp) list.length = 0;
  });

  it('opens with no network from the service worker, and syncs what was written offline', async () => {
    // The first visit installed the worker, and it took control of the page (clientsClaim).
    const controlled = () =>
      a.evaluate<string>(`navigator.serviceWorker.getRegistration().then((r) =>
        [r ? 'registered' : 'none', r?.active?.state, !!navigator.serviceWorker.controller].join(' '))`);
    await expect.poll(controlled, { timeout: 30_000 }).toBe('registered activated true');
    await b.goto(web.url);
    await signIn(b, 'Phone');
    await waitSynced(b);
    await writeEntry(a, 'Before the tunnel', 'Lights, then none.');
    await b.locator('.entry-title', { hasText: 'Before the tunnel' }).waitFor();
    await waitSynced(a);

    await laptop.setOffline(true);
    await a.reload();
    await a.getByRole('heading', { name: 'Journal', exact: true }).waitFor();
    await a.locator('.entry-title', { hasText: 'Before the tunnel' }).waitFor();
    await a.locator('.sync-status[data-status="offline"]').waitFor();
    await writeEntry(a, 'Written in the tunnel', 'No signal, still writing.');
    await a.locator('.entry', { hasText: 'Written in the tunnel' }).locator('.pending').waitFor();
    await expectAccessible(a, 'journal offline');
    await a.screenshot({ path: join(IMAGES, 'web-offline.png') });

    await laptop.setOffline(false);
    await b.locator('.entry-title', { hasText: 'Written in the tunnel' }).waitFor();
    await waitSynced(a);
  });

  it('offers a new deployment as "update available" and switches to it only when asked', async () => {
    const before = await a.evaluate<string>('document.documentElement.dataset.version');
    // A new deployment: the same folder rebuilt, with other files (and so another precache).
    process.env.VITE_APP_VERSION = 'next';
    try {
      await build({
        configFile: join(ROOT, 'clients', 'web', 'vite.config.ts'),
        logLevel: 'warn',
        build: { outDir: web.outDir, emptyOutDir: true },
      });
    } finally {
      delete process.env.VITE_APP_VERSION;
    }
    await a.evaluate('navigator.serviceWorker.getRegistration().then((r) => r.update())');
    const offer = a.getByRole('button', { name: 'Update now' });
    await offer.waitFor();
    await a.getByText('A new version of the journal is available.').waitFor();
    // Still the running version until the person accepts: nothing was swapped under it.
    expect(await a.evaluate('document.documentElement.dataset.version')).toBe(before);
    await expectAccessible(a, 'update available');
    await offer.click();
    await expect
      .poll(() => a.evaluate('document.documentElement.dataset.version').catch(() => 'reloading'))
      .toBe('next');
    await a.locator('.entry-title', { hasText: 'Written in the tunnel' }).waitFor();
    expect(await a.getByRole('button', { name: 'Update now' }).count()).toBe(0);
  });

  it('shows an SVG photo put through the API inert, and refuses it as a photo', async () => {
    // An SVG that would write to the app's storage if it ever ran, put through the API.
    const login = await api('/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: PASSWORD, deviceName: 'script' }),
    });
    const { accessToken: token } = (await login.json()) as { accessToken: string };
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" onload="localStorage.setItem(\'pwned\', \'onload\')">' +
      "<script>localStorage.setItem('pwned', 'script')</script><rect width='40' height='40'/></svg>";
    const put = await api('/attachments/evil-svg', {
      method: 'PUT',
      token,
      headers: { 'content-type': 'image/svg+xml' },
      body: svg,
    });
    expect(put.status).toBe(201);
    const download = await api('/attachments/evil-svg', { token });
    expect(download.headers.get('content-disposition')).toBe('attachment; filename="evil-svg"');
    expect(download.headers.get('content-security-policy')).toMatch(/^sandbox/);
    const pushed = await api('/sync/push', {
      method: 'POST',
      token,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        changes: [
          {
            id: 'svg-entry',
            baseRevision: 0,
            content: {
              title: 'A drawing',
              body: 'An SVG put here by a script',
              photos: [{ id: 'evil-svg', contentType: 'image/svg+xml' }],
              createdAt: new Date().toISOString(),
            },
          },
        ],
      }),
    });
    expect(pushed.status).toBe(200);

    // Shown: as an image of no allowed type, so it never renders, let alone runs.
    const thumb = a.locator('.entry', { hasText: 'A drawing' }).getByRole('img');
    await thumb.waitFor();
    await expect.poll(() => thumb.getAttribute('src')).toMatch(/^blob:/);
    const src = (await thumb.getAttribute('src')) as string;
    // An image/svg+xml Blob would render here (and run if opened): an octet-stream one never does.
    expect(
      await a.evaluate(`new Promise((done) => {
        const img = new Image();
        img.onload = () => done('rendered');
        img.onerror = () => done('refused');
        img.src = ${JSON.stringify(src)};
      })`),
    ).toBe('refused');
    await openEntry(a, 'A drawing');
    await a.getByRole('img', { name: 'Photo 1' }).waitFor();
    // Opened in a new tab: a download of octet-stream bytes, never a document of this origin.
    const [popup] = await Promise.all([
      laptop.waitForEvent('page'),
      a.evaluate(`void window.open(${JSON.stringify(src)})`),
    ]);
    await Promise.race([popup.waitForEvent('download'), popup.waitForLoadState('load')]).catch(
      () => {},
    );
    await popup.close();
    expect(await a.evaluate("localStorage.getItem('pwned')")).toBeNull();
    // Refused as a photo when chosen in the editor.
    await a.locator('#photo-input').setInputFiles({
      name: 'drawing.svg',
      mimeType: 'image/svg+xml',
      buffer: Buffer.from(svg),
    });
    await a.getByText('“drawing.svg” is not a picture').waitFor();
    await a.getByRole('link', { name: '← Journal' }).click();
  });

  it('lists an entry’s history; three edits, then the first version restored, reach the other device', async () => {
    await writeEntry(a, 'Plan: one', 'The first plan.');
    await b.locator('.entry-title', { hasText: 'Plan: one' }).waitFor();
    await openEntry(a, 'Plan: one');
    for (const [title, body] of [
      ['Plan: two', 'The second plan.'],
      ['Plan: three', 'The third plan.'],
    ] as const) {
      await a.getByLabel('Title').fill(title);
      await a.getByLabel('What happened today?').fill(body);
      await a.getByText('Saved and synced.').waitFor();
      await b.locator('.entry-title', { hasText: title }).waitFor();
    }
    await a.getByRole('link', { name: 'History' }).click();
    await a.getByRole('heading', { name: 'History of this entry' }).waitFor();
    await expect.poll(() => a.locator('.version-item').count()).toBe(3);
    expect(await a.locator('.version-title').allTextContents()).toEqual([
      'Plan: three',
      'Plan: two',
      'Plan: one',
    ]);
    await expectAccessible(a, 'history');
    await a.screenshot({ path: join(IMAGES, 'web-history.png'), fullPage: true });

    await a
      .locator('.version-item')
      .last()
      .getByRole('button', { name: /^Restore the version/ })
      .click();
    await a.getByRole('heading', { name: 'Edit entry' }).waitFor();
    await expect.poll(() => a.getByLabel('Title').inputValue()).toBe('Plan: one');
    await a.getByText('Saved and synced.').waitFor();
    await b.locator('.entry-title', { hasText: 'Plan: one' }).waitFor();
    // On the phone the restore is one more version, the newest.
    await openEntry(b, 'Plan: one');
    await b.getByRole('link', { name: 'History' }).click();
    await expect.poll(() => b.locator('.version-item').count()).toBe(4);
    expect(await b.locator('.version-title').first().textContent()).toBe('Plan: one');
    await expectAccessible(b, 'history (phone)');
    await goTo(b, '#/');
    await a.getByRole('link', { name: '← Journal' }).click();
  });

  it('imports a Day One export once, however often it is imported, with photos and time zones', async () => {
    const photos = await Promise.all(
      ['icon-192.png', 'maskable-192.png'].map(async (name) => {
        const bytes = await readFile(join(ICONS, name));
        return { bytes, md5: createHash('md5').update(bytes).digest('hex') };
      }),
    );
    const [p1, p2] = photos as [(typeof photos)[0], (typeof photos)[0]];
    const dayOne = {
      metadata: { version: '1.0' },
      entries: [
        {
          uuid: '0A1B2C3D4E5F60718293A4B5C6D7E8F9',
          creationDate: '2024-03-10T07:30:00Z',
          timeZone: 'America/Los_Angeles',
          text: '# Sunrise in Big Sur\n\n![](dayone-moment://AAA)\nFog below the road.',
          tags: ['Travel', 'coast'],
          photos: [{ identifier: 'AAA', md5: p1.md5, type: 'png' }],
        },
        {
          uuid: '1A1B2C3D4E5F60718293A4B5C6D7E8F9',
          creationDate: '2024-03-11T23:45:00Z',
          timeZone: 'Asia/Tokyo',
          text: 'Ramen at midnight\nA small place near the station.',
          tags: ['food'],
          photos: [{ identifier: 'BBB', md5: p2.md5, type: 'png' }],
        },
        {
          uuid: '2A1B2C3D4E5F60718293A4B5C6D7E8F9',
          creationDate: '2024-03-12T12:00:00Z',
          timeZone: 'Europe/Berlin',
          text: 'Lunch by the river',
          tags: [],
        },
      ],
    };
    const zip = Buffer.from(
      zipSync({
        'Journal.json': new TextEncoder().encode(JSON.stringify(dayOne)),
        [`photos/${p1.md5}.png`]: new Uint8Array(p1.bytes),
        [`photos/${p2.md5}.png`]: new Uint8Array(p2.bytes),
      }),
    );

    await a
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Account' })
      .click();
    await a.getByRole('link', { name: 'Import a journal' }).click();
    await a.getByRole('heading', { name: 'Import a journal' }).waitFor();
    await expectAccessible(a, 'import');
    const importFile = async (name: string, buffer: Buffer) => {
      await a
        .getByLabel('Journal file (zip)')
        .setInputFiles({ name, mimeType: 'application/zip', buffer });
      await a.getByRole('button', { name: 'Import' }).click();
    };

    // A malformed file is refused whole, in words.
    await importFile('notes.zip', Buffer.from('not a zip at all'));
    await a.getByText("This file can't be imported: This file is not a zip file").waitFor();
    await importFile(
      'broken.zip',
      Buffer.from(
        zipSync({ 'Journal.json': new TextEncoder().encode('{"entries": [{"uuid": 5}]}') }),
      ),
    );
    await a.getByText('has no valid uuid').waitFor();

    await importFile('dayone.zip', zip);
    const summary = a.locator('[data-added]');
    await summary.waitFor();
    expect(await summary.getAttribute('data-added')).toBe('3');
    await expectAccessible(a, 'import summary');
    await importFile('dayone.zip', zip);
    await expect.poll(() => summary.getAttribute('data-skipped')).toBe('3');
    expect(await summary.getAttribute('data-added')).toBe('0');

    // Each entry once, on both devices, with its photo and its instant (whatever the zone).
    await goTo(a, '#/');
    const want = ['Lunch by the river', 'Ramen at midnight', 'Sunrise in Big Sur'];
    for (const page of [a, b])
      await expect
        .poll(async () => (await titles(page)).filter((t) => want.includes(t)).sort())
        .toEqual(want);
    const sunrise = b.locator('.entry', { hasText: 'Sunrise in Big Sur' });
    await expect.poll(() => sunrise.getByRole('img').evaluate(naturalWidth)).toBe(192);
    expect(await sunrise.locator('.tag').allTextContents()).toEqual(['#travel', '#coast']);
    expect(await sunrise.locator('time').getAttribute('datetime')).toBe('2024-03-10T07:30:00.000Z');
    expect(
      await b
        .locator('.entry', { hasText: 'Ramen at midnight' })
        .locator('time')
        .getAttribute('datetime'),
    ).toBe('2024-03-11T23:45:00.000Z');
    await waitSynced(a);
  });

  it('signs out after waiting for an unsynced edit, and leaves nothing of the journal behind', async () => {
    const canary = `canary-${Date.now().toString(36)}`;
    await writeEntry(a, `Secret ${canary}`, `Only for me: ${canary}`);
    await b.locator('.entry-title', { hasText: `Secret ${canary}` }).waitFor();
    await waitSynced(a);
    expect(await everythingStored(a)).toContain(canary); // the check below can fail

    // An edit made offline waits; signing out says so and offers to wait for it.
    await laptop.setOffline(true);
    await a.locator('.sync-status[data-status="offline"]').waitFor();
    await openEntry(a, `Secret ${canary}`);
    await a.getByLabel('What happened today?').fill(`Only for me, edited offline: ${canary}`);
    await a.getByText("Saved on this device. It will sync when you're back online.").waitFor();
    await a
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Account' })
      .click();
    await a.getByRole('button', { name: 'Sign out', exact: true }).click();
    const dialog = a.getByRole('dialog', { name: 'Sign out of this device?' });
    await dialog.waitFor();
    await dialog.getByText('One edit made here has not reached the server yet.').waitFor();
    await dialog.getByText('Signing out removes your journal from this device').waitFor();
    await expectAccessible(a, 'sign-out dialog');
    await dialog.getByRole('button', { name: 'Wait for them, then sign out' }).click();
    await dialog.getByText("You're offline: one edit waits").waitFor();
    await laptop.setOffline(false);
    await a.getByRole('heading', { name: 'Sign in to your journal' }).waitFor();
    // The edit reached the server before the device forgot it.
    await openEntry(b, `Secret ${canary}`);
    await expect
      .poll(() => b.getByLabel('What happened today?').inputValue())
      .toContain('edited offline');
    await b.getByRole('link', { name: '← Journal' }).click();

    await expect.poll(() => everythingStored(a)).not.toContain(canary);
    expect(await everythingStored(a)).not.toContain('Sunrise in Big Sur');
    expect(await a.evaluate("localStorage.getItem('journal.user')")).toBeNull();
  });

  it('deleting the account leaves nothing of the journal on that device either', async () => {
    const stored = await everythingStored(b);
    expect(stored).toContain('Secret canary-'); // the phone has the journal until the deletion
    await goTo(b, '#/account');
    await b.getByRole('heading', { name: 'Account', exact: true }).waitFor();
    await b.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await b.getByLabel('I understand that my journal will be deleted.').check();
    await b.getByRole('button', { name: 'Delete my account' }).click();
    await b.getByText('Your account and journal are deleted.').waitFor();
    await expect.poll(() => everythingStored(b)).not.toContain('Secret canary-');
    const after = await everythingStored(b);
    for (const word of ['Sunrise in Big Sur', 'Plan: one', 'Before the tunnel'])
      expect(after).not.toContain(word);
  });
});
