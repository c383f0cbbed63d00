/**
 * The recovery key (docs/encryption.md "Keys"): 256 random bits shown as 24 English BIP39
 * words; the wrapping key is HKDF(entropy, "journal/e2e/v1/recovery-key").
 */
import { entropyToMnemonic, mnemonicToEntropy } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { JournalError } from '../errors.js';
import { hkdfKey, randomBytes, wipe } from './primitives.js';

export const RECOVERY_KEY_INFO = 'journal/e2e/v1/recovery-key';
const WORDS = 24;

/** A new recovery key: its 24 words and the key they derive. */
export function newRecoveryKey(): { words: string; key: Uint8Array } {
  const entropy = randomBytes(32);
  try {
    return {
      words: entropyToMnemonic(entropy, wordlist),
      key: hkdfKey(entropy, RECOVERY_KEY_INFO),
    };
  } finally {
    wipe(entropy);
  }
}

/**
 * The key of a recovery key as typed: any whitespace between words, any case. Throws
 * `invalid_recovery_key` unless it is 24 words of the list with a valid checksum.
 */
export function recoveryKeyFromWords(words: string): Uint8Array {
  const list = words.normalize('NFKD').trim().toLowerCase().split(/\s+/);
  if (list.length !== WORDS)
    throw new JournalError('invalid_recovery_key', `a recovery key is ${WORDS} words`);
  let entropy: Uint8Array;
  try {
    entropy = mnemonicToEntropy(list.join(' '), wordlist);
  } catch {
    throw new JournalError(
      'invalid_recovery_key',
      'the recovery key has a word that is not in the list, or a word is wrong',
    );
  }
  try {
    return hkdfKey(entropy, RECOVERY_KEY_INFO);
  } finally {
    wipe(entropy);
  }
}
