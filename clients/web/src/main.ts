import './style.css';
import { client, type SyncStatus } from './client.js';
import { h, replace } from './dom.js';
import { badge, failuresNotice, knowState, unlockRedirect, watchEncryption } from './e2e.js';
import { drafts } from './model.js';
import { registerServiceWorker } from './pwa.js';
import { accountScreen } from './screens/account.js';
import { authScreen } from './screens/auth.js';
import { devicesScreen } from './screens/devices.js';
import { editorScreen } from './screens/editor.js';
import { historyScreen } from './screens/history.js';
import { journalScreen } from './screens/journal.js';
import { unlockScreen } from './screens/unlock.js';
import {
  navigate,
  notice,
  PENDING_EVENT,
  type Screen,
  setRenderer,
  showNotice,
  signOutOnPurpose,
} from './shell.js';

const STATUS_WORDS: Record<SyncStatus, string> = {
  idle: 'Not syncing',
  syncing: 'Syncing…',
  live: 'Up to date',
  offline: 'Offline: changes are kept on this device',
  signed_out: 'Signed out',
  error: 'Sync trouble: retrying',
  locked: 'Locked: edits stay on this device until you unlock',
};

const app = document.getElementById('app') as HTMLElement;
const statusEl = h('p', { class: 'sync-status', role: 'status', 'data-status': 'idle' });
const nav = h('nav', { 'aria-label': 'Main' });
const header = h(
  'header',
  { class: 'topbar' },
  h(
    'a',
    { class: 'brand', href: '#/' },
    h('span', { class: 'logo', 'aria-hidden': 'true' }),
    'Journal',
  ),
  nav,
  badge,
  statusEl,
);
const main = h('main', { id: 'main', tabindex: '-1' });
const skip = h('a', { class: 'skip', href: '#main' }, 'Skip to content');
skip.addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
replace(app, skip, header, notice, failuresNotice, main);

function setStatus(s: SyncStatus) {
  statusEl.textContent = STATUS_WORDS[s];
  statusEl.dataset.status = s;
}
client.on('status', setStatus);
client.on('signedOut', (e) => {
  if (signOutOnPurpose.active) return;
  if (e.reason !== 'logout')
    showNotice(
      'This device was signed out (its session was ended, perhaps from another device). ' +
        'Sign in again: what you wrote here is kept and will sync.',
    );
  draftsFlushed = false;
  navigate('#/signin');
});

function renderNav() {
  const here = location.hash || '#/';
  const link = (href: string, label: string) =>
    h('a', { href, 'aria-current': here === href ? 'page' : undefined }, label);
  if (client.auth.isSignedIn())
    replace(nav, link('#/', 'Journal'), link('#/devices', 'Devices'), link('#/account', 'Account'));
  else replace(nav);
}

let current: Screen | undefined;
let draftsFlushed = false;

/** Drafts left by a tab that closed before its autosave ran become entries (and sync). */
async function flushDrafts() {
  draftsFlushed = true;
  for (const id of drafts.pending()) {
    const d = drafts.get(id);
    if (d && (d.title.trim() || d.body.trim() || d.photos.length))
      await client.entries.put(id, { ...d });
    drafts.clear(id);
  }
}

// Renders overlap (a click while the previous screen still loads): only the latest one draws.
let renderCall = 0;

async function render() {
  const call = ++renderCall;
  const hash = location.hash || '#/';
  const signedIn = client.auth.isSignedIn();
  if (!signedIn && hash !== '#/signin' && hash !== '#/signup') return navigate('#/signin');
  if (signedIn && (hash === '#/signin' || hash === '#/signup')) return navigate('#/');
  if (signedIn && !draftsFlushed) await flushDrafts();
  if (signedIn) client.sync.start();
  else setStatus('signed_out');
  const [, route = '', arg] = hash.split('/');
  if (signedIn) {
    // An end-to-end encrypted journal on a device without its keys: the unlock screen first.
    await knowState();
    const to = unlockRedirect(route);
    if (to) return navigate(to);
  }
  current?.dispose?.();
  let screen: Screen;
  if (route === 'signin' || route === 'signup') screen = authScreen(route);
  else if (route === 'entry') screen = await editorScreen(decodeURIComponent(arg ?? ''));
  else if (route === 'new') screen = await editorScreen(undefined);
  else if (route === 'history') screen = historyScreen(decodeURIComponent(arg ?? ''));
  else if (route === 'import') screen = (await import('./screens/import.js')).importScreen();
  else if (route === 'devices') screen = devicesScreen();
  else if (route === 'account') screen = accountScreen(arg);
  else if (route === 'unlock') screen = unlockScreen();
  else screen = journalScreen();
  if (call !== renderCall) {
    screen.dispose?.();
    return;
  }
  current = screen;
  renderNav();
  replace(main, screen.el);
  document.title = `${screen.el.querySelector('h1')?.textContent ?? 'Journal'} · Journal`;
  // Move focus to the new screen's heading so keyboard and screen-reader users start there.
  const heading = screen.el.querySelector<HTMLElement>('h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

// "Not synced yet" and "Saved and synced" follow the server's answer: the SDK says when the
// number of edits waiting to be pushed changes (no polling).
client.on('pending', ({ count }) =>
  window.dispatchEvent(new CustomEvent(PENDING_EVENT, { detail: count })),
);

// Which build this page runs (VITE_APP_VERSION at build time): what "update available" replaces.
document.documentElement.dataset.version = String(import.meta.env.VITE_APP_VERSION ?? 'dev');

// A new deployment is offered, never loaded behind the person's back.
const updateBar = h(
  'div',
  { class: 'update-bar', role: 'status', hidden: true },
  h('p', null, 'A new version of the journal is available.'),
);
registerServiceWorker((apply) => {
  const button = h('button', { type: 'button', class: 'primary' }, 'Update now');
  button.addEventListener('click', () => {
    button.disabled = true;
    button.textContent = 'Updating…';
    apply();
  });
  updateBar.append(button);
  updateBar.hidden = false;
});
app.prepend(updateBar);

// Locked while a journal screen is open (encryption turned on elsewhere, or "Lock this device").
watchEncryption(() => {
  const [, route = ''] = (location.hash || '#/').split('/');
  if (client.auth.isSignedIn() && unlockRedirect(route)) void render();
});

setRenderer(() => void render());
window.addEventListener('hashchange', () => void render());
window.addEventListener('beforeunload', () => current?.dispose?.());
void render();
