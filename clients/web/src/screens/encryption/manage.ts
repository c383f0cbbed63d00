import { client } from '../../client.js';
import { field, h } from '../../dom.js';
import { explain } from '../../errors.js';
import { newPassphraseFields } from './passphrase.js';
import type { View } from './progress.js';

/** Encryption on, this device unlocked: change the passphrase, or lock this device. */
export function manageView(): View {
  const current = field(
    'Current encryption passphrase',
    h('input', {
      type: 'password',
      name: 'e2e-current',
      id: 'e2e-current',
      autocomplete: 'current-password',
    }),
  );
  const next = newPassphraseFields('e2e-new');
  const done = h('p', { class: 'success', role: 'status' });
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Change encryption passphrase');
  const form = h(
    'form',
    { novalidate: true, 'aria-labelledby': 'e2e-change-title', id: 'e2e-change' },
    h('h3', { id: 'e2e-change-title' }, 'Change encryption passphrase'),
    h(
      'p',
      { class: 'muted' },
      'Your devices that are unlocked stay unlocked; a locked device asks for the new one. The recovery key stays the same.',
    ),
    current.wrap,
    next.wraps,
    formError,
    done,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    current.setError(undefined);
    formError.textContent = '';
    done.textContent = '';
    if (!current.input.value) {
      current.setError('Enter your current encryption passphrase.');
      return current.input.focus();
    }
    const passphrase = next.check();
    if (passphrase === undefined) return;
    submit.disabled = true;
    submit.textContent = 'Changing… (this takes a few seconds)';
    try {
      await client.encryption.changePassphrase(current.input.value, passphrase);
      current.input.value = '';
      next.clear();
      done.textContent = 'Your encryption passphrase is changed.';
    } catch (err) {
      if ((err as { code?: string }).code === 'wrong_passphrase') {
        current.setError(explain(err));
        current.input.focus();
      } else formError.textContent = explain(err);
    } finally {
      submit.disabled = false;
      submit.textContent = 'Change encryption passphrase';
    }
  });

  const lockState = h('p', { class: 'muted', role: 'status' });
  const lock = h('button', { type: 'button', id: 'e2e-lock' }, 'Lock this device');
  lock.addEventListener('click', async () => {
    lock.disabled = true;
    try {
      await client.encryption.lock();
    } catch (err) {
      lockState.textContent = explain(err);
      lock.disabled = false;
    }
  });

  const el = h(
    'div',
    null,
    h(
      'p',
      { id: 'e2e-on' },
      'Your entries and photos are end-to-end encrypted: the server stores only what it cannot read.',
    ),
    form,
    h(
      'div',
      { 'aria-labelledby': 'e2e-lock-title', role: 'group' },
      h('h3', { id: 'e2e-lock-title' }, 'Lock this device'),
      h(
        'p',
        { class: 'muted' },
        'Forgets the keys on this device: it stops syncing until the passphrase is entered again.',
      ),
      lock,
      lockState,
    ),
  );
  return { el };
}
