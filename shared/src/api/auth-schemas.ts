import { z } from 'zod';

/** Zod schemas of the auth service's public calls (see docs/api.md); its operations are in auth.ts. */

/** 3–64 characters of `[A-Za-z0-9._@-]`; unique case-insensitively. */
export const usernameSchema = z
  .string()
  .regex(/^[A-Za-z0-9._@-]{3,64}$/, {
    error: 'must be 3-64 characters of A-Z a-z 0-9 . _ @ -',
  })
  .meta({ example: 'ada.lovelace' });

/** 8–256 characters; checked before any hashing so an over-long password costs nothing. */
export const passwordSchema = z
  .string()
  .min(8, { error: 'must be at least 8 characters' })
  .max(256, { error: 'must be at most 256 characters' });

/** A name the client gives the device, shown in the session list. */
export const deviceNameSchema = z
  .string()
  .min(1, { error: 'must not be empty' })
  .max(100, { error: 'must be at most 100 characters' })
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to refuse them.
  .regex(/^[^\u0000-\u001f\u007f]+$/, { error: 'must not contain control characters' });

/** Server-made ids (users, sessions). */
export const serverIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'must be 1-64 characters of A-Z a-z 0-9 _ -' });

/** Opaque refresh token: base64url, at least 256 bits of randomness. */
export const refreshTokenSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43,128}$/, { error: 'is not a refresh token' });

/**
 * A device token (JWT, EdDSA) that login and registration return: the client keeps it per
 * username, also after signing out, and sends it with its next login for that username.
 */
export const deviceTokenSchema = z
  .string()
  .max(1024, { error: 'must be at most 1024 characters' })
  .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, { error: 'is not a device token' });

export const credentialsSchema = z
  .object({
    username: usernameSchema,
    password: passwordSchema,
    deviceName: deviceNameSchema.optional(),
  })
  .strict()
  .meta({ id: 'Credentials' });

export const loginRequestSchema = z
  .object({
    username: usernameSchema,
    password: passwordSchema,
    deviceName: deviceNameSchema.optional(),
    deviceToken: deviceTokenSchema
      .optional()
      .describe(
        'The `deviceToken` an earlier login or registration of this username returned on this ' +
          'device. With a valid one, failed logins are counted for this device token (its own ' +
          'limit) instead of for the username, so a stranger’s failures cannot lock this ' +
          'device out. An invalid, expired or other user’s token is ignored.',
      ),
  })
  .strict()
  .meta({ id: 'LoginRequest' });

export const refreshRequestSchema = z
  .object({ refreshToken: refreshTokenSchema })
  .strict()
  .meta({ id: 'RefreshRequest' });

/** The body is optional: no body, `{}` and `{ "allDevices": true }` all work. */
export const logoutRequestSchema = z
  .object({
    allDevices: z
      .boolean()
      .optional()
      .describe('End every session of the user (all devices), not only the caller’s'),
  })
  .strict()
  .optional()
  .meta({ id: 'LogoutRequest' });

export const userSchema = z
  .object({
    id: serverIdSchema,
    username: z.string(),
    createdAt: z.iso.datetime(),
  })
  .strict()
  .meta({ id: 'User' });

export const sessionSchema = z
  .object({
    user: userSchema,
    accessToken: z.string().describe('JWT (EdDSA); send as `Authorization: Bearer <accessToken>`'),
    refreshToken: z
      .string()
      .describe('Opaque; single use: each refresh returns a new one. Reuse ends the session.'),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number().int().describe('Seconds until the access token expires'),
    deviceToken: z
      .string()
      .optional()
      .describe(
        'Login and registration only: keep it for this username on this device (also after ' +
          'signing out) and send it with the next login; a new one replaces it each time.',
      ),
  })
  .strict()
  .meta({ id: 'Session' });

export const deviceSessionSchema = z
  .object({
    id: serverIdSchema,
    deviceName: z.string().nullable(),
    createdAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime(),
    current: z.boolean().describe('True for the session of the access token making the call'),
  })
  .strict()
  .meta({ id: 'DeviceSession' });

export const sessionListSchema = z
  .object({ sessions: z.array(deviceSessionSchema) })
  .strict()
  .meta({ id: 'SessionList' });

export const changePasswordRequestSchema = z
  .object({
    currentPassword: z
      .string()
      .min(1, { error: 'must not be empty' })
      .max(256, { error: 'must be at most 256 characters' }),
    newPassword: passwordSchema,
  })
  .strict()
  .meta({ id: 'ChangePasswordRequest' });

export const deleteAccountRequestSchema = z
  .object({
    password: z
      .string()
      .min(1, { error: 'must not be empty' })
      .max(256, { error: 'must be at most 256 characters' }),
  })
  .strict()
  .meta({ id: 'DeleteAccountRequest' });

export const accountDeletionSchema = z
  .object({
    deletedAt: z.iso
      .datetime()
      .describe('When the deletion was requested; every trace is gone within 60 s of it'),
  })
  .strict()
  .meta({ id: 'AccountDeletion' });

export const sessionParamsSchema = z.object({ id: serverIdSchema }).strict();

export type Credentials = z.infer<typeof credentialsSchema>;
export type LoginRequest = z.infer<typeof loginRequestSchema>;
export type SessionReply = z.infer<typeof sessionSchema>;
export type UserReply = z.infer<typeof userSchema>;
export type DeviceSession = z.infer<typeof deviceSessionSchema>;
