/**
 * Range and conditional-request rules of RFC 9110 for one representation, kept to what the
 * API promises: one byte range, or the whole representation.
 */

export type RangeResult =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number }
  | { kind: 'unsatisfiable' };

const SINGLE_RANGE = /^bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i;

/** A decimal position; anything past 2^53 is simply "beyond any file". */
function position(digits: string): number {
  return digits.length > 15 ? Number.POSITIVE_INFINITY : Number(digits);
}

/**
 * Interprets `Range` for a representation of `size` bytes. Malformed headers, other units and
 * multiple ranges are ignored (the whole representation is sent, as RFC 9110 allows).
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'full' };
  const match = SINGLE_RANGE.exec(header);
  if (!match) return { kind: 'full' };
  const [, firstDigits = '', lastDigits = ''] = match;
  if (firstDigits === '' && lastDigits === '') return { kind: 'full' };

  if (firstDigits === '') {
    // Suffix range: the last n bytes (all of them when the file is shorter).
    const suffix = position(lastDigits);
    if (suffix === 0) return { kind: 'unsatisfiable' };
    // An empty representation has no byte positions to name; send it whole.
    if (size === 0) return { kind: 'full' };
    return { kind: 'partial', start: Math.max(size - suffix, 0), end: size - 1 };
  }

  const first = position(firstDigits);
  const last = lastDigits === '' ? Number.POSITIVE_INFINITY : position(lastDigits);
  if (last < first) return { kind: 'full' }; // invalid range-spec: ignored
  if (first >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start: first, end: Math.min(last, size - 1) };
}

/** The entity-tags of an `If-None-Match`/`If-Range` list, `*` kept as is. */
function entityTags(header: string): string[] {
  return (header.match(/\*|(?:W\/)?"[^"]*"/g) ?? []).map((tag) => tag.trim());
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** `If-None-Match` uses the weak comparison: W/"x" matches "x". */
export function noneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const tags = entityTags(header);
  return tags.some((tag) => tag === '*' || opaque(tag) === opaque(etag));
}

/**
 * `If-Range` keeps the Range only while the representation is unchanged: it needs a strong
 * match of our ETag. A date (we keep no Last-Modified) never matches, so the file is sent whole.
 */
export function ifRangeHolds(header: string | undefined, etag: string): boolean {
  if (header === undefined) return true;
  const value = header.trim();
  return !value.startsWith('W/') && value === etag;
}
