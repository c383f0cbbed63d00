import { describe, expect, it } from 'vitest';
import { mongoUrl, redisUrl, testMongo } from '../../../test-support/index.js';
import { measureStreamMemory } from './stream-memory.js';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

describe('memory while streaming', () => {
  it('streams 64 MiB into a real process and back with RSS growth well below the file size', async () => {
    const mongo = await testMongo('memory');
    try {
      const result = await measureStreamMemory({
        mongoUrl: mongoUrl(),
        redisUrl: redisUrl(),
        dbName: mongo.dbName,
        bytes: SIZE,
      });
      console.info(`stream memory: ${JSON.stringify(result)}`);
      expect(result.bytes).toBe(SIZE);
      expect(result.samples).toBeGreaterThan(10);
      // Holding the file (or a good part of it) in memory would exceed this.
      expect(result.growthMiB).toBeLessThan(48);
    } finally {
      await mongo.drop();
    }
  }, 120_000);
});
