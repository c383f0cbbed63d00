import { MongoBulkWriteError, MongoServerError, MongoWriteConcernError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { isDependencyUnavailable } from '../../src/http.js';
import { MONGO_REPLICA_SET_OPTIONS } from '../../src/mongo.js';
import { hasWriteConcernError, isDuplicateKey } from '../../src/storage.js';

/**
 * A write-concern error means a write may be rolled back by a failover: never durable, never
 * "only a duplicate key" (the push would otherwise raise the head over it), always 503.
 */
describe('write-concern errors are never taken as durable', () => {
  const duplicate = { index: 0, code: 11000, errmsg: 'E11000 duplicate key' };
  const wce = { code: 64, errmsg: 'waiting for replication timed out' };

  it('a duplicate key alone is a duplicate key', () => {
    const err = new MongoBulkWriteError(
      { message: 'E11000', code: 11000, writeErrors: [duplicate] } as never,
      { getWriteConcernError: () => undefined } as never,
    );
    expect(hasWriteConcernError(err)).toBe(false);
    expect(isDuplicateKey(err)).toBe(true);
    expect(isDependencyUnavailable(err)).toBe(false);
  });

  it('a duplicate key that comes with a write-concern error is not a duplicate key, and is a 503', () => {
    const err = new MongoBulkWriteError(
      { message: 'E11000', code: 11000, writeErrors: [duplicate] } as never,
      { getWriteConcernError: () => wce } as never,
    );
    expect(hasWriteConcernError(err)).toBe(true);
    expect(isDuplicateKey(err)).toBe(false);
    expect(isDependencyUnavailable(err)).toBe(true);
  });

  it('a write-concern error alone, from a bulk write or a single write, is a 503', () => {
    const single = new MongoWriteConcernError({ writeConcernError: wce, ok: 1 } as never);
    expect(isDependencyUnavailable(single)).toBe(true);
    const server = new MongoServerError({ ...duplicate, writeConcernError: wce } as never);
    expect(isDuplicateKey(server)).toBe(false);
    expect(isDependencyUnavailable(server)).toBe(true);
  });

  it('reads with read concern majority and writes with w: majority', () => {
    expect(MONGO_REPLICA_SET_OPTIONS.readConcern).toEqual({ level: 'majority' });
    expect(MONGO_REPLICA_SET_OPTIONS.writeConcern).toEqual({ w: 'majority' });
    expect(MONGO_REPLICA_SET_OPTIONS.readPreference).toBe('primary');
  });
});
