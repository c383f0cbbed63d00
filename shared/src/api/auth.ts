import { defineOperations } from './operation.js';

/** Zod schemas and operations of the auth service's public calls (see API.md). */
export const authOperations = defineOperations({});
