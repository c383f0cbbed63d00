import { defineOperations } from './operation.js';

/** Zod schemas and operations of the attachments service's public calls (see API.md). */
export const attachmentsOperations = defineOperations({});
