import { client } from '../../client.js';
import { field, h, replace } from '../../dom.js';
import { explain } from '../../errors.js';
import { newPassphraseFields } from './passphrase.js';
import { progressView, type View } from './progress.js';
import { recoveryKeyStep } from './recovery-key.js';

/** What end-to-end encryption does, and what the server still sees, in a few lines. */
function explanation(): HTMLElement {
  return h(
    'div',
    { class: 'e2e-explain' },
    h(
      'p',
      null,
      'Turn it on and your entries and photos are encrypted on your devices before they are sent: the server stores only what it cannot read. Search, export and the editor keep working on your devices.',
    ),
    h('p', null, 'What the server still sees:'),
    h(
      'ul',
      null,
      h('li', null, 'your username, devices and when they signed in;'),
      h('li', null, 'how many entries and photos you have, their sizes and when they changed.'),
    ),
    h(
      'p',
      null,
      'It cannot be turned off again. Each of your devices asks once for the passphrase you choose here.',
    ),
  );
}

/**
 * Encryption off: the explanation and the form to turn it on (passphrase twice, and the account
 * password so the passphrase can be checked to differ). On success the recovery key is shown
 * once and three of its words asked back while the migration runs; `onFinished` when confirmed.
 * `busy(true)` while the flow owns the section (its state changes must not redraw it).
 */
export function enableView(busy: (on: boolean) => void, onFinished: () => void): View {
  const next = newPassphraseFields('e2e', 'Encryption passphrase');
  const password = field(
    'Your account password',
    h('input', {
      type: 'password',
      name: 'e2e-account-password',
      id: 'e2e-account-password',
      autocomplete: 'current-password',
    }),
    'Only to make sure the passphrase is a different one; it is not stored.',
  );
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Turn on encryption');
  const form = h(
    'form',
    { novalidate: true, 'aria-label': 'Turn on end-to-end encryption', id: 'e2e-enable' },
    next.wraps,
    password.wrap,
    h(
      'p',
      { class: 'notice', id: 'e2e-warning' },
      h('strong', null, 'Keep the passphrase and the recovery key safe. '),
      'If you lose both, nobody can open your journal again, not even the server’s operators.',
    ),
    formError,
    submit,
  );
  const el = h('div', null, explanation(), form);
  let progress: View | undefined;

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    formError.textContent = '';
    password.setError(undefined);
    const passphrase = next.check();
    if (passphrase === undefined) return;
    if (!password.input.value) {
      password.setError('Enter your account password.');
      return password.input.focus();
    }
    if (password.input.value === passphrase) {
      next.passphrase.setError('Choose a passphrase different from your account password.');
      return next.passphrase.input.focus();
    }
    submit.disabled = true;
    submit.textContent = 'Turning on… (this takes a few seconds)';
    busy(true);
    let recoveryKey: string;
    try {
      ({ recoveryKey } = await client.encryption.enable({
        passphrase,
        accountPassword: password.input.value,
      }));
    } catch (err) {
      busy(false);
      const code = (err as { code?: string }).code;
      if (code === 'passphrase_is_password') next.passphrase.setError(explain(err));
      else formError.textContent = explain(err);
      if (code === 'encryption_already_enabled') onFinished();
      return;
    } finally {
      submit.disabled = false;
      submit.textContent = 'Turn on encryption';
    }
    next.clear();
    password.input.value = '';
    progress = progressView();
    const done = h('div', null, progress.el);
    const step = recoveryKeyStep(recoveryKey, () => {
      replace(
        el,
        h('p', { class: 'success' }, 'Your recovery key is confirmed. Keep it safe.'),
        done,
        h(
          'button',
          {
            type: 'button',
            id: 'e2e-continue',
            onclick: () => {
              busy(false);
              onFinished();
            },
          },
          'Continue',
        ),
      );
      (el.querySelector('button') as HTMLElement).focus();
    });
    replace(el, step, done);
    step.querySelector<HTMLElement>('h3')?.focus();
  });
  return { el, dispose: () => progress?.dispose?.() };
}
