import { describe, expect, it } from 'vitest';
import { testMongo } from '../../test-support/index.js';

describe('MongoDB replica-set settings', () => {
  it('writes with w: majority, retries writes and reads once, reads from the primary, and works on the test server', async () => {
    const mongo = await testMongo('mongo_options');
    try {
      const options = mongo.client.options;
      expect(options.writeConcern?.w).toBe('majority');
      expect(options.retryWrites).toBe(true);
      expect(options.retryReads).toBe(true);
      expect(options.readPreference.mode).toBe('primary');
      expect(options.readConcern?.level).toBe('majority');
      // The same settings on a FerretDB or single mongod: writes and reads work unchanged.
      const c = mongo.db.collection<{ _id: string; n: number }>('probe');
      await c.insertOne({ _id: 'a', n: 1 });
      await c.updateOne({ _id: 'a' }, { $set: { n: 2 } });
      expect(await c.findOne({ _id: 'a' })).toEqual({ _id: 'a', n: 2 });
    } finally {
      await mongo.drop();
    }
  });
});
