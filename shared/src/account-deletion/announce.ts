import type { Redis } from '../redis.js';

import { deletionChannel } from '../redis-keys.js';

export { deletionChannel };

/** Tells every sweeper a deletion was recorded; best effort (the periodic pass is the guarantee). */
export async function announceDeletion(redis: Redis, keyPrefix: string, userId: string) {
  await redis.publish(deletionChannel(keyPrefix), userId);
}
