import { ProblemError } from '@journal/shared';

/**
 * List cursors are opaque to clients: base64url of a versioned position (the last id of the
 * page). They carry no authority: a hand-made one can only position a listing inside the
 * caller's own attachments, so anything that does not decode to a valid position is a 400.
 */
const PREFIX = 'a1:';
const ID = /^[A-Za-z0-9_-]{1,128}$/;

export function encodeCursor(lastId: string): string {
  return Buffer.from(PREFIX + lastId, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const id = text.startsWith(PREFIX) ? text.slice(PREFIX.length) : '';
  // Round trip as well, so only the exact encoding we emit is accepted.
  if (!ID.test(id) || encodeCursor(id) !== cursor) {
    throw new ProblemError('validation_failed', 'cursor is not one this server made', {
      errors: [{ path: 'querystring.cursor', message: 'is not a cursor this server made' }],
    });
  }
  return id;
}
