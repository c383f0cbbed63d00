import { type Conflict, client } from '../../client.js';
import { formatWhen, h, replace } from '../../dom.js';
import { type EntryContent, readContent } from '../../model.js';

function versionView(label: string, c: EntryContent | undefined, deleted: boolean) {
  return h(
    'div',
    { class: 'version' },
    h('h3', null, label),
    deleted || !c
      ? h('p', { class: 'muted' }, 'Deleted.')
      : [
          h('p', { class: 'version-title' }, c.title || 'Untitled'),
          h('p', { class: 'version-body' }, c.body || '(no text)'),
          c.tags.length ? h('p', { class: 'muted' }, c.tags.map((t) => `#${t}`).join(' ')) : null,
        ],
  );
}

/**
 * The banner of an open conflict on entry `id`: both versions side by side and a choice.
 * `draw()` shows it (or nothing when the entry has no open conflict); `onResolved` runs after
 * the choice was applied.
 */
export function conflictBanner(id: string, onResolved: () => Promise<void> | void) {
  const el = h('div', { class: 'conflict-box' });

  function draw() {
    const c: Conflict | undefined = client.conflicts.list().find((x) => x.id === id);
    if (!c) {
      replace(el);
      return;
    }
    const mine = c.local.deleted ? undefined : readContent(c.local.content, c.local.updatedAt);
    const server = c.server;
    const theirs =
      !server || server.deleted ? undefined : readContent(server.content, server.updatedAt);
    const choose = async (choice: 'local' | 'server') => {
      await client.conflicts.resolve(id, choice);
      await onResolved();
      draw();
    };
    replace(
      el,
      h(
        'section',
        { class: 'banner warn conflict', 'aria-labelledby': 'conflict-title' },
        h('h2', { id: 'conflict-title' }, 'This entry was changed on two devices'),
        h(
          'p',
          null,
          `Another device ${server ? 'saved a different version' : 'deleted this entry'}${
            server ? ` (${formatWhen(server.updatedAt)})` : ''
          } while this one had unsynced changes. Choose the version to keep on all your devices.`,
        ),
        h(
          'div',
          { class: 'versions' },
          versionView("This device's version", mine, c.local.deleted),
          versionView("The other device's version", theirs, !server || server.deleted),
        ),
        h(
          'div',
          { class: 'actions' },
          h(
            'button',
            { type: 'button', class: 'primary', onclick: () => void choose('local') },
            "Keep this device's version",
          ),
          h(
            'button',
            { type: 'button', onclick: () => void choose('server') },
            "Keep the other device's version",
          ),
        ),
      ),
    );
  }

  return { el, draw };
}
