/**
 * The primitives of docs/encryption.md, each from a library (no hand-written cryptography):
 * XChaCha20-Poly1305 (@noble/ciphers), HKDF-SHA256 and SHA-256 (@noble/hashes), Argon2id
 * (hash-wasm, WebAssembly; @noble/hashes where WebAssembly is refused), randomness
 * (globalThis.crypto through noble's randomBytes).
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { randomBytes as nobleRandomBytes } from '@noble/ciphers/utils.js';
import { argon2idAsync as nobleArgon2id } from '@noble/hashes/argon2.js';
import { hkdf as nobleHkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { argon2id as wasmArgon2id } from 'hash-wasm';
import { utf8 } from './encoding.js';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;

export function randomBytes(n: number): Uint8Array {
  return nobleRandomBytes(n);
}

/** XChaCha20-Poly1305 encryption: ciphertext followed by the 16-byte tag. */
export function aeadSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  return xchacha20poly1305(key, nonce, aad).encrypt(plaintext);
}

/** XChaCha20-Poly1305 decryption; throws when the tag does not authenticate. */
export function aeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array {
  return xchacha20poly1305(key, nonce, aad).decrypt(sealed);
}

/** HKDF-SHA256 with an empty salt, keys separated by `info` (32 bytes out). */
export function hkdfKey(ikm: Uint8Array, info: string): Uint8Array {
  return nobleHkdf(sha256, ikm, undefined, utf8(info), KEY_BYTES);
}

export interface Argon2Input {
  salt: Uint8Array;
  /** Memory, KiB. */
  m: number;
  t: number;
  p: number;
}

/** Whether hash-wasm's WebAssembly runs here: unknown until the first derivation. */
let wasmRuns: boolean | undefined;

/**
 * True for the refusal of WebAssembly itself: none in the runtime (some React Native engines),
 * or a page whose Content-Security-Policy lacks 'wasm-unsafe-eval' (Chromium answers
 * `WebAssembly.compile()` with a CompileError naming the policy).
 */
function wasmRefused(err: unknown): boolean {
  const wasm = (globalThis as { WebAssembly?: { CompileError?: new () => Error } }).WebAssembly;
  if (wasm?.CompileError === undefined) return true;
  return err instanceof wasm.CompileError;
}

/**
 * Argon2id (RFC 9106, version 0x13), 32 bytes out: in WebAssembly (hash-wasm), or, where
 * WebAssembly is refused, in JavaScript (@noble/hashes, the same output, about ten times
 * slower, yielding to the event loop as it runs).
 */
export async function argon2id(password: Uint8Array, params: Argon2Input): Promise<Uint8Array> {
  if (wasmRuns !== false) {
    try {
      const out = await wasmArgon2id({
        password,
        salt: params.salt,
        iterations: params.t,
        parallelism: params.p,
        memorySize: params.m,
        hashLength: KEY_BYTES,
        outputType: 'binary',
      });
      wasmRuns = true;
      return out;
    } catch (err) {
      if (wasmRuns === true || !wasmRefused(err)) throw err;
      wasmRuns = false;
    }
  }
  return argon2idJs(password, params);
}

/** Argon2id in JavaScript (@noble/hashes): the fallback of `argon2id`. */
export function argon2idJs(password: Uint8Array, params: Argon2Input): Promise<Uint8Array> {
  return nobleArgon2id(password, params.salt, {
    t: params.t,
    m: params.m,
    p: params.p,
    dkLen: KEY_BYTES,
    maxmem: params.m * 1024,
  });
}

/** Incremental SHA-256. */
export function sha256Hasher(): { update(bytes: Uint8Array): void; digest(): Uint8Array } {
  const h = sha256.create();
  return {
    update: (bytes) => {
      h.update(bytes);
    },
    digest: () => h.digest(),
  };
}

/** Overwrites key material that is no longer needed (best effort). */
export function wipe(...arrays: (Uint8Array | undefined)[]): void {
  for (const a of arrays) a?.fill(0);
}
