import { describe, expect, it } from 'vitest';
import { isDependencyUnavailable } from '../../src/http.js';

/** Errors a Redis failover produces (Sentinel promoting a replica, a Cluster moving slots). */
describe('isDependencyUnavailable', () => {
  const named = (name: string, message: string) => Object.assign(new Error(message), { name });

  it('treats every error of a store failover as unavailability (503, retry)', () => {
    for (const err of [
      named('MaxRetriesPerRequestError', 'Reached the max retries per request limit (which is 1).'),
      new Error(
        'Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest"',
      ),
      new Error('Command timed out'),
      new Error("READONLY You can't write against a read only replica."),
      new Error('LOADING Redis is loading the dataset in memory'),
      new Error('MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no'),
      new Error('CLUSTERDOWN The cluster is down'),
      new Error('TRYAGAIN Multiple keys request during rehashing of slot'),
      new Error('MOVED 2856 127.0.0.1:32811'),
      new Error('ASK 3999 127.0.0.1:6381'),
      new Error('Failed to refresh slots cache.'),
      new Error("Cluster isn't ready and enableOfflineQueue options is false"),
      new Error('None of startup nodes is available'),
      new Error(
        'Too many Cluster redirections. Last error: Error: connect ECONNREFUSED 127.0.0.1:7000',
      ),
      new Error('Cluster is disconnected.'),
      new Error('Node is disconnected'),
      new Error('All sentinels are unreachable. Retrying from scratch after 100ms.'),
      new Error('connect ECONNREFUSED 127.0.0.1:6379'),
      new Error('connect ETIMEDOUT'),
      new Error('read ECONNRESET'),
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      new Error('Connection is closed.'),
    ]) {
      expect(isDependencyUnavailable(err), err.message).toBe(true);
    }
  });

  it('keeps bugs bugs: a cross-slot command, a script error or a type error is not a failover', () => {
    for (const err of [
      new Error("CROSSSLOT Keys in request don't hash to the same slot"),
      new Error('ERR Error running script (call to f_1234): @user_script:1: bad argument'),
      new Error('WRONGTYPE Operation against a key holding the wrong kind of value'),
      new TypeError("Cannot read properties of undefined (reading 'id')"),
      new Error('some READONLY text in the middle'),
    ]) {
      expect(isDependencyUnavailable(err), err.message).toBe(false);
    }
    expect(isDependencyUnavailable('Connection is closed.')).toBe(false);
  });
});
