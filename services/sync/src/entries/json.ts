import type { Readable } from 'node:stream';
import type { Entry } from '@journal/shared';
import type { FastifyReply } from 'fastify';
import type { VersionDoc } from './repository.js';

/**
 * Replies written as JSON text straight from the stored versions. A version's content is
 * stored as the JSON text the push sent (repository.ts), so a pull embeds it as it is: no
 * parse into objects and no second serialization, which for 1 MiB entries is most of a pull's
 * memory and time. Fastify sends a string with a JSON content type unchanged.
 */

/** The JSON of a version as the API's `Entry`. */
export function entryJson(doc: VersionDoc): string {
  return (
    `{"id":${JSON.stringify(doc.id)},"revision":${doc.revision},"deleted":${doc.deleted},` +
    `"content":${doc.content ?? 'null'},` +
    `"clientUpdatedAt":${JSON.stringify(doc.clientUpdatedAt ?? null)},` +
    `"updatedAt":${JSON.stringify(doc.updatedAt.toISOString())},` +
    `"deviceId":${JSON.stringify(doc.deviceId ?? null)}}`
  );
}

/** The parsed `Entry` of a version (where an object is needed, e.g. the recent changes). */
export function toEntry(doc: VersionDoc): Entry {
  return JSON.parse(entryJson(doc)) as Entry;
}

/** A page of the feed whose changes are already JSON text (an `Entry` each). */
export interface PageText {
  changes: string[];
  revision: number;
  hasMore: boolean;
  /** The store generation the cursor belongs to (store/generation.ts), once known. */
  generation?: string;
}

/** The body of `GET /sync/changes` for a page. */
export function pageJson(page: PageText): string {
  const generation =
    page.generation === undefined ? '' : `,"generation":${JSON.stringify(page.generation)}`;
  return `{"changes":[${page.changes.join(',')}],"revision":${page.revision},"hasMore":${page.hasMore}${generation}}`;
}

/**
 * Sends a body that is JSON text already (or a stream of it) past the route's reply schema:
 * fastify sends a string or stream with a JSON content type as it is.
 */
export function sendJsonText(reply: FastifyReply, body: string | Readable): FastifyReply {
  return reply.type('application/json; charset=utf-8').send(body);
}
