import { client } from '../../client.js';
import { h } from '../../dom.js';
import { type MigrationProgress, migration, progressWords } from '../../e2e.js';
import { explain } from '../../errors.js';

export interface View {
  el: HTMLElement;
  dispose?: () => void;
}

/**
 * The migration's progress from the `encryption` events: "Encrypting 120 of 300 entries…",
 * a progress bar, and a word when it was interrupted (it resumes by itself).
 */
export function progressView(): View {
  const text = h('p', { role: 'status', id: 'e2e-progress', 'data-phase': '' });
  const bar = h('progress', { max: '1', value: '0', 'aria-label': 'Encryption progress' });
  const trouble = h('p', { class: 'muted', 'aria-live': 'polite' });
  const el = h('div', { class: 'e2e-progress' }, text, bar, trouble);

  function draw(p: MigrationProgress | undefined) {
    const done = p?.phase === 'done' || !client.encryption.migrating;
    if (done) {
      text.textContent = progressWords({ phase: 'done', done: 1, total: 1 });
      text.dataset.phase = 'done';
      bar.hidden = true;
      trouble.textContent = '';
      return;
    }
    if (!p) {
      text.textContent = 'Encrypting your journal…';
      bar.removeAttribute('value');
      return;
    }
    text.textContent = progressWords(p);
    text.dataset.phase = p.phase;
    bar.max = Math.max(1, p.total);
    bar.value = Math.min(p.done, p.total);
    trouble.textContent = '';
  }
  draw(migration.progress);
  const off = [
    client.on('encryption', (e) => {
      draw(e.migration ?? migration.progress);
    }),
    client.on('error', (err) => {
      if (client.encryption.migrating)
        trouble.textContent = `Interrupted: ${explain(err)} It goes on by itself; keep this page open.`;
    }),
  ];
  return {
    el,
    dispose: () => {
      for (const f of off) f();
    },
  };
}
