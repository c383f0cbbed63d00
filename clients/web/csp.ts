/**
 * The web app's Content-Security-Policy, one definition for the Vite dev and preview servers
 * (deploy/web/default.conf.template states the same policy for the nginx image; a test keeps
 * them equal). Script only from the app's own files (and WebAssembly, for Argon2id), no
 * plugins, no <base>, never framed, and connections only to the app's origin, which forwards
 * the API paths to the gateway.
 */
export interface CspOptions {
  /** Vite's dev server injects CSS as <style> elements (hot reload): inline styles allowed. */
  dev?: boolean;
  /** A gateway on another origin (VITE_API_URL), the only other origin connected to. */
  apiOrigin?: string;
}

export function contentSecurityPolicy(options: CspOptions = {}): string {
  const connect = ["'self'", ...(options.apiOrigin ? [options.apiOrigin] : [])];
  return [
    "default-src 'self'",
    // 'wasm-unsafe-eval' lets WebAssembly compile and nothing else (no eval, no inline script):
    // end-to-end encryption derives its key with Argon2id from hash-wasm, which is WebAssembly;
    // without it the SDK falls back to Argon2id in JavaScript, about ten times slower.
    "script-src 'self' 'wasm-unsafe-eval'",
    `style-src 'self'${options.dev ? " 'unsafe-inline'" : ''}`,
    "img-src 'self' blob: data:",
    "media-src 'self' blob:",
    `connect-src ${connect.join(' ')}`,
    "worker-src 'self'",
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The origin of VITE_API_URL, when the app talks to a gateway elsewhere. */
export function apiOriginOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}
