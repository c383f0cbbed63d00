/**
 * The Account screen's "End-to-end encryption" section (docs/encryption.md): off, the
 * explanation and the form to turn it on; while the journal is being encrypted, the progress;
 * on, changing the passphrase and locking this device; locked, the way to unlock.
 */
import { client } from '../../client.js';
import { h, replace } from '../../dom.js';
import { explain } from '../../errors.js';
import { enableView } from './enable.js';
import { manageView } from './manage.js';
import { progressView, type View } from './progress.js';

type Mode = 'unknown' | 'off' | 'migrating' | 'on' | 'locked';

function modeNow(): Mode {
  const s = client.encryption.state;
  if (s === 'unknown' || s === 'off') return s;
  if (s === 'locked') return 'locked';
  return client.encryption.migrating ? 'migrating' : 'on';
}

function lockedView(): View {
  return {
    el: h(
      'div',
      null,
      h(
        'p',
        null,
        'Your journal is end-to-end encrypted, and this device is locked: it neither shows new entries nor syncs until it is unlocked.',
      ),
      h('p', null, h('a', { href: '#/unlock', class: 'button primary' }, 'Unlock this device')),
    ),
  };
}

function unknownView(): View {
  const state = h('p', { class: 'muted', role: 'status' }, 'Checking…');
  void client.encryption.refresh().catch((err: unknown) => {
    state.textContent = explain(err);
  });
  return { el: state };
}

function migratingView(): View {
  const progress = progressView();
  return {
    el: h(
      'div',
      null,
      h(
        'p',
        null,
        'Your journal is being encrypted. Entries and photos are sent again, encrypted; keep a device with the journal open until it is done.',
      ),
      progress.el,
    ),
    ...(progress.dispose ? { dispose: progress.dispose } : {}),
  };
}

export function encryptionSection(): View {
  const body = h('div');
  const el = h(
    'section',
    { 'aria-labelledby': 'e2e-title', id: 'e2e' },
    h('h2', { id: 'e2e-title' }, 'End-to-end encryption'),
    body,
  );
  let view: View | undefined;
  let drawn: Mode | undefined;
  // While the enable flow shows the recovery key, state changes must not replace it.
  let busy = false;

  function draw(force = false) {
    if (busy) return;
    const mode = modeNow();
    if (mode === drawn && !force) return;
    view?.dispose?.();
    drawn = mode;
    view =
      mode === 'off'
        ? enableView(
            (on) => {
              busy = on;
            },
            () => draw(true),
          )
        : mode === 'migrating'
          ? migratingView()
          : mode === 'on'
            ? manageView()
            : mode === 'locked'
              ? lockedView()
              : unknownView();
    replace(body, view.el);
  }

  draw();
  const off = client.on('encryption', () => draw());
  return {
    el,
    dispose: () => {
      off();
      view?.dispose?.();
    },
  };
}
