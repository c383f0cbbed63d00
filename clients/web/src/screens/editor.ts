import { client } from '../client.js';
import { formatWhen, h } from '../dom.js';
import { quotaMessage } from '../errors.js';
import { drafts, type EntryContent, readContent } from '../model.js';
import { navigate, PENDING_EVENT, type Screen } from '../shell.js';
import { conflictBanner } from './editor/conflict.js';
import { entryFields } from './editor/fields.js';
import { newId } from './editor/ids.js';
import { photoPicker } from './editor/photos.js';

const SAVE_DELAY_MS = 600;

export async function editorScreen(givenId: string | undefined): Promise<Screen> {
  const id = givenId || newId();
  const isNew = !givenId;
  const existing = givenId ? await client.entries.get(id) : undefined;
  const draft = drafts.get(id);
  const base: EntryContent =
    draft ??
    (existing
      ? readContent(existing.content, existing.updatedAt)
      : readContent({}, new Date().toISOString()));
  let dirty = !!draft;
  let created = !!existing;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const fields = entryFields(base);
  const photos = photoPicker(base.photos, () => changed());
  const saveState = h('p', { class: 'save-state', role: 'status' });
  const read = (): EntryContent => fields.read(photos.photos);
  function fill(c: EntryContent) {
    fields.fill(c);
    photos.set(c.photos);
  }
  const conflict = conflictBanner(id, async () => {
    const e = await client.entries.get(id);
    if (e) fill(readContent(e.content, e.updatedAt));
    dirty = false;
    drafts.clear(id);
    setSaveState();
    fields.title.input.focus();
  });

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

  for (const input of fields.inputs) input.addEventListener('input', changed);

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
      if (c.id === id) conflict.draw();
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
    fields.title.wrap,
    fields.body.wrap,
    fields.moods,
    fields.tags.wrap,
    photos.el,
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

  conflict.draw();
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
      formatWhen(fields.base.createdAt),
      ' · saves as you type, also offline.',
      existing || draft
        ? [' · ', h('a', { href: `#/history/${encodeURIComponent(id)}` }, 'History')]
        : null,
    ),
    conflict.el,
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
