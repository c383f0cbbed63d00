/** The migration's rewrite of attachment ids in entries' content (migration-files.ts). */

/**
 * `value` with every string equal to a key of `map` replaced by its value, at any depth (keys
 * of objects are left as they are). The same object when nothing matched.
 */
export function replaceStrings(value: unknown, map: Map<string, string>): unknown {
  if (typeof value === 'string') return map.get(value) ?? value;
  if (Array.isArray(value)) {
    let changed = false;
    const out = value.map((v) => {
      const r = replaceStrings(v, map);
      if (r !== v) changed = true;
      return r;
    });
    return changed ? out : value;
  }
  if (value && typeof value === 'object') {
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const r = replaceStrings(v, map);
      if (r !== v) changed = true;
      out[k] = r;
    }
    return changed ? out : value;
  }
  return value;
}
