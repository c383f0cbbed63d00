/**
 * `#/unlock`: a device signed in to an end-to-end encrypted journal holds no keys yet (or was
 * locked). It unlocks with the encryption passphrase, or with the recovery key, which also sets
 * a new passphrase. A wrong passphrase is said once, plainly; nothing retries behind the person.
 */
import { client } from '../client.js';
import { field, h } from '../dom.js';
import { unlockSkipped } from '../e2e.js';
import { explain } from '../errors.js';
import { navigate, type Screen } from '../shell.js';
import { newPassphraseFields } from './encryption/passphrase.js';

const code = (err: unknown) => (err as { code?: string }).code;

function passphraseForm(): HTMLFormElement {
  const passphrase = field(
    'Encryption passphrase',
    h('input', {
      type: 'password',
      name: 'passphrase',
      autocomplete: 'current-password',
      id: 'unlock-passphrase',
    }),
    'Not your account password: the passphrase chosen when encryption was turned on.',
  );
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Unlock');
  const form = h(
    'form',
    { novalidate: true, 'aria-label': 'Unlock with your passphrase' },
    passphrase.wrap,
    formError,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    passphrase.setError(undefined);
    formError.textContent = '';
    if (!passphrase.input.value) return passphrase.setError('Enter your encryption passphrase.');
    submit.disabled = true;
    submit.textContent = 'Unlocking… (this takes a few seconds)';
    try {
      await client.encryption.unlock(passphrase.input.value);
      passphrase.input.value = '';
      navigate('#/');
    } catch (err) {
      if (code(err) === 'wrong_passphrase') {
        passphrase.setError(explain(err));
        passphrase.input.value = '';
        passphrase.input.focus();
      } else formError.textContent = explain(err);
    } finally {
      submit.disabled = false;
      submit.textContent = 'Unlock';
    }
  });
  return form;
}

function recoveryForm(): HTMLFormElement {
  const words = field(
    'Recovery key (24 words)',
    h('textarea', {
      name: 'recoveryKey',
      rows: 3,
      autocomplete: 'off',
      autocapitalize: 'none',
      spellcheck: 'false',
      id: 'recovery-key',
    }),
    'The words you wrote down when encryption was turned on, in order, separated by spaces.',
  );
  const next = newPassphraseFields('recover');
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Recover and set passphrase');
  const form = h(
    'form',
    { novalidate: true, 'aria-label': 'Recover with your recovery key' },
    words.wrap,
    next.wraps,
    formError,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    words.setError(undefined);
    formError.textContent = '';
    const key = words.input.value.trim().toLowerCase().split(/\s+/).filter(Boolean).join(' ');
    const count = key ? key.split(' ').length : 0;
    if (count !== 24) {
      words.setError(`A recovery key is 24 words; this is ${count}.`);
      return words.input.focus();
    }
    const passphrase = next.check();
    if (passphrase === undefined) return;
    submit.disabled = true;
    submit.textContent = 'Recovering… (this takes a few seconds)';
    try {
      await client.encryption.recover(key, passphrase);
      words.input.value = '';
      next.clear();
      navigate('#/');
    } catch (err) {
      const c = code(err);
      if (c === 'invalid_recovery_key' || c === 'wrong_recovery_key') {
        words.setError(explain(err));
        words.input.focus();
      } else formError.textContent = explain(err);
    } finally {
      submit.disabled = false;
      submit.textContent = 'Recover and set passphrase';
    }
  });
  return form;
}

export function unlockScreen(): Screen {
  const notNow = h('a', { href: '#/', id: 'unlock-not-now' }, 'Open the journal without unlocking');
  notNow.addEventListener('click', () => unlockSkipped.set(true));
  const el = h(
    'section',
    { class: 'card unlock' },
    h('h1', null, 'Unlock your journal'),
    h(
      'p',
      null,
      'Your journal is end-to-end encrypted. Enter your encryption passphrase to read and sync it on this device.',
    ),
    passphraseForm(),
    h(
      'details',
      { id: 'use-recovery-key' },
      h('summary', null, 'Use your recovery key'),
      h(
        'p',
        null,
        'Forgot the passphrase? The 24-word recovery key opens the journal too; then choose a new passphrase (your other devices stay unlocked).',
      ),
      recoveryForm(),
    ),
    h(
      'section',
      { 'aria-labelledby': 'unlock-lost-title' },
      h('h2', { id: 'unlock-lost-title' }, 'Lost both?'),
      h(
        'p',
        null,
        'Without the passphrase or the recovery key nobody can read this journal, not even the server’s operators: it is stored only encrypted. The only way forward is ',
        h('a', { href: '#/account/delete', id: 'unlock-delete-link' }, 'deleting your account'),
        ' and starting again.',
      ),
    ),
    h(
      'p',
      { class: 'muted' },
      'Edits made on this device while it is locked stay on this device; they are encrypted and sent once you unlock. ',
      notNow,
    ),
  );
  return { el };
}
