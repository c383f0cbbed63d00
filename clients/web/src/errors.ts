import { JournalError } from './client.js';

const FIELD_WORDS: Record<string, string> = {
  username: 'Use 3 to 64 characters: letters, digits, and . _ @ -',
  password: 'Use at least 8 characters (at most 256).',
  newPassword: 'Use at least 8 characters (at most 256).',
  currentPassword: 'Enter your current password.',
  deviceName: 'Keep the device name shorter.',
};

/** What went wrong, in words a person understands. */
export function explain(err: unknown, context: 'signin' | 'password' | 'general' = 'general') {
  if (!(err instanceof JournalError)) return 'Something went wrong. Please try again.';
  switch (err.code) {
    case 'network':
      return "You're offline or the server can't be reached. Check your connection and try again.";
    case 'rate_limited':
      return `Too many attempts. Please wait ${err.retryAfter ?? 60} seconds and try again.`;
    case 'invalid_credentials':
      return context === 'signin'
        ? "That username and password don't match. Check them and try again."
        : "That password isn't right.";
    case 'username_taken':
      return 'That username is already taken. Please choose another.';
    case 'validation_failed':
    case 'invalid_json':
      return 'Some of what you entered is not accepted. See the notes next to the fields.';
    case 'unauthorized':
    case 'token_expired':
      return 'This device was signed out. Sign in again: nothing you wrote is lost.';
    case 'payload_too_large':
      return 'That file is too large to upload.';
    case 'quota_exceeded':
      return quotaMessage(err);
    case 'unsupported_media_type':
      return "That kind of file can't be uploaded.";
    case 'not_found':
      return 'It no longer exists (maybe it was removed on another device).';
    case 'wrong_passphrase':
      return "That passphrase doesn't open this journal. If it was changed on another device, use the new one.";
    case 'invalid_recovery_key':
      return 'That is not a recovery key: it is 24 words from the list, separated by spaces.';
    case 'wrong_recovery_key':
      return "That recovery key doesn't open this journal. Check each word.";
    case 'passphrase_is_password':
      return 'Choose a passphrase different from your account password.';
    case 'encryption_already_enabled':
      return 'End-to-end encryption was turned on from another device: unlock with its passphrase.';
    case 'encryption_locked':
    case 'encryption_required':
      return 'This device is locked: unlock it with your encryption passphrase first.';
    case 'decryption_failed':
      return 'This could not be decrypted: it was changed, or made with a key this device lacks.';
    case 'upstream_unavailable':
    case 'internal':
    case 'not_ready':
      return 'The server is having trouble right now. Please try again in a moment.';
    default:
      return err.message || 'Something went wrong. Please try again.';
  }
}

const QUOTA_WORDS: Record<string, string> = {
  entries: 'You have reached the most entries your account can hold',
  entryBytes: 'Your entries have reached the most text your account can hold',
  attachments: 'You have reached the most photos your account can hold',
  attachmentBytes: 'Your photos have reached the most space your account can hold',
};

/** An amount of a quota: a count as is, bytes in KiB/MiB/GiB. */
export function formatQuota(name: string, n: number): string {
  if (!name.endsWith('Bytes')) return n.toLocaleString('en');
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** A refusal for a quota, in words: which one, and how to make room (Account shows usage). */
export function quotaMessage(err: JournalError): string {
  const q = err.quota;
  const what = (q && QUOTA_WORDS[q.quota]) ?? 'Your account is full';
  const figures = q
    ? ` (${formatQuota(q.quota, q.usage)} of ${formatQuota(q.quota, q.limit)})`
    : '';
  return `Not saved to the server: ${what}${figures}. It is kept on this device; delete something to make room, and it syncs.`;
}

/** Field name -> message, from a validation problem's `errors`. */
export function fieldErrors(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!(err instanceof JournalError) || err.code !== 'validation_failed') return out;
  for (const e of err.problem?.errors ?? []) {
    const name =
      String(e.path)
        .replace(/^\/?(body\.)?/, '')
        .split(/[./]/)[0] ?? '';
    out[name] = FIELD_WORDS[name] ?? e.message;
  }
  return out;
}
