/**
 * Media types a downloaded Blob may carry: raster images, audio and video, which a browser only
 * ever displays or plays. Anything else (SVG, HTML, XML, PDF, JavaScript: what can run script
 * when opened from a `blob:` URL of the app's origin) becomes `application/octet-stream`.
 */
export const SAFE_MEDIA_TYPES: readonly string[] = [
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/bmp',
  'image/heic',
  'image/heif',
  'audio/mpeg',
  'audio/mp4',
  'audio/aac',
  'audio/ogg',
  'audio/wav',
  'audio/webm',
  'audio/flac',
  'video/mp4',
  'video/webm',
  'video/ogg',
  'video/quicktime',
];

/** The type a Blob is built with: the allowlisted essence of `contentType`, else octet-stream. */
export function safeBlobType(contentType: string | null | undefined): string {
  const essence = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return SAFE_MEDIA_TYPES.includes(essence) ? essence : 'application/octet-stream';
}
