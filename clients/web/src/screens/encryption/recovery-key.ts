import { field, h, replace } from '../../dom.js';

/** The words asked back (1-based) before the person may go on. */
export const CHECKED_WORDS = [3, 11, 20] as const;

/**
 * The recovery key, shown this once: its 24 words, "I have written it down", then three of
 * its words asked back. `onConfirmed` runs when they match; until then it cannot be skipped.
 */
export function recoveryKeyStep(recoveryKey: string, onConfirmed: () => void): HTMLElement {
  const words = recoveryKey.trim().split(/\s+/);
  const el = h('div', { class: 'e2e-recovery', id: 'recovery-step' });

  function showWords() {
    const written = h('input', { type: 'checkbox', id: 'recovery-written' });
    const error = h('p', { class: 'form-error', role: 'alert' });
    const next = h('button', { type: 'button', class: 'primary' }, 'Continue');
    next.addEventListener('click', () => {
      if (!written.checked) {
        error.textContent = 'Write the words down first, then tick the box.';
        written.focus();
        return;
      }
      askWords();
    });
    replace(
      el,
      h('h3', { id: 'recovery-title', tabindex: '-1' }, 'Your recovery key'),
      h(
        'p',
        null,
        h('strong', null, 'Write these 24 words down, in order, and keep them somewhere safe.'),
        ' They are shown only this once. With them you can open your journal if you forget the passphrase; nobody, not even the server’s operators, can do that for you.',
      ),
      h(
        'ol',
        { class: 'recovery-words', 'aria-labelledby': 'recovery-title', id: 'recovery-words' },
        words.map((w) => h('li', null, w)),
      ),
      h(
        'div',
        { class: 'check' },
        written,
        h('label', { for: 'recovery-written' }, 'I have written it down'),
      ),
      error,
      next,
    );
    (el.querySelector('h3') as HTMLElement).focus();
  }

  function askWords() {
    const fields = CHECKED_WORDS.map((n) =>
      field(
        `Word ${n}`,
        h('input', {
          name: `word-${n}`,
          id: `recovery-word-${n}`,
          autocomplete: 'off',
          autocapitalize: 'none',
          spellcheck: 'false',
        }),
      ),
    );
    const error = h('p', { class: 'form-error', role: 'alert' });
    const again = h('button', { type: 'button' }, 'Show the words again');
    again.addEventListener('click', showWords);
    const form = h(
      'form',
      { novalidate: true, 'aria-labelledby': 'recovery-check-title' },
      h('h3', { id: 'recovery-check-title', tabindex: '-1' }, 'Check your recovery key'),
      h(
        'p',
        null,
        `To be sure it is written down correctly, enter words ${CHECKED_WORDS.slice(0, -1).join(', ')} and ${CHECKED_WORDS.at(-1)} of it.`,
      ),
      fields.map((f) => f.wrap),
      error,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'submit', class: 'primary' }, 'Confirm'),
        again,
      ),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      error.textContent = '';
      let wrong = 0;
      CHECKED_WORDS.forEach((n, i) => {
        const f = fields[i];
        if (!f) return;
        const ok = f.input.value.trim().toLowerCase() === words[n - 1];
        f.setError(ok ? undefined : `This is not word ${n} of your recovery key.`);
        if (!ok && wrong++ === 0) f.input.focus();
      });
      if (wrong) {
        error.textContent = 'Some words do not match. Check what you wrote down.';
        return;
      }
      onConfirmed();
    });
    replace(el, form);
    (el.querySelector('h3') as HTMLElement).focus();
  }

  showWords();
  return el;
}
