import { client, currentUser, type LocalEntry } from './client.js';

export interface Photo {
  id: string;
  contentType: string;
}
export interface EntryContent {
  title: string;
  body: string;
  mood: string;
  tags: string[];
  photos: Photo[];
  /** When the entry was first written: it decides the day it is listed under. */
  createdAt: string;
}

export const MOODS: { value: string; emoji: string; label: string }[] = [
  { value: 'great', emoji: '😄', label: 'Great' },
  { value: 'good', emoji: '😊', label: 'Good' },
  { value: 'okay', emoji: '😐', label: 'Okay' },
  { value: 'low', emoji: '😕', label: 'Low' },
  { value: 'bad', emoji: '😢', label: 'Bad' },
];

const str = (v: unknown) => (typeof v === 'string' ? v : '');

/** Any JSON object as an entry's content (other apps may write other shapes). */
export function readContent(content: Record<string, unknown> | null, fallbackDate: string) {
  const c = content ?? {};
  return {
    title: str(c.title),
    body: str(c.body),
    mood: str(c.mood),
    tags: Array.isArray(c.tags) ? c.tags.filter((t): t is string => typeof t === 'string') : [],
    photos: Array.isArray(c.photos)
      ? (c.photos as unknown[]).filter(
          (p): p is Photo =>
            typeof p === 'object' && p !== null && typeof (p as Photo).id === 'string',
        )
      : [],
    createdAt: str(c.createdAt) || fallbackDate,
  } satisfies EntryContent;
}

export function entryContent(e: LocalEntry): EntryContent {
  return readContent(e.content, e.updatedAt);
}

export function parseTags(text: string): string[] {
  return [
    ...new Set(
      text
        .split(/[,#]/)
        .map((t) => t.trim().toLowerCase())
        .filter(Boolean),
    ),
  ].slice(0, 20);
}

export const moodOf = (value: string) => MOODS.find((m) => m.value === value);

const photoUrls = new Map<string, Promise<string>>();

/** An object URL for a photo, downloaded once per page (through the client, with its token). */
export function photoUrl(id: string): Promise<string> {
  let url = photoUrls.get(id);
  if (!url) {
    url = client.attachments.download(id).then((blob) => URL.createObjectURL(blob));
    url.catch(() => photoUrls.delete(id));
    photoUrls.set(id, url);
  }
  return url;
}

/** Revokes every photo's object URL of this page (sign-out: nothing of the journal stays). */
export async function forgetPhotos(): Promise<void> {
  const urls = [...photoUrls.values()];
  photoUrls.clear();
  for (const url of await Promise.allSettled(urls))
    if (url.status === 'fulfilled') URL.revokeObjectURL(url.value);
}

/** Draft storage: what is typed is written here at once, before the debounced save. */
export const drafts = {
  key: (id: string) => `journal.draft.${currentUser()?.id ?? 'anon'}.${id}`,
  get(id: string): EntryContent | undefined {
    const raw = localStorage.getItem(this.key(id));
    return raw ? (JSON.parse(raw) as EntryContent) : undefined;
  },
  set(id: string, c: EntryContent) {
    localStorage.setItem(this.key(id), JSON.stringify(c));
  },
  clear(id: string) {
    localStorage.removeItem(this.key(id));
  },
  /** Ids of drafts left from an earlier visit (saved on the next start). */
  pending(): string[] {
    const prefix = this.key('');
    const out: string[] = [];
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      if (k?.startsWith(prefix)) out.push(k.slice(prefix.length));
    }
    return out;
  },
};
