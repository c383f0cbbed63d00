import type { Redis } from './redis.js';

/**
 * The one way the services run Lua in Redis: each script is declared once, next to the key
 * builder of the state it keeps, and registered on the client with ioredis's `defineCommand`
 * (sent by SHA, loaded on a NOSCRIPT reply, on a single server and on a Cluster alike). A script
 * names keys of one hash slot only (docs/scaling.md, "The hash-slot rule").
 */
export interface ScriptDefinition {
  /** How many of the arguments are keys (they come first). */
  keys: number;
  lua: string;
}

/** A registered script: call it with its keys, then its arguments. */
export type Script<R = unknown> = (...keysThenArgs: (string | number)[]) => Promise<R>;

/**
 * Registers `scripts` on `redis` under `<namespace>:<name>` (once per client; later calls reuse
 * the registration) and returns them as functions.
 */
export function defineScripts<T extends Record<string, ScriptDefinition>>(
  redis: Redis,
  namespace: string,
  scripts: T,
): { [K in keyof T]: Script } {
  const client = redis as unknown as Record<string, Script>;
  const out = {} as { [K in keyof T]: Script };
  for (const [name, script] of Object.entries(scripts) as [keyof T & string, ScriptDefinition][]) {
    const command = `${namespace}_${name}`;
    if (typeof client[command] !== 'function') {
      redis.defineCommand(command, { numberOfKeys: script.keys, lua: script.lua });
    }
    const fn = client[command] as Script;
    out[name] = (...args) => fn.apply(redis, args);
  }
  return out;
}
