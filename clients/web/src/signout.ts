/**
 * Signing out leaves nothing of the journal on this device unless the person chose to keep it
 * at sign-in: the IndexedDB database, drafts, photos' object URLs, the user record and any
 * journal cache are removed. Before that the app says so, and offers to wait for edits that
 * have not reached the server yet, or to discard them.
 */
import { client, rememberUser } from './client.js';
import { h, replace } from './dom.js';
import { explain } from './errors.js';
import { forgetPhotos } from './model.js';

/** Set at sign-in when the person ticks "keep my journal on this device". */
export const KEEP_KEY = 'journal.keepOnDevice';

export const keepsJournal = () => localStorage.getItem(KEEP_KEY) === '1';

export function setKeepJournal(keep: boolean) {
  if (keep) localStorage.setItem(KEEP_KEY, '1');
  else localStorage.removeItem(KEEP_KEY);
}

/** Removes everything of the journal from this device (the session is ended separately). */
export async function forgetDevice(): Promise<void> {
  await client.forgetLocalData();
  const keys: string[] = [];
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    // Drafts of every user, the user record, the choice to keep. The device id and the SDK's
    // device tokens (journal.tokens.devices, kept across sign-out on purpose) hold no diary.
    if (k?.startsWith('journal.draft.') || k === 'journal.user' || k === KEEP_KEY) keys.push(k);
  }
  for (const k of keys) localStorage.removeItem(k);
  sessionStorage.clear();
  rememberUser(undefined);
  await forgetPhotos();
  // Runtime caches of the app (the service worker's precache holds only the app's own files).
  if ('caches' in window)
    for (const name of await caches.keys())
      if (!name.startsWith('workbox-precache')) await caches.delete(name);
}

/**
 * The sign-out dialog. Resolves true when this device is signed out (and, unless kept,
 * emptied), false when the person cancelled.
 */
export function signOutDialog(): Promise<boolean> {
  const keep = keepsJournal();
  const dialog = h('dialog', { class: 'signout', 'aria-labelledby': 'signout-title' });
  const state = h('p', { role: 'status', class: 'muted' });
  const actions = h('div', { class: 'actions' });
  document.body.append(dialog);
  let offPending: (() => void) | undefined;

  return new Promise<boolean>((resolve) => {
    const finish = (done: boolean) => {
      offPending?.();
      dialog.close();
      dialog.remove();
      resolve(done);
    };
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      finish(false);
    });
    const cancel = h('button', { type: 'button', onclick: () => finish(false) }, 'Cancel');

    async function signOut() {
      for (const b of actions.querySelectorAll('button')) b.disabled = true;
      state.textContent = 'Signing out…';
      try {
        await client.sync.stop();
        await client.auth.logout();
      } catch (err) {
        state.textContent = explain(err);
        for (const b of actions.querySelectorAll('button')) b.disabled = false;
        client.sync.start();
        return;
      }
      if (!keep) await forgetDevice();
      finish(true);
    }

    async function waitThenSignOut() {
      for (const b of actions.querySelectorAll('button')) if (b !== cancel) b.disabled = true;
      const check = async (n: number) => {
        if (n === 0) {
          offPending?.();
          offPending = undefined;
          await signOut();
        } else
          state.textContent = navigator.onLine
            ? `Sending ${n === 1 ? 'one edit' : `${n} edits`} to the server…`
            : `You're offline: ${n === 1 ? 'one edit waits' : `${n} edits wait`} for the connection. Keep this open, or discard them.`;
      };
      offPending = client.on('pending', ({ count }) => void check(count));
      client.sync.start();
      void client.sync.push().catch(() => {});
      await check(await client.entries.pendingCount());
      discard.disabled = false; // while waiting, discarding stays possible
    }

    const discard = h(
      'button',
      { type: 'button', class: 'danger', onclick: () => void signOut() },
      'Discard them and sign out',
    );

    void client.entries.pendingCount().then((pending) => {
      const say: string[] = keep
        ? ['Your journal stays on this device, as you chose when you signed in.']
        : [
            'Signing out removes your journal from this device: its entries, drafts and photos. ' +
              'It stays on the server and on your other devices.',
          ];
      if (pending > 0 && !keep)
        say.push(
          `${pending === 1 ? 'One edit' : `${pending} edits`} made here ${
            pending === 1 ? 'has' : 'have'
          } not reached the server yet.`,
        );
      replace(
        dialog,
        h('h2', { id: 'signout-title' }, 'Sign out of this device?'),
        say.map((t) => h('p', null, t)),
        state,
        actions,
      );
      replace(
        actions,
        pending > 0 && !keep
          ? [
              h(
                'button',
                { type: 'button', class: 'primary', onclick: () => void waitThenSignOut() },
                'Wait for them, then sign out',
              ),
              discard,
            ]
          : h(
              'button',
              { type: 'button', class: 'primary', onclick: () => void signOut() },
              keep ? 'Sign out' : 'Sign out and remove',
            ),
        cancel,
      );
      dialog.showModal();
      (actions.querySelector('button') as HTMLButtonElement).focus();
    });
  });
}
