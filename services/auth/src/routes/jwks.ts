import { routesPlugin } from '@journal/shared';
import { z } from 'zod';
import type { SigningKeys } from '../tokens/keys.js';

const jwksSchema = z.object({
  keys: z.array(z.record(z.string(), z.string())),
});

/**
 * GET /.well-known/jwks.json: the public keys trusted for access tokens, for the gateway and the
 * services configured with JWT_JWKS_URL. Internal: not routed through the gateway and not part
 * of the public API document.
 */
export const jwksRoutes = routesPlugin(
  'jwks-routes',
  async (app, { keys }: { keys: SigningKeys }) => {
    const body = { keys: keys.publicJwks.map((k) => ({ ...k }) as Record<string, string>) };
    app.get(
      '/.well-known/jwks.json',
      { schema: { response: { 200: jwksSchema } } },
      async (_request, reply) => {
        reply.header('cache-control', 'public, max-age=300');
        return body;
      },
    );
  },
);
