import { client, currentUser, rememberUser } from '../client.js';
import { field, h } from '../dom.js';
import { explain, fieldErrors, formatQuota } from '../errors.js';
import { navigate, type Screen, showNotice } from '../shell.js';
import { forgetDevice, signOutDialog } from '../signout.js';
import { encryptionSection } from './encryption/section.js';

const QUOTA_LABELS: [
  name: 'entries' | 'entryBytes' | 'attachments' | 'attachmentBytes',
  label: string,
][] = [
  ['entries', 'Entries'],
  ['entryBytes', 'Text of entries'],
  ['attachments', 'Photos'],
  ['attachmentBytes', 'Space for photos'],
];

/** Usage against each of the account's quotas (`client.usage()`), read when the screen opens. */
function usageSection(): HTMLElement {
  const state = h('p', { class: 'muted', role: 'status' }, 'Reading your usage…');
  const list = h('ul', { class: 'usage', id: 'usage' });
  void client
    .usage()
    .then((usage) => {
      state.textContent = '';
      for (const [name, label] of QUOTA_LABELS) {
        const { usage: used, limit } = usage[name];
        const text = limit
          ? `${formatQuota(name, used)} of ${formatQuota(name, limit)}`
          : `${formatQuota(name, used)} (no limit)`;
        const item = h('li', { 'data-quota': name }, h('span', null, `${label}: ${text}`));
        if (limit) {
          item.append(
            h('progress', {
              max: String(limit),
              value: String(Math.min(used, limit)),
              'aria-label': `${label} used`,
            }),
          );
        }
        if (limit && used >= limit) item.classList.add('full');
        list.append(item);
      }
    })
    .catch((err: unknown) => {
      state.textContent = explain(err);
    });
  return h(
    'section',
    { 'aria-labelledby': 'usage-title' },
    h('h2', { id: 'usage-title' }, 'Your space'),
    h('p', null, 'What your journal uses of what your account can hold. Deleting frees space.'),
    state,
    list,
  );
}

/** `focus`: 'delete' opens the screen at the account deletion (the unlock screen links there). */
export function accountScreen(focus?: string): Screen {
  // Change password
  const current = field(
    'Current password',
    h('input', { type: 'password', name: 'currentPassword', autocomplete: 'current-password' }),
  );
  const next = field(
    'New password',
    h('input', { type: 'password', name: 'newPassword', autocomplete: 'new-password' }),
    'At least 8 characters. Your other devices will be signed out.',
  );
  const pwDone = h('p', { class: 'success', role: 'status' });
  const pwError = h('p', { class: 'form-error', role: 'alert' });
  const pwForm = h(
    'form',
    { novalidate: true, 'aria-labelledby': 'pw-title' },
    h('h2', { id: 'pw-title' }, 'Change password'),
    current.wrap,
    next.wrap,
    pwError,
    pwDone,
    h('button', { type: 'submit', class: 'primary' }, 'Change password'),
  );
  pwForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    current.setError(undefined);
    next.setError(undefined);
    pwError.textContent = '';
    pwDone.textContent = '';
    if (!current.input.value) return current.setError('Enter your current password.');
    if (next.input.value.length < 8) return next.setError('Use at least 8 characters.');
    try {
      await client.auth.changePassword({
        currentPassword: current.input.value,
        newPassword: next.input.value,
      });
      current.input.value = '';
      next.input.value = '';
      pwDone.textContent = 'Your password is changed. Your other devices are signed out.';
    } catch (err) {
      const f = fieldErrors(err);
      if (f.newPassword) next.setError(f.newPassword);
      if (f.currentPassword) current.setError(f.currentPassword);
      const code = (err as { code?: string }).code;
      if (code === 'invalid_credentials') current.setError(explain(err, 'password'));
      else if (!f.newPassword && !f.currentPassword) pwError.textContent = explain(err, 'password');
    }
  });

  // Export
  const exportState = h('p', { class: 'muted', role: 'status' });
  const exportButton = h('button', { type: 'button', id: 'export' }, 'Download my journal');
  exportButton.addEventListener('click', async () => {
    exportButton.disabled = true;
    exportState.textContent = 'Preparing your journal…';
    try {
      const zip = await client.exportAll();
      const url = URL.createObjectURL(zip);
      const a = h('a', {
        href: url,
        download: `journal-${new Date().toISOString().slice(0, 10)}.zip`,
      });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      exportState.textContent = `Your journal is downloaded (${Math.ceil(zip.size / 1024)} KiB, a zip file).`;
    } catch (err) {
      exportState.textContent = explain(err);
    } finally {
      exportButton.disabled = false;
    }
  });

  // Delete account
  const delPassword = field(
    'Password',
    h('input', { type: 'password', name: 'deletePassword', autocomplete: 'current-password' }),
  );
  const confirmBox = h('input', { type: 'checkbox', id: 'confirm-delete', name: 'confirm' });
  const delError = h('p', { class: 'form-error', role: 'alert' });
  const delForm = h(
    'form',
    {
      novalidate: true,
      'aria-labelledby': 'del-title',
      class: 'danger-zone',
      id: 'delete-account',
    },
    h('h2', { id: 'del-title' }, 'Delete account'),
    h(
      'p',
      null,
      'This deletes every entry and photo of yours on the server, and signs out all your devices. It cannot be undone. Download your journal first if you want to keep it.',
    ),
    delPassword.wrap,
    h(
      'div',
      { class: 'check' },
      confirmBox,
      h('label', { for: 'confirm-delete' }, 'I understand that my journal will be deleted.'),
    ),
    delError,
    h('button', { type: 'submit', class: 'danger' }, 'Delete my account'),
  );
  delForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    delPassword.setError(undefined);
    delError.textContent = '';
    if (!delPassword.input.value) return delPassword.setError('Enter your password.');
    if (!confirmBox.checked) {
      delError.textContent = 'Tick the box to confirm.';
      confirmBox.focus();
      return;
    }
    try {
      await client.auth.deleteAccount({ password: delPassword.input.value });
      await forgetDevice(); // nothing of the deleted journal stays on this device
      rememberUser(undefined);
      showNotice('Your account and journal are deleted.');
      navigate('#/signup');
    } catch (err) {
      if ((err as { code?: string }).code === 'invalid_credentials')
        delPassword.setError(explain(err, 'password'));
      else delError.textContent = explain(err);
    }
  });

  const signOut = h('button', { type: 'button' }, 'Sign out');
  signOut.addEventListener('click', async () => {
    if (await signOutDialog()) navigate('#/signin');
  });

  const e2e = encryptionSection();
  const el = h(
    'section',
    { class: 'card account' },
    h('h1', null, 'Account'),
    h('p', { class: 'muted' }, `Signed in as ${currentUser()?.username ?? ''}.`),
    h('div', { class: 'actions' }, signOut),
    usageSection(),
    e2e.el,
    pwForm,
    h(
      'section',
      { 'aria-labelledby': 'export-title' },
      h('h2', { id: 'export-title' }, 'Download my journal'),
      h('p', null, 'Every entry (entries.json) and every photo, as one zip file.'),
      exportButton,
      exportState,
      h(
        'p',
        null,
        'Bringing a journal from Day One or from another account? ',
        h('a', { href: '#/import', id: 'import-link' }, 'Import a journal'),
      ),
    ),
    delForm,
  );
  if (focus === 'delete')
    setTimeout(() => {
      delForm.scrollIntoView({ block: 'start' });
      delPassword.input.focus();
    });
  return { el, dispose: () => e2e.dispose?.() };
}
