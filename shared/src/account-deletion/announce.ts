import type { Redis } from '../redis.js';

/** The pub/sub channel on which auth announces a new deletion (ioredis does not prefix it). */
export function deletionChannel(keyPrefix: string): string {
  return `${keyPrefix}account-deletions`;
}

/** Tells every sweeper a deletion was recorded; best effort (the periodic pass is the guarantee). */
export async function announceDeletion(redis: Redis, keyPrefix: string, userId: string) {
  await redis.publish(deletionChannel(keyPrefix), userId);
}
