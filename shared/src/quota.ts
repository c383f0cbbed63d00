/** Per-account quotas (docs/scaling.md, "Quotas"): the model, the Redis counter and the checker. */
export * from './quota/model.js';
export { createQuota, type Quota } from './quota/quota.js';
