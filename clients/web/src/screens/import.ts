import { client, type ImportProgress, importJournal, JournalError } from '../client.js';
import { h } from '../dom.js';
import { explain } from '../errors.js';
import type { Screen } from '../shell.js';

const PHASES: Record<ImportProgress['phase'], string> = {
  reading: 'Reading the file…',
  photos: 'Uploading photos…',
  entries: 'Adding entries…',
};

/**
 * Import a journal: this app's own export (a zip from "Download my journal") or Day One's JSON
 * export. A progress bar while it runs, a summary at the end; importing the same file again
 * adds nothing twice, and a file that is not a journal is refused before anything is added.
 */
export function importScreen(): Screen {
  const input = h('input', {
    type: 'file',
    id: 'import-file',
    accept: '.zip,application/zip',
    'aria-describedby': 'import-hint',
  });
  const bar = h('progress', { max: 1, value: 0, hidden: true, 'aria-label': 'Import progress' });
  const state = h('p', { role: 'status', class: 'muted' });
  const error = h('p', { role: 'alert', class: 'form-error' });
  const summary = h('div', { class: 'summary', role: 'status' });
  const start = h('button', { type: 'submit', class: 'primary' }, 'Import');
  let controller: AbortController | undefined;

  const form = h(
    'form',
    { novalidate: true, 'aria-labelledby': 'import-title' },
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'import-file' }, 'Journal file (zip)'),
      input,
      h(
        'p',
        { class: 'hint', id: 'import-hint' },
        'A zip from “Download my journal”, or a Day One export (Settings › Import/Export › JSON).',
      ),
    ),
    error,
    h('div', { class: 'actions' }, start),
    bar,
    state,
    summary,
  );

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    summary.replaceChildren();
    const file = input.files?.[0];
    if (!file) {
      error.textContent = 'Choose a zip file first.';
      input.focus();
      return;
    }
    start.disabled = true;
    input.disabled = true;
    bar.hidden = false;
    controller = new AbortController();
    const began = performance.now();
    try {
      const result = await importJournal(client, file, {
        signal: controller.signal,
        onProgress: (p) => {
          bar.max = Math.max(1, p.total);
          bar.value = p.done;
          state.textContent = `${PHASES[p.phase]} ${p.total > 1 ? `${p.done} of ${p.total}` : ''}`;
        },
      });
      const seconds = (performance.now() - began) / 1000;
      state.textContent = 'Import finished.';
      summary.replaceChildren(
        h('h2', null, 'Imported'),
        h(
          'p',
          { 'data-added': result.added, 'data-skipped': result.skipped },
          `${result.added} ${result.added === 1 ? 'entry' : 'entries'} added`,
          result.skipped ? `, ${result.skipped} already in your journal` : '',
          `, ${result.attachments} ${result.attachments === 1 ? 'photo' : 'photos'}`,
          ` (${result.format === 'dayone' ? 'Day One' : 'journal'} export, ${seconds.toFixed(1)} s).`,
        ),
        result.notes.length
          ? h(
              'ul',
              null,
              result.notes.map((n) => h('li', null, n)),
            )
          : '',
        h('p', null, h('a', { href: '#/' }, 'Open the journal')),
      );
    } catch (err) {
      bar.hidden = true;
      state.textContent = '';
      error.textContent =
        err instanceof JournalError && err.code === 'validation_failed'
          ? `This file can't be imported: ${err.message} Nothing was added.`
          : `The import stopped: ${explain(err)} Entries are added only at the end, so nothing was added; try again.`;
    } finally {
      start.disabled = false;
      input.disabled = false;
      controller = undefined;
    }
  });

  const el = h(
    'section',
    { class: 'card' },
    h('p', null, h('a', { href: '#/account', class: 'back' }, '← Account')),
    h('h1', { id: 'import-title' }, 'Import a journal'),
    h(
      'p',
      null,
      'Entries and photos are added to your journal and sync to your other devices. Entries already in your journal are not added again.',
    ),
    form,
  );
  return { el, dispose: () => controller?.abort() };
}
