import { sessionKey } from '@journal/shared';
import { decodeJwt } from 'jose';
import type { Scenario } from '../lib/context.js';
import { SETTINGS } from '../lib/context.js';
import { load, loop } from '../lib/measure.js';

/**
 * The HTTP floor (`/health` of every process) and the lightest authenticated proxied call
 * (`GET /auth/me`) through the gateway, directly, nginx and a bare Node.js proxy, against the
 * raw Redis + MongoDB reads auth makes for it (the session's GET, the user's document), warmed
 * like the loads.
 */
export const proxyOverhead: Scenario = {
  name: '1 /auth/me',
  async run({ stack, db, redis, user, headers, nginx, nodeProxy, report, compare }) {
    for (const [name, url] of Object.entries(stack.urls)) {
      report.record(
        '1 health',
        name,
        'req/s',
        await load({ url: `${url}/health`, durationSec: SETTINGS.duration }),
      );
    }
    const users = db.collection('users');
    // The work auth does for /auth/me: the session's GET in Redis (its id is the token's `sid`)
    // and the user's document; the gateway's own session read and rate-limit count come on top.
    const sid = (decodeJwt(user.accessToken) as { sid?: string }).sid ?? '';
    const sessionBaseline = await loop(
      async () => {
        await redis.get(sessionKey(sid));
        await users.findOne(
          { _id: user.userId as never },
          { projection: { username: 1, createdAt: 1 } },
        );
      },
      SETTINGS.connections,
      SETTINGS.duration,
    );
    await compare(
      '1 /auth/me',
      {
        gateway: `${stack.urls.gateway}/auth/me`,
        direct: `${stack.urls.auth}/auth/me`,
        nginx: `${nginx.url}/auth/auth/me`,
        'node proxy': `${nodeProxy.url}/auth/auth/me`,
      },
      headers,
      sessionBaseline.requestsPerSec,
    );
    report.record('1 /auth/me', 'raw redis+mongo', 'ops/s', sessionBaseline);
  },
};
