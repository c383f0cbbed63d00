import { describe, expect, it } from 'vitest';
import { startingWithMagic } from '../../src/encryption/service.js';

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield Buffer.from(part, 'latin1');
}

async function collect(body: AsyncIterable<Buffer>) {
  const seen: string[] = [];
  try {
    for await (const chunk of body) seen.push(chunk.toString('latin1'));
    return { seen, error: null };
  } catch (err) {
    return { seen, error: err as { code?: string } };
  }
}

describe('the encrypted file magic check of an upload', () => {
  it('passes every byte on, in order, once the first 8 are JRNLE2E1, however they are split', async () => {
    for (const parts of [
      ['JRNLE2E1rest', 'more'],
      ['J', 'RNL', 'E2E', '1', 'rest'],
      ['JRNLE2E1'],
      ['JRNLE2', 'E1', '', 'x'],
    ]) {
      const { seen, error } = await collect(startingWithMagic(chunks(...parts)));
      expect(error, parts.join('|')).toBeNull();
      expect(seen.join(''), parts.join('|')).toBe(parts.join(''));
    }
  });

  it('throws encryption_required before passing any byte on when the magic is wrong or short', async () => {
    for (const parts of [
      ['JRNLE2E2xx'],
      ['JRN', 'LE2E0', 'a'.repeat(1000)],
      ['JRNLE2E'],
      [],
      [''],
    ]) {
      const { seen, error } = await collect(startingWithMagic(chunks(...parts)));
      expect(seen, parts.join('|')).toEqual([]);
      expect(error?.code, parts.join('|')).toBe('encryption_required');
    }
  });
});
