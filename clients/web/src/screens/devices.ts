import { client, currentUser, JournalError, rememberUser, type Session } from '../client.js';
import { field, formatWhen, h, replace } from '../dom.js';
import { explain } from '../errors.js';
import { navigate, type Screen, signOutOnPurpose } from '../shell.js';

export function devicesScreen(): Screen {
  const list = h('ul', { class: 'devices', 'aria-busy': 'true' });
  const message = h('p', { class: 'form-error', role: 'alert' });
  const done = h('p', { class: 'success', role: 'status' });

  async function signOut(s: Session, button: HTMLButtonElement) {
    message.textContent = '';
    button.disabled = true;
    try {
      if (s.current) {
        await client.auth.logout();
        navigate('#/signin');
        return;
      }
      await client.auth.revokeSession(s.id);
      done.textContent = `“${s.deviceName}” is signed out.`;
      await load();
    } catch (err) {
      message.textContent = missingRoute(err)
        ? "This server can't sign out a single device yet: use “Sign out everywhere else”."
        : explain(err);
      button.disabled = false;
    }
  }

  /** A gateway without DELETE /auth/sessions/{id} answers "no route" for it. */
  const missingRoute = (err: unknown) =>
    err instanceof JournalError &&
    err.code === 'not_found' &&
    /no route for/i.test(`${err.problem?.detail ?? ''} ${err.message}`);

  // Fallback for servers without single-session revocation: sign out every device (this one
  // too) and sign this one straight back in, which needs the password.
  const fallbackPassword = field(
    'Your password',
    h('input', { type: 'password', name: 'password', autocomplete: 'current-password' }),
    'This server signs out all devices at once: confirm your password to sign this one back in.',
  );
  const fallback = h(
    'form',
    { novalidate: true, hidden: true, class: 'fallback' },
    fallbackPassword.wrap,
    h('button', { type: 'submit', class: 'danger' }, 'Confirm and sign out everywhere else'),
  );
  fallback.addEventListener('submit', async (e) => {
    e.preventDefault();
    fallbackPassword.setError(undefined);
    const password = fallbackPassword.input.value;
    const user = currentUser();
    const me = (await client.auth.sessions().catch(() => [])).find((s) => s.current);
    if (!password || !user) return fallbackPassword.setError('Enter your password.');
    signOutOnPurpose.active = true;
    try {
      await client.auth.logout({ allDevices: true });
      rememberUser(
        await client.auth.login({
          username: user.username,
          password,
          deviceName: me?.deviceName ?? 'This device',
        }),
      );
      fallback.hidden = true;
      fallbackPassword.input.value = '';
      client.sync.start();
      done.textContent = 'Your other devices are signed out.';
      await load();
    } catch (err) {
      if (!client.auth.isSignedIn()) {
        signOutOnPurpose.active = false;
        navigate('#/signin');
        return;
      }
      fallbackPassword.setError(explain(err, 'password'));
    } finally {
      signOutOnPurpose.active = false;
    }
  });

  async function signOutOthers(button: HTMLButtonElement) {
    message.textContent = '';
    done.textContent = '';
    button.disabled = true;
    try {
      const others = (await client.auth.sessions()).filter((s) => !s.current);
      for (const s of others) {
        try {
          await client.auth.revokeSession(s.id);
        } catch (err) {
          if (!missingRoute(err)) throw err;
          fallback.hidden = false;
          fallbackPassword.input.focus();
          return;
        }
      }
      done.textContent =
        others.length === 1
          ? 'Your other device is signed out.'
          : `Your ${others.length} other devices are signed out.`;
      await load();
    } catch (err) {
      message.textContent = explain(err);
    } finally {
      button.disabled = false;
    }
  }

  async function load() {
    try {
      const sessions = (await client.auth.sessions()).sort(
        (a, b) => Number(b.current) - Number(a.current) || b.lastUsedAt.localeCompare(a.lastUsedAt),
      );
      replace(
        list,
        sessions.map((s) => {
          const button = h(
            'button',
            { type: 'button', class: s.current ? '' : 'danger' },
            s.current ? 'Sign out this device' : 'Sign out',
          );
          button.setAttribute(
            'aria-label',
            s.current ? 'Sign out this device' : `Sign out ${s.deviceName}`,
          );
          button.addEventListener('click', () => void signOut(s, button));
          return h(
            'li',
            { class: 'device' },
            h(
              'div',
              null,
              h(
                'p',
                { class: 'device-name' },
                s.deviceName || 'Unnamed device',
                s.current ? h('span', { class: 'badge' }, 'This device') : null,
              ),
              h(
                'p',
                { class: 'muted' },
                `Last used ${formatWhen(s.lastUsedAt)} · signed in ${formatWhen(s.createdAt)}`,
              ),
            ),
            button,
          );
        }),
      );
      list.setAttribute('aria-busy', 'false');
      others.hidden = sessions.filter((s) => !s.current).length === 0;
    } catch (err) {
      message.textContent = explain(err);
    }
  }

  const others = h(
    'button',
    { type: 'button', class: 'danger', id: 'sign-out-others' },
    'Sign out everywhere else',
  );
  others.addEventListener('click', () => void signOutOthers(others));
  void load();
  const el = h(
    'section',
    { class: 'card' },
    h('h1', null, 'Your devices'),
    h(
      'p',
      { class: 'muted' },
      'Everywhere you are signed in. Signing a device out ends its session at once; what it had not synced stays on it until you sign in there again.',
    ),
    message,
    done,
    list,
    h('div', { class: 'actions' }, others),
    fallback,
  );
  return { el };
}
