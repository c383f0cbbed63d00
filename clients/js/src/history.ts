import type { Auth } from './auth.js';
import { type Check, contract, fail } from './contract.js';
import { JournalError } from './errors.js';
import type { components } from './generated/api.js';
import type { EntryContent } from './types.js';
import { ID_PATTERN } from './util.js';

/** One kept version of an entry, as `GET /sync/entries/{id}/versions` lists it. */
export type EntryVersion = components['schemas']['EntryVersion'];
type EntryHistoryPage = components['schemas']['EntryHistory'];

export interface HistoryOptions {
  /** At most this many versions (newest first). Default: every kept version. */
  limit?: number;
  /**
   * Turns a stored version's content into what the app reads, on the device (an end-to-end
   * encrypted journal decrypts here, as it does for pulled entries). Default: as stored.
   */
  decode?: (content: EntryContent, version: EntryVersion) => EntryContent | Promise<EntryContent>;
  signal?: AbortSignal;
}

const pageShape = contract('EntryHistory');

/** Newest first, strictly; every version that is not a deletion has content or null (old). */
const historyPage: Check<EntryHistoryPage> = (v, p) => {
  const page = pageShape(v, p);
  page.versions.forEach((x, i) => {
    const prev = page.versions[i - 1];
    if (prev && x.revision >= prev.revision) {
      fail(`${p}.versions[${i}].revision`, `below ${prev.revision}`, x.revision);
    }
  });
  return page;
};

/**
 * An entry's versions kept by the server (its current version and those it replaced within the
 * retention, 90 days by default), newest first, following `nextBefore` page by page.
 */
export async function entryHistory(
  auth: Auth,
  id: string,
  opts: HistoryOptions = {},
): Promise<EntryVersion[]> {
  if (!ID_PATTERN.test(id)) {
    throw new JournalError('validation_failed', 'id must match ^[A-Za-z0-9_-]{1,128}$');
  }
  const want = opts.limit ?? Number.POSITIVE_INFINITY;
  const out: EntryVersion[] = [];
  let before: number | null = null;
  do {
    const page: EntryHistoryPage = historyPage(
      await auth.json(`/sync/entries/${encodeURIComponent(id)}/versions`, {
        query: { limit: Math.min(200, want - out.length), ...(before ? { before } : {}) },
        ...(opts.signal ? { signal: opts.signal } : {}),
      }),
      'history',
    );
    for (const version of page.versions) {
      out.push(
        version.content && opts.decode
          ? { ...version, content: await opts.decode(version.content, version) }
          : version,
      );
    }
    before = page.nextBefore;
  } while (before !== null && out.length < want);
  return out;
}

/** The content a version restores; a deletion (or a version without content) has none. */
export function restorableContent(
  version: Pick<EntryVersion, 'content' | 'deleted'>,
): EntryContent {
  if (version.deleted || !version.content) {
    throw new JournalError('validation_failed', 'a deletion has no content to restore');
  }
  return version.content;
}
