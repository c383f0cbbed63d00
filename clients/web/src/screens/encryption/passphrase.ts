import { field, h } from '../../dom.js';

/** The shortest encryption passphrase the app accepts. */
export const MIN_PASSPHRASE = 10;

/**
 * A new encryption passphrase and its repetition. `check()` returns it when both are filled,
 * long enough and equal (else marks the field and returns undefined).
 */
export function newPassphraseFields(idPrefix: string, label = 'New encryption passphrase') {
  const passphrase = field(
    label,
    h('input', {
      type: 'password',
      name: `${idPrefix}-passphrase`,
      id: `${idPrefix}-passphrase`,
      autocomplete: 'new-password',
    }),
    `At least ${MIN_PASSPHRASE} characters; several words are easier to remember. Not your account password.`,
  );
  const repeat = field(
    'Repeat the passphrase',
    h('input', {
      type: 'password',
      name: `${idPrefix}-repeat`,
      id: `${idPrefix}-repeat`,
      autocomplete: 'new-password',
    }),
  );
  return {
    wraps: [passphrase.wrap, repeat.wrap],
    passphrase,
    check(): string | undefined {
      passphrase.setError(undefined);
      repeat.setError(undefined);
      const value = passphrase.input.value;
      if (value.length < MIN_PASSPHRASE) {
        passphrase.setError(`Use at least ${MIN_PASSPHRASE} characters.`);
        passphrase.input.focus();
        return undefined;
      }
      if (repeat.input.value !== value) {
        repeat.setError('The two passphrases are not the same.');
        repeat.input.focus();
        return undefined;
      }
      return value;
    },
    clear() {
      passphrase.input.value = '';
      repeat.input.value = '';
    },
  };
}
