import { client, type Session } from '../client.js';
import { formatWhen, h, replace } from '../dom.js';
import { explain } from '../errors.js';
import { navigate, type Screen } from '../shell.js';
import { signOutDialog } from '../signout.js';

export function devicesScreen(): Screen {
  const list = h('ul', { class: 'devices', 'aria-busy': 'true' });
  const message = h('p', { class: 'form-error', role: 'alert' });
  const done = h('p', { class: 'success', role: 'status' });

  async function signOut(s: Session, button: HTMLButtonElement) {
    message.textContent = '';
    button.disabled = true;
    try {
      if (s.current) {
        if (await signOutDialog()) navigate('#/signin');
        else button.disabled = false;
        return;
      }
      await client.auth.revokeSession(s.id);
      done.textContent = `“${s.deviceName}” is signed out.`;
      await load();
    } catch (err) {
      message.textContent = explain(err);
      button.disabled = false;
    }
  }

  async function signOutOthers(button: HTMLButtonElement) {
    message.textContent = '';
    done.textContent = '';
    button.disabled = true;
    try {
      const others = (await client.auth.sessions()).filter((s) => !s.current);
      for (const s of others) await client.auth.revokeSession(s.id);
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
  );
  return { el };
}
