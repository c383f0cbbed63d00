import { attachmentsLimitShape, envInt, httpUrl, serviceConfigSchema } from '@journal/shared';
import { z } from 'zod';

export const configSchema = serviceConfigSchema({
  PORT: envInt(0, 65535).default(8000),
  AUTH_URL: httpUrl.default('http://127.0.0.1:8001'),
  SYNC_URL: httpUrl.default('http://127.0.0.1:8002'),
  ATTACHMENTS_URL: httpUrl.default('http://127.0.0.1:8003'),
  /** Connect and response-headers timeout for upstream calls (long-polls get LONG_POLL_EXTRA_MS more). */
  UPSTREAM_TIMEOUT_MS: envInt(100, 600_000).default(10_000),
  /** Kept-alive connections per upstream. */
  UPSTREAM_CONNECTIONS: envInt(1, 4096).default(128),
  /**
   * Connections to sync for `GET /sync/changes`: a waiting long-poll holds one for up to 30 s,
   * so this bounds how many pulls one gateway can hold open at once.
   */
  UPSTREAM_LONG_POLL_CONNECTIONS: envInt(1, 1_000_000).default(10_000),
  /**
   * Long-polls (`GET /sync/changes` with `wait` > 0) this gateway holds at once for one user, and
   * in all. Over either, the oldest (of that user; for the gateway bound, of the user holding the
   * most) is answered at once with the empty page a timed-out wait gives, and the new one is
   * proxied. Keep LONG_POLL_MAX_PER_GATEWAY below UPSTREAM_LONG_POLL_CONNECTIONS, so held
   * long-polls leave connections for pulls without `wait` (docs/gateway.md, "Long-poll bounds").
   */
  LONG_POLL_MAX_PER_USER: envInt(1, 1_000_000).default(32),
  LONG_POLL_MAX_PER_GATEWAY: envInt(1, 1_000_000).default(9_000),
  /** Requests per window per client address for anonymous calls. */
  RATE_LIMIT_MAX: envInt(1, 1_000_000_000).default(300),
  /** Requests per window per user for authenticated calls. */
  RATE_LIMIT_AUTHENTICATED_MAX: envInt(1, 1_000_000_000).default(1_200),
  RATE_LIMIT_WINDOW_MS: envInt(1_000, 86_400_000).default(60_000),
  ...attachmentsLimitShape,
  /** Comma-separated browser origins allowed by CORS, or `*`; empty turns CORS off. */
  CORS_ORIGINS: z.string().default(''),
});

export type Config = z.infer<typeof configSchema>;
