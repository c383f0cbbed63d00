/**
 * The devices of encryption.test.ts: one user, signing in, writing, and what the server holds of
 * the journal (read through the gateway, as an inspector would).
 */
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { axeViolations } from './harness.js';

export const PASSWORD = 'correct horse battery';
/** The web app's address (set once it is served) and the user all devices sign in as. */
export const user = { url: '', username: `ada${Date.now().toString(36)}` };

export const titles = (page: Page) => page.locator('.entry-title').allTextContents();
export const naturalWidth = (img: unknown) => (img as { naturalWidth: number }).naturalWidth;
export const goTo = (page: Page, hash: string) =>
  page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
export const accountLink = (page: Page) =>
  page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' });

export async function expectAccessible(page: Page, screen: string) {
  expect(await axeViolations(page), `axe on ${screen}`).toEqual([]);
}

export async function signIn(page: Page, device: string, signup = false) {
  await page.goto(user.url);
  if (signup) await page.getByRole('link', { name: 'Create an account' }).click();
  await page.getByLabel('Username').fill(user.username);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Name of this device').fill(device);
  await page.getByRole('button', { name: signup ? 'Create account' : 'Sign in' }).click();
}

export async function writeEntry(page: Page, title: string, body: string, photo?: Buffer) {
  await page.getByRole('link', { name: 'New entry' }).click();
  await page.getByRole('heading', { name: 'New entry' }).waitFor();
  await page.getByLabel('Title').fill(title);
  await page.getByLabel('What happened today?').fill(body);
  if (photo) {
    await page
      .locator('#photo-input')
      .setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: photo });
    await page.getByRole('img', { name: 'Photo 1' }).waitFor();
  }
  await page.getByRole('button', { name: 'Done' }).click();
  await page.getByRole('heading', { name: 'Journal', exact: true }).waitFor();
}

export async function waitSynced(page: Page) {
  await page.locator('.sync-status[data-status="live"]').waitFor();
  await expect.poll(() => page.locator('.pending').count()).toBe(0);
}

/** Everything the server holds of the user's entries and attachments, through the gateway. */
export async function serverHolds() {
  const call = async (path: string, token?: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (token) headers.set('authorization', `Bearer ${token}`);
    if (init.body) headers.set('content-type', 'application/json');
    return fetch(new URL(path, user.url), { ...init, headers });
  };
  const login = await call('/auth/login', undefined, {
    method: 'POST',
    body: JSON.stringify({ username: user.username, password: PASSWORD, deviceName: 'inspector' }),
  });
  const { accessToken: token } = (await login.json()) as { accessToken: string };
  const changes = (await (await call('/sync/changes?since=0&limit=1000', token)).json()) as {
    changes: { id: string; content: Record<string, unknown> | null; deleted: boolean }[];
  };
  const files = (await (await call('/attachments', token)).json()) as {
    attachments: { id: string; contentType: string }[];
  };
  return { token, call, entries: changes.changes, files: files.attachments };
}
