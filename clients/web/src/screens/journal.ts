import { client, type LocalEntry } from '../client.js';
import { field, formatDay, formatTime, h, replace } from '../dom.js';
import { entryContent, moodOf, photoUrl } from '../model.js';
import { PENDING_EVENT, type Screen } from '../shell.js';

function matches(e: LocalEntry, q: string): boolean {
  if (!q) return true;
  const c = entryContent(e);
  const hay = [c.title, c.body, c.mood, ...c.tags.map((t) => `#${t}`)].join('\n').toLowerCase();
  return q
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((w) => hay.includes(w));
}

function entryCard(e: LocalEntry) {
  const c = entryContent(e);
  const mood = moodOf(c.mood);
  const thumbs = h('span', { class: 'thumbs' });
  for (const [i, p] of c.photos.slice(0, 3).entries()) {
    const img = h('img', { alt: `Photo ${i + 1}`, class: 'thumb', width: 48, height: 48 });
    photoUrl(p.id).then(
      (u) => {
        img.src = u;
      },
      () => img.classList.add('broken'),
    );
    thumbs.append(img);
  }
  const snippet = c.body.split('\n').find((l) => l.trim()) ?? '';
  return h(
    'li',
    { class: 'entry', 'data-id': e.id },
    h(
      'a',
      { href: `#/entry/${encodeURIComponent(e.id)}`, class: 'entry-link' },
      h(
        'span',
        { class: 'entry-head' },
        mood ? h('span', { class: 'mood', title: mood.label }, mood.emoji) : null,
        h('span', { class: 'entry-title' }, c.title || snippet.slice(0, 60) || 'Untitled'),
        h('time', { datetime: c.createdAt, class: 'muted' }, formatTime(c.createdAt)),
      ),
      c.title && snippet ? h('span', { class: 'snippet' }, snippet.slice(0, 160)) : null,
      mood ? h('span', { class: 'sr-only' }, `Mood: ${mood.label}.`) : null,
    ),
    h(
      'span',
      { class: 'entry-meta' },
      c.tags.map((t) => h('span', { class: 'tag' }, `#${t}`)),
      thumbs,
      e.pending ? h('span', { class: 'pending' }, 'Not synced yet') : null,
    ),
  );
}

export function journalScreen(): Screen {
  const search = field(
    'Search',
    h('input', {
      type: 'search',
      name: 'q',
      placeholder: 'Words, #tags or moods',
      autocomplete: 'off',
    }),
  );
  const list = h('div', { class: 'days', 'aria-live': 'polite' });
  const conflicts = h('div', { class: 'conflicts' });
  const count = h('p', { class: 'muted count' });

  async function draw() {
    const all = (await client.entries.list()).sort((a, b) =>
      entryContent(b).createdAt.localeCompare(entryContent(a).createdAt),
    );
    const q = search.input.value.trim();
    const shown = all.filter((e) => matches(e, q));
    count.textContent = q
      ? `${shown.length} of ${all.length} entries match “${q}”.`
      : `${all.length} ${all.length === 1 ? 'entry' : 'entries'}.`;
    const open = client.conflicts.list();
    replace(
      conflicts,
      open.length
        ? h(
            'div',
            { class: 'banner warn', role: 'status' },
            h(
              'p',
              null,
              open.length === 1
                ? 'One entry was changed on two devices at once. Choose which version to keep:'
                : `${open.length} entries were changed on two devices at once. Choose which versions to keep:`,
            ),
            h(
              'ul',
              null,
              open.map((c) =>
                h(
                  'li',
                  null,
                  h(
                    'a',
                    { href: `#/entry/${encodeURIComponent(c.id)}` },
                    `Review “${entryContent(c.local).title || 'Untitled'}”`,
                  ),
                ),
              ),
            ),
          )
        : null,
    );
    if (!all.length) {
      replace(
        list,
        h(
          'div',
          { class: 'empty' },
          h('p', null, 'Nothing here yet.'),
          h(
            'p',
            null,
            h('a', { href: '#/new', class: 'button primary' }, 'Write your first entry'),
          ),
        ),
      );
      return;
    }
    const days = new Map<string, LocalEntry[]>();
    for (const e of shown) {
      const day = formatDay(entryContent(e).createdAt);
      days.set(day, [...(days.get(day) ?? []), e]);
    }
    replace(
      list,
      [...days].map(([day, entries]) =>
        h(
          'section',
          { class: 'day', 'aria-label': day },
          h('h2', null, day),
          h('ul', { class: 'entries' }, entries.map(entryCard)),
        ),
      ),
      shown.length ? null : h('p', { class: 'empty' }, 'No entries match your search.'),
    );
  }

  search.input.addEventListener('input', () => void draw());
  const redraw = () => void draw();
  window.addEventListener(PENDING_EVENT, redraw);
  const off = [
    client.on('change', redraw),
    client.on('conflict', redraw),
    () => window.removeEventListener(PENDING_EVENT, redraw),
  ];
  void draw();
  const el = h(
    'section',
    { class: 'journal' },
    h(
      'div',
      { class: 'title-row' },
      h('h1', null, 'Journal'),
      h(
        'a',
        { href: '#/new', class: 'button primary', id: 'new-entry' },
        h('span', { 'aria-hidden': 'true' }, '+'),
        ' New entry',
      ),
    ),
    conflicts,
    h('div', { class: 'searchbar', role: 'search' }, search.wrap),
    count,
    list,
  );
  return {
    el,
    dispose: () => {
      for (const f of off) f();
    },
  };
}
