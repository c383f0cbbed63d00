import { client, rememberUser } from '../client.js';
import { field, h } from '../dom.js';
import { explain, fieldErrors } from '../errors.js';
import { navigate, showNotice } from '../shell.js';
import { keepsJournal, setKeepJournal } from '../signout.js';

function guessDeviceName(): string {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua)
    ? 'Edge'
    : /Firefox\//.test(ua)
      ? 'Firefox'
      : /Chrome\//.test(ua)
        ? 'Chrome'
        : /Safari\//.test(ua)
          ? 'Safari'
          : 'Browser';
  const os = /Android/.test(ua)
    ? 'Android'
    : /iPhone|iPad/.test(ua)
      ? 'iOS'
      : /Mac OS X/.test(ua)
        ? 'macOS'
        : /Windows/.test(ua)
          ? 'Windows'
          : /Linux/.test(ua)
            ? 'Linux'
            : 'a device';
  return `${browser} on ${os}`;
}

export function authScreen(mode: 'signin' | 'signup') {
  const signup = mode === 'signup';
  const username = field(
    'Username',
    h('input', {
      name: 'username',
      autocomplete: 'username',
      autocapitalize: 'none',
      required: true,
    }),
    signup ? '3 to 64 characters: letters, digits, and . _ @ -' : undefined,
  );
  const password = field(
    'Password',
    h('input', {
      name: 'password',
      type: 'password',
      autocomplete: signup ? 'new-password' : 'current-password',
      required: true,
    }),
    signup ? 'At least 8 characters.' : undefined,
  );
  const device = field(
    'Name of this device',
    h('input', { name: 'deviceName', value: guessDeviceName(), autocomplete: 'off' }),
    'Shown in your list of devices.',
  );
  const keep = h('input', {
    type: 'checkbox',
    id: 'keep-journal',
    name: 'keep',
    checked: keepsJournal(),
  });
  const keepField = h(
    'div',
    { class: 'check' },
    keep,
    h(
      'label',
      { for: 'keep-journal' },
      'Keep my journal on this device after I sign out (only on a device that is yours alone)',
    ),
  );
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const submit = h(
    'button',
    { type: 'submit', class: 'primary' },
    signup ? 'Create account' : 'Sign in',
  );
  const form = h(
    'form',
    { novalidate: true, 'aria-labelledby': 'auth-title' },
    username.wrap,
    password.wrap,
    device.wrap,
    keepField,
    formError,
    submit,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const f of [username, password, device]) f.setError(undefined);
    formError.textContent = '';
    const body = {
      username: username.input.value.trim(),
      password: password.input.value,
      deviceName: device.input.value.trim() || guessDeviceName(),
    };
    if (!body.username) return username.setError('Enter a username.');
    if (!body.password) return password.setError('Enter a password.');
    submit.disabled = true;
    submit.textContent = signup ? 'Creating…' : 'Signing in…';
    try {
      rememberUser(signup ? await client.auth.register(body) : await client.auth.login(body));
      setKeepJournal(keep.checked);
      showNotice(undefined);
      navigate('#/');
    } catch (err) {
      const fields = fieldErrors(err);
      const map = { username, password, deviceName: device } as const;
      let placed = false;
      for (const [name, message] of Object.entries(fields)) {
        const f = map[name as keyof typeof map];
        if (f) {
          f.setError(message);
          placed = true;
        }
      }
      const words = explain(err, 'signin');
      if (!placed) {
        if ((err as { code?: string }).code === 'username_taken') username.setError(words);
        else formError.textContent = words;
      }
      (form.querySelector('[aria-invalid="true"]') as HTMLElement | null)?.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = signup ? 'Create account' : 'Sign in';
    }
  });
  const el = h(
    'section',
    { class: 'card auth' },
    h('h1', { id: 'auth-title' }, signup ? 'Create your journal' : 'Sign in to your journal'),
    h(
      'p',
      { class: 'muted' },
      signup
        ? 'Your entries sync between your devices and work offline.'
        : 'Welcome back. Your entries are waiting.',
    ),
    form,
    h(
      'p',
      { class: 'switch' },
      signup ? 'Already have an account? ' : 'New here? ',
      h('a', { href: signup ? '#/signin' : '#/signup' }, signup ? 'Sign in' : 'Create an account'),
    ),
  );
  return { el };
}
