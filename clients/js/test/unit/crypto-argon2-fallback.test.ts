/**
 * Argon2id where WebAssembly is refused (a runtime without it, e.g. some React Native engines;
 * a page whose Content-Security-Policy lacks 'wasm-unsafe-eval', which Chromium shows in
 * clients/web/test/crypto-golden.test.ts): the SDK derives the same key in JavaScript.
 */
import { argon2id as nobleArgon2id } from '@noble/hashes/argon2.js';
import { afterEach, describe, expect, it, vi } from 'vitest';

const password = new TextEncoder().encode('correct horse battery staple');
const salt = Uint8Array.from({ length: 16 }, (_, i) => 200 - i);
const params = { salt, m: 64, t: 3, p: 1 };
const expected = nobleArgon2id(password, salt, { m: 64, t: 3, p: 1, dkLen: 32 });

afterEach(() => {
  vi.unstubAllGlobals();
  vi.resetModules();
});

describe('Argon2id without WebAssembly', () => {
  it('falls back to JavaScript with the same output when WebAssembly does not exist', async () => {
    vi.resetModules();
    vi.stubGlobal('WebAssembly', undefined);
    const { argon2id } = await import('../../src/crypto/primitives.js');
    expect(await argon2id(password, params)).toEqual(expected);
    // And keeps doing so (the refusal is remembered, not met again on every unlock).
    expect(await argon2id(password, params)).toEqual(expected);
  });

  it('falls back when compiling WebAssembly is refused (CompileError), as a strict CSP does', async () => {
    vi.resetModules();
    const real = (
      globalThis as unknown as { WebAssembly: { CompileError: new (m: string) => Error } }
    ).WebAssembly;
    // hash-wasm keeps a compiled module once it has one, so this also shows that none was
    // compiled before (the test above derived without WebAssembly).
    const refuse = vi.fn(() =>
      Promise.reject(new real.CompileError('WebAssembly.compile(): refused by the page policy')),
    );
    vi.stubGlobal('WebAssembly', {
      CompileError: real.CompileError,
      compile: refuse,
      instantiate: refuse,
    });
    const { argon2id } = await import('../../src/crypto/primitives.js');
    expect(await argon2id(password, params)).toEqual(expected);
    expect(refuse).toHaveBeenCalled();
  });

  it('uses WebAssembly where it runs, and the JavaScript derivation gives the same bytes', async () => {
    const { argon2id, argon2idJs } = await import('../../src/crypto/primitives.js');
    expect(await argon2id(password, params)).toEqual(expected);
    expect(await argon2idJs(password, params)).toEqual(expected);
  });

  it('does not hide other failures (a bad parameter still throws)', async () => {
    const { argon2id } = await import('../../src/crypto/primitives.js');
    await expect(argon2id(password, { ...params, m: 1 })).rejects.toThrow();
  });
});
