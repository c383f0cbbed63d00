import { z } from 'zod';
import {
  accountDeletionSchema,
  changePasswordRequestSchema,
  credentialsSchema,
  deleteAccountRequestSchema,
  loginRequestSchema,
  logoutRequestSchema,
  refreshRequestSchema,
  sessionListSchema,
  sessionParamsSchema,
  sessionSchema,
  userSchema,
} from './auth-schemas.js';
import { authEncryptionOperations } from './encryption.js';
import { defineOperations, problemSchema } from './operation.js';

export * from './auth-schemas.js';

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
    // GET and PUT /auth/encryption (encryption.ts); the PUT has a body limit of its own.
    ...authEncryptionOperations,
  },
  { bodyLimit: AUTH_LIMITS.maxBodyBytes },
);
