import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createServiceApp, type FastifyPluginAsyncZod, routesPlugin } from '../../src/app.js';
import { authenticatePlugin } from '../../src/authenticate.js';
import { ProblemError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';

// A child scope typed as a zod plugin keeps the types: `request.body.n` is a number there.
const inner: FastifyPluginAsyncZod<{ greeting: string }> = async (scope, opts) => {
  scope.post(
    '/echo',
    { schema: { body: z.object({ n: z.number() }).strict() }, onRequest: scope.authenticate },
    async (request) => ({ said: `${opts.greeting}${request.body.n + 1}` }),
  );
};
const echo = routesPlugin('echo-routes', async (app, opts: { greeting: string }) => {
  await app.register(inner, opts);
});

async function app() {
  return createServiceApp({
    service: 'unit',
    version: '0',
    logger: createLogger('unit', 'silent'),
    checks: {},
  });
}

describe('routesPlugin', () => {
  it('refuses to load before the authenticate decorator it depends on', async () => {
    const bare = await app();
    await expect(bare.register(echo, { greeting: '' })).rejects.toThrow(/journal-authenticate/);
    await bare.close();
  });

  it('registers its routes, typed and authenticated, after authenticate', async () => {
    const ready = await app();
    await ready.register(authenticatePlugin, {
      verify: async (token: string) => {
        if (token !== 'good') throw new ProblemError('unauthorized', 'bad token');
        return { userId: 'u1', sessionId: 's1' } as never;
      },
    });
    await ready.register(echo, { greeting: 'n=' });
    const ok = await ready.inject({
      method: 'POST',
      url: '/echo',
      headers: { authorization: 'Bearer good' },
      payload: { n: 41 },
    });
    expect(ok.json(), ok.body).toEqual({ said: 'n=42' });
    const anonymous = await ready.inject({ method: 'POST', url: '/echo', payload: { n: 1 } });
    expect(anonymous.statusCode).toBe(401);
    const bad = await ready.inject({
      method: 'POST',
      url: '/echo',
      headers: { authorization: 'Bearer good' },
      payload: { n: 'x' },
    });
    expect(bad.statusCode).toBe(400);
    expect(ready.hasPlugin('echo-routes')).toBe(true);
    await ready.close();
  });
});
