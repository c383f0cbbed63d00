/**
 * The sharding plan of every MongoDB collection (docs/scaling.md explains each row). One row per
 * collection: adding a collection to any service means adding its row here, and
 * tests/sharding/sharding-plan.test.ts fails until the row exists and the code keeps it:
 * - `shardKey`: the key the collection is sharded on, or 'unsharded' (it lives on the
 *   database's primary shard: every query on it goes to one shard anyway);
 * - every unique index of a sharded collection starts with the shard key's fields;
 * - every find/update/delete/findAndModify/count/distinct/aggregate filter on a sharded
 *   collection names every shard-key field by equality or `$in` (a targeted query), and every
 *   inserted document carries them; the only exceptions are `broadcasts`: background jobs
 *   whose filters (by their top-level fields) sweep all users on purpose.
 */
export interface CollectionPlan {
  shardKey: Record<string, 1 | 'hashed'> | 'unsharded';
  why: string;
  broadcasts?: { fields: string[]; why: string }[];
}

export const SHARDING_PLAN: Record<string, CollectionPlan> = {
  // auth
  users: {
    shardKey: 'unsharded',
    why: 'looked up by usernameLower (login, unique) and by _id (me): no one key serves both, and it stays small (~300 B a user: 3 GB at 10 M users)',
  },
  sessions: {
    shardKey: 'unsharded',
    why: 'looked up by _id (refresh) and by userId (listing, logout everywhere); ~300 B per device, read on refresh and listing only',
  },
  session_revocations: {
    shardKey: 'unsharded',
    why: 'insert-only, looked up by _id; a small fraction of sessions',
  },
  user_revocations: {
    shardKey: 'unsharded',
    why: "insert-only records of a user's sessions all ended at once (logout everywhere, password change, deletion); read whole by every service at start-up and once a minute (revokedAt > last load), kept only for the access-token lifetime",
  },
  refresh_tokens: {
    shardKey: 'unsharded',
    why: 'two unique indexes (tokenHash, previousHash) cannot both start with one shard key; the exception (docs/scaling.md says how to shard it when it outgrows a replica set)',
  },
  encryption_bundles: {
    shardKey: 'unsharded',
    why: 'end-to-end encryption key bundles, insert-only under the unique _id "<userId>:<version>" (the compare-and-swap), so no userId shard key can lead its unique index; one small document (a few KiB) per encrypted account',
  },
  account_encryption: {
    shardKey: 'unsharded',
    why: 'one record per end-to-end encrypted account (_id = userId), read by _id by sync and attachments (positives cached per process)',
  },
  // account deletion (shared/src/account-deletion/)
  account_deletions: {
    shardKey: 'unsharded',
    why: "one record per account being deleted (_id = userId), scanned whole by each service's sweeper; a handful at a time",
  },
  account_deletion_done: {
    shardKey: 'unsharded',
    why: "each service's completion marker of a deletion, swept with the records; a handful at a time",
  },
  // sync
  entry_versions: {
    shardKey: { userId: 1 },
    why: 'the bulk of the data; every push and pull names its user; userIds are random UUIDs, so ranges spread evenly',
    broadcasts: [
      {
        fields: ['deleted', 'superseded', 'updatedAt'],
        why: 'the tombstone purge job (SYNC_PURGE_INTERVAL_SECONDS)',
      },
      {
        fields: ['baseRevision', 'superseded', 'supersededAt'],
        why: "the tombstone purge job: replaced versions (except each entry's first)",
      },
      {
        fields: ['baseRevision', 'content', 'superseded', 'supersededAt'],
        why: "the tombstone purge job: the content of each entry's replaced first version (kept for its history) dropped at the retention",
      },
    ],
  },
  sync_purges: {
    shardKey: { userId: 1 },
    why: "a user's purge horizon, read with their pulls",
  },
  sync_meta: {
    shardKey: 'unsharded',
    why: 'one document: the store\'s generation (docs/sync.md, "Restores and the store\'s generation"), read by each sync process every 10 s',
  },
  // attachments
  attachments: {
    shardKey: { owner: 1 },
    why: 'metadata, always addressed by (owner, id)',
  },
  'attachments_content.files': {
    shardKey: { _id: 'hashed' },
    why: 'GridFS files documents, always addressed by _id (the fileId the metadata holds)',
    broadcasts: [
      {
        fields: [],
        why: "the driver's GridFSBucket probes findOne({}) once per process before its first upload (to decide on creating its indexes); one document, once",
      },
    ],
  },
  'attachments_content.chunks': {
    shardKey: { files_id: 1 },
    why: "GridFS chunks, always addressed by files_id (MongoDB's documented GridFS shard key); the chunks of one file stay together, one user's files spread over shards",
  },
  attachments_pending: {
    shardKey: 'unsharded',
    why: 'a handful of markers of uploads and deletes in flight',
  },
  qiniu_uploads: {
    shardKey: 'unsharded',
    why: 'Qiniu callback records, unique by key; small',
  },
};
