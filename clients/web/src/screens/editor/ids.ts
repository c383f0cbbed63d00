/** A random id for a new entry or attachment (20 hexadecimal characters). */
export function newId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(10)), (b) =>
    b.toString(16).padStart(2, '0'),
  ).join('');
}
