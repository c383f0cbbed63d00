import { client, type EntryVersion, JournalError } from '../client.js';
import { formatWhen, h, replace } from '../dom.js';
import { explain } from '../errors.js';
import { readContent } from '../model.js';
import { navigate, type Screen, showNotice } from '../shell.js';

/**
 * An entry's history: the versions the server keeps (90 days), newest first. Restoring one is
 * a new edit of the entry (it syncs to the other devices, and can conflict like any edit).
 */
export function historyScreen(id: string): Screen {
  const list = h('ol', { class: 'history', 'aria-busy': 'true', 'aria-label': 'Versions' });
  const state = h('p', { class: 'muted', role: 'status' }, 'Loading the history…');
  const message = h('p', { class: 'form-error', role: 'alert' });
  const pendingNote = h('p', { class: 'muted', hidden: true });
  const back = `#/entry/${encodeURIComponent(id)}`;

  async function restore(v: EntryVersion, button: HTMLButtonElement) {
    message.textContent = '';
    button.disabled = true;
    try {
      await client.entries.restore(id, v);
      showNotice(`The version of ${formatWhen(v.updatedAt)} is restored.`);
      navigate(back);
    } catch (err) {
      message.textContent = explain(err);
      button.disabled = false;
    }
  }

  function versionItem(v: EntryVersion) {
    const when = formatWhen(v.updatedAt);
    if (v.deleted || !v.content)
      return h(
        'li',
        { class: 'version-item' },
        h('p', { class: 'version-head' }, h('strong', null, when)),
        h(
          'p',
          { class: 'muted' },
          v.deleted ? 'Deleted.' : 'The text of this version is not kept.',
        ),
      );
    const c = readContent(v.content, v.updatedAt);
    const button = h(
      'button',
      { type: 'button', 'aria-label': `Restore the version of ${when}` },
      'Restore',
    );
    button.addEventListener('click', () => void restore(v, button));
    return h(
      'li',
      { class: 'version-item', 'data-revision': v.revision },
      h(
        'div',
        { class: 'version-head' },
        h(
          'p',
          null,
          h('strong', null, when),
          v.current ? h('span', { class: 'badge' }, 'Current') : null,
        ),
        v.current ? null : button,
      ),
      h('p', { class: 'version-title' }, c.title || 'Untitled'),
      c.body ? h('p', { class: 'version-body' }, c.body.slice(0, 400)) : null,
      c.tags.length ? h('p', { class: 'muted' }, c.tags.map((t) => `#${t}`).join(' ')) : null,
    );
  }

  async function load() {
    const local = await client.entries.get(id);
    if (local?.pending) {
      pendingNote.hidden = false;
      pendingNote.textContent =
        'This device has a change of this entry that is not synced yet: it is listed once it is.';
    }
    try {
      const versions = await client.entries.history(id);
      replace(list, versions.map(versionItem));
      state.textContent =
        versions.length === 1
          ? 'One version: this entry was not changed since it was written.'
          : `${versions.length} versions, newest first. Versions are kept for 90 days.`;
    } catch (err) {
      state.textContent = '';
      message.textContent =
        err instanceof JournalError && err.code === 'not_found'
          ? 'This entry is not on the server yet: its history starts when it syncs.'
          : err instanceof JournalError && err.code === 'network'
            ? "The history is on the server: it can't be read while you're offline."
            : explain(err);
    } finally {
      list.setAttribute('aria-busy', 'false');
    }
  }
  void load();

  const el = h(
    'section',
    { class: 'card' },
    h('p', null, h('a', { href: back, class: 'back' }, '← Entry')),
    h('h1', null, 'History of this entry'),
    state,
    pendingNote,
    message,
    list,
  );
  return { el };
}
