export * from './attachments.js';
export * from './auth.js';
export * from './encryption.js';
export * from './operation.js';
export * from './sync.js';
export * from './usage.js';

import { attachmentsOperations } from './attachments.js';
import { authOperations } from './auth.js';
import type { Operation } from './operation.js';
import { syncOperations } from './sync.js';
import { usageOperations } from './usage.js';

/** Every public operation, for the gateway's OpenAPI document. */
export const allOperations: Operation[] = [
  ...Object.values<Operation>(authOperations),
  ...Object.values<Operation>(syncOperations),
  ...Object.values<Operation>(attachmentsOperations),
  ...Object.values<Operation>(usageOperations),
];
