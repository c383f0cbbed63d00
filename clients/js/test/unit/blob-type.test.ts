import { describe, expect, it } from 'vitest';
import { safeBlobType } from '../../src/media.js';

describe('safeBlobType: what a downloaded Blob may claim to be', () => {
  it.each([
    ['image/png', 'image/png'],
    ['IMAGE/JPEG; charset=binary', 'image/jpeg'],
    ['video/mp4', 'video/mp4'],
    ['audio/mpeg', 'audio/mpeg'],
    ['image/svg+xml', 'application/octet-stream'],
    ['text/html', 'application/octet-stream'],
    ['text/html; charset=utf-8', 'application/octet-stream'],
    ['application/xhtml+xml', 'application/octet-stream'],
    ['text/xml', 'application/octet-stream'],
    ['application/pdf', 'application/octet-stream'],
    ['application/javascript', 'application/octet-stream'],
    ['image/png/../svg+xml', 'application/octet-stream'],
    ['', 'application/octet-stream'],
    [null, 'application/octet-stream'],
    [undefined, 'application/octet-stream'],
  ])('%s → %s', (given, want) => {
    expect(safeBlobType(given)).toBe(want);
  });
});
