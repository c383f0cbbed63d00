import { type Conflict, client, safeBlobType } from '../client.js';
import { field, formatWhen, h, replace, uid } from '../dom.js';
import { explain, quotaMessage } from '../errors.js';
import {
  drafts,
  type EntryContent,
  MOODS,
  type Photo,
  parseTags,
  photoUrl,
  readContent,
} from '../model.js';
import { navigate, PENDING_EVENT, type Screen } from '../shell.js';

const SAVE_DELAY_MS = 600;

function newId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(10)), (b) =>
    b.toString(16).padStart(2, '0'),
  ).join('');
}

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

export async function editorScreen(givenId: string | undefined): Promise<Screen> {
  const id = givenId || newId();
  const isNew = !givenId;
  const existing = givenId ? await client.entries.get(id) : undefined;
  const draft = drafts.get(id);
  let base: EntryContent =
    draft ??
    (existing
      ? readContent(existing.content, existing.updatedAt)
      : readContent({}, new Date().toISOString()));
  let photos: Photo[] = [...base.photos];
  let dirty = !!draft;
  let created = !!existing;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const title = field('Title', h('input', { name: 'title', value: base.title, maxlength: 200 }));
  const body = field(
    'What happened today?',
    h('textarea', { name: 'body', rows: 10, value: base.body }),
  );
  const tags = field(
    'Tags',
    h('input', { name: 'tags', value: base.tags.join(', '), autocomplete: 'off' }),
    'Separate tags with commas, e.g. family, travel',
  );
  const moodName = uid('mood');
  const moodInputs = MOODS.map((m) =>
    h('input', {
      type: 'radio',
      name: moodName,
      value: m.value,
      id: `${moodName}-${m.value}`,
      checked: base.mood === m.value,
    }),
  );
  const moods = h(
    'fieldset',
    { class: 'moods' },
    h('legend', null, 'Mood'),
    MOODS.map((m, i) =>
      h(
        'label',
        { for: `${moodName}-${m.value}`, class: 'mood-choice' },
        moodInputs[i],
        h('span', { 'aria-hidden': 'true', class: 'mood-emoji' }, m.emoji),
        h('span', null, m.label),
      ),
    ),
  );
  const saveState = h('p', { class: 'save-state', role: 'status' });
  const photoError = h('p', { class: 'field-error', id: 'photo-error', 'aria-live': 'polite' });
  const fileInput = h('input', {
    type: 'file',
    accept: 'image/*',
    multiple: true,
    id: 'photo-input',
    class: 'visually-hidden-file',
    'aria-describedby': 'photo-error',
  });
  const photoList = h('ul', { class: 'photos', 'aria-label': 'Photos' });
  const conflictBox = h('div', { class: 'conflict-box' });

  function read(): EntryContent {
    return {
      title: title.input.value,
      body: body.input.value,
      mood: moodInputs.find((i) => i.checked)?.value ?? '',
      tags: parseTags(tags.input.value),
      photos,
      createdAt: base.createdAt,
    };
  }

  function fill(c: EntryContent) {
    base = c;
    title.input.value = c.title;
    body.input.value = c.body;
    tags.input.value = c.tags.join(', ');
    for (const i of moodInputs) i.checked = i.value === c.mood;
    photos = [...c.photos];
    drawPhotos();
  }

  function drawPhotos() {
    replace(
      photoList,
      photos.map((p, i) => {
        const img = h('img', { alt: `Photo ${i + 1}`, class: 'photo', width: 96, height: 96 });
        photoUrl(p.id).then(
          (u) => {
            img.src = u;
          },
          () => img.classList.add('broken'),
        );
        return h(
          'li',
          null,
          img,
          h(
            'button',
            {
              type: 'button',
              class: 'remove-photo',
              'aria-label': `Remove photo ${i + 1}`,
              onclick: () => {
                photos = photos.filter((x) => x.id !== p.id);
                drawPhotos();
                changed();
              },
            },
            '×',
          ),
        );
      }),
    );
  }

  // An edit waiting to be saved is said at once ("Saved and synced." must not stay on screen
  // meanwhile). Reads of the entry can finish out of order: only the latest call's answer is
  // shown, so an older "syncing…" never overwrites a newer "Saved and synced.".
  let saveStateCall = 0;
  function setSaveState() {
    const call = ++saveStateCall;
    if (dirty) {
      saveState.textContent = 'Saving…';
      return;
    }
    client.entries.get(id).then((e) => {
      if (call !== saveStateCall) return;
      if (client.conflicts.list().some((c) => c.id === id))
        saveState.textContent = 'Waiting for your choice above.';
      else if (!e) saveState.textContent = isNew ? 'Start writing: it saves as you type.' : '';
      else if (e.pending && client.sync.quotaExceeded)
        saveState.textContent = quotaMessage(client.sync.quotaExceeded);
      else if (e.pending)
        saveState.textContent = navigator.onLine
          ? 'Saved on this device, syncing…'
          : "Saved on this device. It will sync when you're back online.";
      else saveState.textContent = 'Saved and synced.';
    });
  }

  async function save() {
    clearTimeout(timer);
    timer = undefined;
    if (!dirty) return;
    const c = read();
    if (!created && !c.title.trim() && !c.body.trim() && !c.photos.length) return;
    await client.entries.put(id, { ...c });
    created = true;
    dirty = false;
    drafts.clear(id);
    setSaveState();
  }

  function changed() {
    dirty = true;
    // The draft's id goes into the address at once, so a reload finds the draft.
    if (isNew && location.hash === '#/new')
      history.replaceState(null, '', `#/entry/${encodeURIComponent(id)}`);
    drafts.set(id, read()); // nothing typed is lost, even if the tab closes before the save
    setSaveState();
    clearTimeout(timer);
    timer = setTimeout(() => void save(), SAVE_DELAY_MS);
  }

  function drawConflict() {
    const c: Conflict | undefined = client.conflicts.list().find((x) => x.id === id);
    if (!c) {
      replace(conflictBox);
      return;
    }
    const mine = c.local.deleted ? undefined : readContent(c.local.content, c.local.updatedAt);
    const server = c.server;
    const theirs =
      !server || server.deleted ? undefined : readContent(server.content, server.updatedAt);
    const choose = async (choice: 'local' | 'server') => {
      await client.conflicts.resolve(id, choice);
      const e = await client.entries.get(id);
      if (e) fill(readContent(e.content, e.updatedAt));
      dirty = false;
      drafts.clear(id);
      drawConflict();
      setSaveState();
      title.input.focus();
    };
    replace(
      conflictBox,
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

  fileInput.addEventListener('change', async () => {
    photoError.textContent = '';
    const files = [...(fileInput.files ?? [])];
    fileInput.value = '';
    for (const file of files) {
      // Raster pictures only: an SVG can carry script, so it is refused as a photo.
      if (!safeBlobType(file.type).startsWith('image/')) {
        photoError.textContent = `“${file.name}” is not a picture (use JPEG, PNG, GIF, WebP…).`;
        continue;
      }
      const attId = newId();
      photoError.textContent = `Uploading ${file.name}…`;
      try {
        await client.attachments.upload(attId, file, { contentType: file.type });
        photos = [...photos, { id: attId, contentType: file.type }];
        photoError.textContent = '';
        drawPhotos();
        changed();
      } catch (err) {
        photoError.textContent = `${file.name} was not added. ${explain(err)}`;
      }
    }
  });

  for (const input of [title.input, body.input, tags.input, ...moodInputs])
    input.addEventListener('input', changed);

  const offs = [
    client.on('change', (e) => {
      if (!e.ids.includes(id)) return;
      if (e.source === 'remote' && !dirty)
        void client.entries.get(id).then((x) => {
          if (x && !dirty) fill(readContent(x.content, x.updatedAt));
        });
      setSaveState();
    }),
    client.on('conflict', (c) => {
      if (c.id === id) drawConflict();
    }),
    // A push refused for a quota: the edit stays on this device, and the editor says why.
    client.on('error', setSaveState),
    // A push answered: the entry may be synced now. The pending count alone can miss it (an
    // edit pushed within one recount leaves the count where it was, and sends no event).
    client.on('progress', (p) => {
      if (p.phase === 'push') setSaveState();
    }),
  ];
  window.addEventListener('online', setSaveState);
  window.addEventListener('offline', setSaveState);
  window.addEventListener(PENDING_EVENT, setSaveState);

  const remove = h(
    'button',
    {
      type: 'button',
      class: 'danger',
      onclick: async () => {
        if (!window.confirm('Delete this entry on all your devices?')) return;
        clearTimeout(timer);
        dirty = false;
        drafts.clear(id);
        if (created) await client.entries.delete(id);
        navigate('#/');
      },
    },
    'Delete entry',
  );

  const form = h(
    'form',
    { class: 'editor', 'aria-labelledby': 'editor-title' },
    title.wrap,
    body.wrap,
    moods,
    tags.wrap,
    h(
      'div',
      { class: 'field' },
      h('span', { class: 'label' }, 'Photos'),
      photoList,
      fileInput,
      h(
        'label',
        { for: 'photo-input', class: 'button file-button' },
        h('span', { 'aria-hidden': 'true' }, '+'),
        ' Add photos',
      ),
      photoError,
    ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Done'),
      remove,
      saveState,
    ),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    dirty = dirty || isNew;
    await save();
    navigate('#/');
  });

  drawPhotos();
  drawConflict();
  setSaveState();
  if (draft) timer = setTimeout(() => void save(), 0);

  const el = h(
    'section',
    { class: 'card' },
    h('p', null, h('a', { href: '#/', class: 'back' }, '← Journal')),
    h('h1', { id: 'editor-title' }, existing || draft ? 'Edit entry' : 'New entry'),
    h(
      'p',
      { class: 'muted' },
      formatWhen(base.createdAt),
      ' · saves as you type, also offline.',
      existing || draft
        ? [' · ', h('a', { href: `#/history/${encodeURIComponent(id)}` }, 'History')]
        : null,
    ),
    conflictBox,
    form,
  );
  return {
    el,
    dispose: () => {
      for (const f of offs) f();
      window.removeEventListener('online', setSaveState);
      window.removeEventListener('offline', setSaveState);
      window.removeEventListener(PENDING_EVENT, setSaveState);
      if (dirty) void save();
    },
  };
}
