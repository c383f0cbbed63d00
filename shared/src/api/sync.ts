import { defineOperations } from './operation.js';

/** Zod schemas and operations of the sync service's public calls (see API.md). */
export const syncOperations = defineOperations({});
