import { describe, expect, it } from 'vitest';
import { clientId } from '../../src/api/operation.js';

describe('client ids (entry and attachment ids, docs/api.md)', () => {
  it.each(['a', 'A-z_0-9', 'x'.repeat(128), '___', '-'])('accepts %j', (id) => {
    expect(clientId.safeParse(id).success).toBe(true);
  });

  it.each([
    '',
    'x'.repeat(129),
    '../etc/passwd',
    'a/b',
    'a.b',
    'a b',
    'a%2Fb',
    'é',
    'a\u0000',
    '$gt',
    'line\n',
  ])('refuses %j', (id) => {
    expect(clientId.safeParse(id).success).toBe(false);
  });

  it.each([{ $gt: '' }, 42, null, ['a']])('refuses the non-string %j', (id) => {
    expect(clientId.safeParse(id).success).toBe(false);
  });
});
