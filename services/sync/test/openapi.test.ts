import { syncOperations } from '@journal/shared';
import { describe, expect, it } from 'vitest';
import { renderOperations } from '../../../test-support/openapi.js';

describe('sync operations in the OpenAPI document', () => {
  it('render both calls from the same schemas the routes validate with', async () => {
    const doc = await renderOperations(syncOperations);
    expect(Object.keys(doc.paths).sort()).toEqual(['/sync/changes', '/sync/push']);
    const changes = doc.paths['/sync/changes']?.get as Record<string, unknown>;
    const params = (changes.parameters as { name: string; in: string }[]).map(
      (p) => `${p.in}:${p.name}`,
    );
    expect(params.sort()).toEqual(['query:limit', 'query:since', 'query:wait']);
    expect(Object.keys(changes.responses as object).sort()).toEqual(['200', '400', '401', '410']);
    const pushOp = doc.paths['/sync/push']?.post as Record<string, unknown>;
    expect(JSON.stringify(pushOp.requestBody)).toContain('PushRequest');
    expect(JSON.stringify(pushOp.parameters)).toContain('idempotency-key');
    const all = JSON.stringify(doc);
    expect(all).toContain('"Entry"');
    expect(all).toContain('^[A-Za-z0-9_-]{1,128}$');
    expect(all).toContain('"maxItems":500');
    expect(all).not.toContain('\\p{');
  });
});
