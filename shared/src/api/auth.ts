import { z } from 'zod';
import { defineOperations, problemSchema } from './operation.js';

/** Zod schemas and operations of the auth service's public calls (see docs/api.md). */

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

const tags = ['auth'];

/** Largest auth request body (credentials are small); the gateway refuses larger ones early. */
export const AUTH_LIMITS = { maxBodyBytes: 16 * 1024 } as const;

export const authOperations = defineOperations(
  {
    register: {
      operationId: 'register',
      method: 'POST',
      path: '/auth/register',
      summary: 'Create an account and log in',
      description:
        'Creates a user (username unique case-insensitively) and a session for this device. ' +
        'Registrations are limited per client address (429 with Retry-After); a busy auth ' +
        'service answers 503 `upstream_unavailable` with Retry-After.',
      tags,
      auth: false,
      schema: {
        body: credentialsSchema,
        response: {
          201: sessionSchema,
          400: problemSchema,
          409: problemSchema,
          429: problemSchema,
          503: problemSchema,
        },
      },
    },
    login: {
      operationId: 'login',
      method: 'POST',
      path: '/auth/login',
      summary: 'Log in and start a session for this device',
      description:
        'Answers 401 `invalid_credentials` alike for an unknown user and a wrong password. ' +
        'Failed logins are limited per username and per client address (429 with Retry-After); ' +
        'a login with a valid `deviceToken` for the username is limited per device token ' +
        'instead, so others’ failures cannot lock a known device out. A busy auth service ' +
        'answers 503 `upstream_unavailable` with Retry-After.',
      tags,
      auth: false,
      schema: {
        body: loginRequestSchema,
        response: {
          200: sessionSchema,
          400: problemSchema,
          401: problemSchema,
          429: problemSchema,
          503: problemSchema,
        },
      },
    },
    refresh: {
      operationId: 'refreshSession',
      method: 'POST',
      path: '/auth/refresh',
      summary: 'Exchange a refresh token for a new token pair',
      description:
        'Refresh tokens are single use and rotated on every call. Presenting one that was already ' +
        'used ends its whole session (its access token too) and answers 401.',
      tags,
      auth: false,
      schema: {
        body: refreshRequestSchema,
        response: { 200: sessionSchema, 400: problemSchema, 401: problemSchema },
      },
    },
    logout: {
      operationId: 'logout',
      method: 'POST',
      path: '/auth/logout',
      summary: 'End this session, or every session of the user',
      description:
        'Ends the caller’s session at once (its access and refresh tokens stop working); with ' +
        '`allDevices: true` every session of the user. The body is optional.',
      tags,
      auth: true,
      schema: {
        body: logoutRequestSchema,
        response: {
          204: z.null().describe('Logged out'),
          400: problemSchema,
          401: problemSchema,
        },
      },
    },
    me: {
      operationId: 'getMe',
      method: 'GET',
      path: '/auth/me',
      summary: 'The calling user',
      tags,
      auth: true,
      schema: { response: { 200: userSchema, 401: problemSchema } },
    },
    sessions: {
      operationId: 'listSessions',
      method: 'GET',
      path: '/auth/sessions',
      summary: 'The user’s active sessions (one per logged-in device)',
      tags,
      auth: true,
      schema: { response: { 200: sessionListSchema, 401: problemSchema } },
    },
    changePassword: {
      operationId: 'changePassword',
      method: 'POST',
      path: '/auth/password',
      summary: 'Change the password; every other session of the user ends',
      description:
        'Needs the current password (401 `invalid_credentials` when wrong; wrong attempts are ' +
        'limited per session, 429 with Retry-After, never by the public failed-login limits). ' +
        'Every other session of the user ' +
        'ends at once (its access and refresh tokens stop working); the caller’s session stays.',
      tags,
      auth: true,
      schema: {
        body: changePasswordRequestSchema,
        response: {
          204: z.null().describe('Password changed'),
          400: problemSchema,
          401: problemSchema,
          429: problemSchema,
        },
      },
    },
    revokeSession: {
      operationId: 'revokeSession',
      method: 'DELETE',
      path: '/auth/sessions/:id',
      summary: 'End one session of the user (an id from GET /auth/sessions)',
      description:
        'Its tokens are refused at once; the other sessions stay. The caller may end its own. ' +
        'An unknown or ended session, or another user’s, answers 404.',
      tags,
      auth: true,
      schema: {
        params: sessionParamsSchema,
        response: {
          204: z.null().describe('Session ended'),
          400: problemSchema,
          401: problemSchema,
          404: problemSchema,
        },
      },
    },
    deleteAccount: {
      operationId: 'deleteAccount',
      method: 'DELETE',
      path: '/auth/account',
      summary: 'Delete the account and everything it stored',
      description:
        'Needs the password (401 `invalid_credentials` when wrong; wrong attempts are limited ' +
        'per session, 429 with Retry-After, never by the public failed-login limits). Before the 202 every session ends, the ' +
        'credentials stop working and the username is free. Within 60 s (by default) every ' +
        'entry, attachment, upload record, idempotency key and session of the user is gone from ' +
        'every service, and the user’s Qiniu objects from the bucket; a service that is down ' +
        'finishes its part when it is back.',
      tags,
      auth: true,
      schema: {
        body: deleteAccountRequestSchema,
        response: {
          202: accountDeletionSchema,
          400: problemSchema,
          401: problemSchema,
          429: problemSchema,
        },
      },
    },
  },
  { bodyLimit: AUTH_LIMITS.maxBodyBytes },
);
