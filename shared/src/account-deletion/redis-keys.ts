import { type Redis, RedisCluster } from '../redis.js';

/**
 * The Redis keys of a user, by exact name (docs/account-deletion.md, "Redis keys"): account
 * deletion deletes these and never scans the key space, which is the Redis that serves every
 * gateway call. Each name is relative to the client's key prefix.
 */

export { loginNameRateLimitKey, userRateLimitKey } from '../redis-keys.js';

/**
 * Deletes exactly `keys`, one DEL each: a Redis Cluster keeps them in different slots, where a
 * multi-key DEL would fail with CROSSSLOT. Returns how many existed.
 */
export async function deleteKeys(redis: Redis, keys: readonly string[]): Promise<number> {
  const counts = await Promise.all(keys.map((key) => redis.del(key)));
  return counts.reduce((a, b) => a + b, 0);
}

/**
 * Deletes every key matching `pattern` (a SCAN glob, without the key prefix) of a client whose
 * `keyPrefix` is `keyPrefix`. Not for account deletion (which knows its keys): for maintenance
 * that must clear a whole family (a restore clearing the sync hints). SCAN patterns are not
 * prefixed by ioredis, and the keys it returns are: the prefix is added to the pattern and
 * stripped from the keys before DEL re-adds it.
 */
export async function deleteKeysMatching(
  redis: Redis,
  keyPrefix: string,
  pattern: string,
): Promise<number> {
  let deleted = 0;
  // A Redis Cluster spreads keys over its primaries: SCAN each of them.
  const sources = redis instanceof RedisCluster ? redis.nodes('master') : [redis];
  for (const source of sources) {
    let cursor = '0';
    do {
      const [next, keys] = await source.scan(
        cursor,
        'MATCH',
        `${keyPrefix}${pattern}`,
        'COUNT',
        1000,
      );
      cursor = next;
      const own = keys.filter((k) => k.startsWith(keyPrefix)).map((k) => k.slice(keyPrefix.length));
      deleted += await deleteKeys(redis, own);
    } while (cursor !== '0');
  }
  return deleted;
}
