/**
 * Account deletion across services, without any service importing another (see
 * docs/account-deletion.md): the records in MongoDB (`repository.ts`), the per-service sweeper
 * (`sweeper.ts`), auth's announcement of a new deletion (`announce.ts`), the variables
 * (`config.ts`) and the user's Redis keys by exact name (`redis-keys.ts`).
 */
export * from './announce.js';
export * from './config.js';
export * from './redis-keys.js';
export * from './repository.js';
export * from './sweeper.js';
