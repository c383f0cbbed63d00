/**
 * End-to-end encryption across the app (docs/encryption.md): the header badge, the notice of
 * what could not be decrypted, the latest migration progress, and when a screen needs the
 * device unlocked first. The screens are screens/unlock.ts and the Account screen's section
 * (screens/encryption/).
 */
import './e2e.css';
import { client } from './client.js';
import { h } from './dom.js';

export type EncryptionState = typeof client.encryption.state;
export interface MigrationProgress {
  phase: 'attachments' | 'entries' | 'finishing' | 'done';
  done: number;
  total: number;
}

/** The last migration progress this device reported (its screen may open after it began). */
export const migration: { progress: MigrationProgress | undefined } = { progress: undefined };

/** Encryption is on for the account (whether or not this device holds the keys). */
export const encryptionOn = (state: EncryptionState = client.encryption.state) =>
  state === 'locked' || state === 'unlocked';

/** "Encrypting 120 of 300 entries…", in words, for a migration's progress. */
export function progressWords(p: MigrationProgress): string {
  const of = (noun: string, plural: string) =>
    `Encrypting ${p.done.toLocaleString('en')} of ${p.total.toLocaleString('en')} ${
      p.total === 1 ? noun : plural
    }…`;
  switch (p.phase) {
    case 'attachments':
      return p.total ? of('photo', 'photos') : 'Encrypting photos…';
    case 'entries':
      return p.total ? of('entry', 'entries') : 'Encrypting entries…';
    case 'finishing':
      return 'Finishing: making sure nothing readable is left on the server…';
    default:
      return 'Your journal is end-to-end encrypted.';
  }
}

/** Set for this tab when the person chose to open the journal without unlocking. */
const SKIP_KEY = 'journal.e2e.notNow';
export const unlockSkipped = {
  get: () => sessionStorage.getItem(SKIP_KEY) === '1',
  set: (skip: boolean) =>
    skip ? sessionStorage.setItem(SKIP_KEY, '1') : sessionStorage.removeItem(SKIP_KEY),
};

/** Routes that stay open on a locked device: the Account (its deletion too) and Devices. */
const OPEN_WHEN_LOCKED = new Set(['unlock', 'account', 'devices']);

/** The route a signed-in device should see instead of `route`, if any. */
export function unlockRedirect(route: string): string | undefined {
  const locked = client.encryption.state === 'locked';
  if (route === 'unlock') return locked ? undefined : '#/';
  if (locked && !unlockSkipped.get() && !OPEN_WHEN_LOCKED.has(route)) return '#/unlock';
  return undefined;
}

let lastAsked = 0;

/**
 * Learns the state when it is not known yet (a reopened app), waiting at most `ms`; asked at
 * most every 30 s (offline, the screens open without waiting each time).
 */
export async function knowState(ms = 4000): Promise<void> {
  if (client.encryption.state !== 'unknown' || Date.now() - lastAsked < 30_000) return;
  lastAsked = Date.now();
  await Promise.race([
    client.encryption.refresh().catch(() => {}),
    new Promise((r) => setTimeout(r, ms)),
  ]);
}

function lockIcon(): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('width', '14');
  svg.setAttribute('height', '14');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.classList.add('e2e-icon');
  const body = document.createElementNS(ns, 'rect');
  for (const [k, v] of Object.entries({ x: '2.5', y: '7', width: '11', height: '8', rx: '1.5' }))
    body.setAttribute(k, v);
  const shackle = document.createElementNS(ns, 'path');
  shackle.setAttribute('d', 'M5 7V5a3 3 0 0 1 6 0v2');
  shackle.setAttribute('fill', 'none');
  shackle.setAttribute('stroke-width', '1.6');
  svg.append(body, shackle);
  return svg;
}

/** The header's badge: shown while the journal is end-to-end encrypted. */
export const badge = h('a', {
  class: 'e2e-badge',
  href: '#/account',
  id: 'e2e-badge',
  hidden: true,
  title: 'Entries and photos are encrypted on your devices; the server cannot read them.',
});
const badgeLocked = h('span', { class: 'sr-only' });
badge.append(lockIcon(), h('span', null, 'End-to-end encrypted'), badgeLocked);

/** Entries and photos that could not be decrypted: never silent. */
export const failuresNotice = h('div', {
  class: 'notice e2e-failures',
  role: 'alert',
  id: 'decryption-failures',
  hidden: true,
});

function drawBadge(state: EncryptionState) {
  badge.hidden = !encryptionOn(state);
  badge.dataset.state = state;
  badgeLocked.textContent = state === 'locked' ? ' (this device is locked)' : '';
  badge.href = state === 'locked' ? '#/unlock' : '#/account';
}

function drawFailures() {
  const failures = client.encryption.failures();
  const entries = new Set(failures.filter((f) => f.entryId).map((f) => f.entryId));
  const photos = new Set(failures.filter((f) => f.attachmentId).map((f) => f.attachmentId));
  failuresNotice.hidden = failures.length === 0;
  failuresNotice.dataset.entries = String(entries.size);
  failuresNotice.dataset.photos = String(photos.size);
  const parts = [
    entries.size ? `${entries.size} ${entries.size === 1 ? 'entry' : 'entries'}` : '',
    photos.size ? `${photos.size} ${photos.size === 1 ? 'photo' : 'photos'}` : '',
  ].filter(Boolean);
  failuresNotice.textContent = failures.length
    ? `${parts.join(' and ') || `${failures.length} items`} could not be decrypted on this device, so ${
        failures.length === 1 ? 'it is' : 'they are'
      } not shown. They may have been damaged or changed on the server; the rest of your journal is unaffected.`
    : '';
}

/**
 * Keeps the badge and the failures notice current, remembers the migration's progress, and
 * calls `onLocked` when this device becomes locked (another device turned encryption on, or
 * this one was locked).
 */
export function watchEncryption(onLocked: () => void): void {
  let last = client.encryption.state;
  drawBadge(last);
  drawFailures();
  client.on('encryption', (e) => {
    if (e.migration) migration.progress = e.migration;
    drawBadge(e.state);
    if (e.state === 'locked' && last !== 'locked') onLocked();
    if (e.state !== 'locked') unlockSkipped.set(false);
    last = e.state;
    drawFailures();
  });
  client.on('decryptionFailed', drawFailures);
  client.on('change', drawFailures);
}
