import { authOperations } from '@journal/shared';
import { describe, expect, it } from 'vitest';
import { renderOperations } from '../../../test-support/openapi.js';

describe('auth operations in the OpenAPI document', () => {
  it('render every auth call from the same schemas the routes validate with', async () => {
    const doc = await renderOperations(authOperations);
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/auth/login',
      '/auth/logout',
      '/auth/me',
      '/auth/refresh',
      '/auth/register',
      '/auth/sessions',
    ]);
    const register = doc.paths['/auth/register']?.post as Record<string, unknown>;
    expect(Object.keys(register.responses as object).sort()).toEqual([
      '201',
      '400',
      '409',
      '429',
      '503',
    ]);
    expect(JSON.stringify(register.requestBody)).toContain('Credentials');
    const all = JSON.stringify(doc);
    expect(all).toContain('^[A-Za-z0-9._@-]{3,64}$');
    expect(all).toContain('"maxLength":256');
    expect(all).toContain('"additionalProperties":false');
    expect(all).not.toContain('\\p{');
    const logout = doc.paths['/auth/logout']?.post as Record<string, unknown>;
    expect(JSON.stringify(logout.requestBody)).toContain('LogoutRequest');
    expect(Object.keys(logout.responses as object)).toContain('204');
  });
});
