import { createPrivateKey } from 'node:crypto';
import { availableParallelism } from 'node:os';
import {
  accountDeletionConfigShape,
  envInt,
  mongoConfigShape,
  serviceConfigSchema,
} from '@journal/shared';
import { z } from 'zod';

/** The cheapest scrypt cost production accepts (OWASP: N=2^17, r=8, p=1). */
export const PRODUCTION_MIN_SCRYPT_LOG_N = 17;

/** True when `text` is an Ed25519 private key as PKCS#8 PEM or a private JWK (JSON). */
export function isEd25519PrivateKey(text: string): boolean {
  try {
    const key = text.trimStart().startsWith('{')
      ? createPrivateKey({ key: JSON.parse(text), format: 'jwk' })
      : createPrivateKey(text);
    return key.asymmetricKeyType === 'ed25519';
  } catch {
    return false;
  }
}

export const configSchema = serviceConfigSchema({
  ...mongoConfigShape,
  ...accountDeletionConfigShape,
  PORT: envInt(0, 65535).default(8001),
  /** Ed25519 signing key: PKCS#8 PEM or a private JWK as JSON (secret). */
  JWT_PRIVATE_KEY: z
    .string()
    .refine(isEd25519PrivateKey, {
      error: 'must be an Ed25519 private key (PKCS#8 PEM or private JWK JSON)',
    })
    .optional(),
  /** `kid` of the signing key; default: the JWK's own kid, else its RFC 7638 thumbprint. */
  JWT_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,128}$/, { error: 'must be 1-128 of A-Z a-z 0-9 . _ : -' })
    .optional(),
  JWT_REFRESH_TTL_SECONDS: envInt(60, 400 * 86_400).default(30 * 86_400),
  /** scrypt cost as log2(N); r=8, p=1. Lower only for tests. */
  PASSWORD_SCRYPT_LOG_N: envInt(10, 20).default(17),
  /** Password hashes one process runs at once (default: the CPUs it may use). */
  AUTH_HASH_CONCURRENCY: envInt(1, 256).default(availableParallelism()),
  /** How long a login or registration waits for a hash slot before 503 with Retry-After. */
  AUTH_HASH_QUEUE_WAIT_MS: envInt(10, 60_000).default(1_000),
  AUTH_LOGIN_MAX_FAILURES_PER_USERNAME: envInt(1, 1_000_000).default(10),
  AUTH_LOGIN_MAX_FAILURES_PER_IP: envInt(1, 1_000_000).default(50),
  AUTH_LOGIN_FAILURE_WINDOW_SECONDS: envInt(1, 86_400).default(900),
  /**
   * Failed logins one device token may present per window before it is locked out itself
   * (a login with a valid device token is not subject to the per-username limit).
   */
  AUTH_LOGIN_MAX_FAILURES_PER_DEVICE_TOKEN: envInt(1, 1_000_000).default(10),
  /** Lifetime of a device token, issued by every successful login or registration. */
  AUTH_DEVICE_TOKEN_TTL_SECONDS: envInt(60, 400 * 86_400).default(90 * 86_400),
  /**
   * Wrong current passwords one session may send per window (password change, account
   * deletion) before 429: bounds a stolen access token's guessing, apart from the public limits.
   */
  AUTH_PASSWORD_CHECK_MAX_FAILURES_PER_SESSION: envInt(1, 1_000_000).default(5),
  AUTH_REGISTER_MAX_PER_IP: envInt(1, 1_000_000).default(20),
  AUTH_REGISTER_WINDOW_SECONDS: envInt(1, 86_400).default(3600),
}).superRefine((config, ctx) => {
  if (config.NODE_ENV !== 'production') return;
  if (!config.JWT_PRIVATE_KEY) {
    ctx.addIssue({
      code: 'custom',
      path: ['JWT_PRIVATE_KEY'],
      message: 'is required in production (an Ed25519 PKCS#8 PEM or private JWK)',
    });
  }
  if (config.PASSWORD_SCRYPT_LOG_N < PRODUCTION_MIN_SCRYPT_LOG_N) {
    ctx.addIssue({
      code: 'custom',
      path: ['PASSWORD_SCRYPT_LOG_N'],
      message: `must be at least ${PRODUCTION_MIN_SCRYPT_LOG_N} in production`,
    });
  }
});

export type Config = z.infer<typeof configSchema>;
