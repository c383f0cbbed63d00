import { badReply } from './errors.js';
import type { components } from './generated/api.js';
import { schemas } from './generated/schemas.js';
import { isObject } from './util.js';

/**
 * A validator built from the contract: `src/generated/schemas.ts` is the gateway's OpenAPI
 * component schemas (generated with `src/generated/api.ts`, the types, from the same document,
 * by scripts/generate.ts), interpreted here; `contract('Entry')` checks a value against the
 * `Entry` schema and types the result as the generated `Entry`. A failure is a `bad_reply`
 * JournalError naming the field.
 *
 * Replies are read leniently in two ways and strictly in one: a property the contract does not
 * know is dropped (a newer server may add one), a missing property that may be null reads as
 * null, and every integer must be ≥ 0 (each one in a reply counts something: revisions, sizes,
 * seconds).
 */

type Schemas = components['schemas'];
export type Check<T> = (v: unknown, path: string) => T;

interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
}

export function fail(path: string, want: string, v: unknown): never {
  const got = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
  throw badReply(`${path} should be ${want}, got ${got}`);
}

function named(ref: string): JsonSchema {
  const schema = schemas[ref.slice(ref.lastIndexOf('/') + 1)];
  if (!schema) throw new Error(`the generated schemas have no ${ref}`);
  return schema as JsonSchema;
}

const resolved = (s: JsonSchema): JsonSchema => (s.$ref ? named(s.$ref) : s);

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  integer: 'an integer ≥ 0',
  number: 'a number',
  boolean: 'a boolean',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

function typesOf(s: JsonSchema): string[] {
  const r = resolved(s);
  if (r.anyOf) return r.anyOf.flatMap(typesOf);
  if (r.type === undefined) return [];
  return Array.isArray(r.type) ? r.type : [r.type];
}

const admitsNull = (s: JsonSchema) => typesOf(s).includes('null');

function hasType(v: unknown, type: string): boolean {
  switch (type) {
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    case 'null':
      return v === null;
    default:
      return false;
  }
}

const patterns = new Map<string, RegExp>();
function patternOf(source: string): RegExp {
  let re = patterns.get(source);
  if (!re) {
    try {
      re = new RegExp(source, 'u');
    } catch {
      re = new RegExp(source);
    }
    patterns.set(source, re);
  }
  return re;
}

/** `v` checked against `schema`; objects are rebuilt with the contract's properties only. */
function conform(schema: JsonSchema, v: unknown, path: string): unknown {
  const s = resolved(schema);
  if (s.anyOf) {
    const fitting = s.anyOf.filter((branch) => typesOf(branch).some((t) => hasType(v, t)));
    if (fitting.length === 0) fail(path, typesOf(s).map(describe).join(' or '), v);
    let first: unknown;
    for (const branch of fitting) {
      try {
        return conform(branch, v, path);
      } catch (err) {
        first ??= err;
      }
    }
    throw first;
  }
  const types = typesOf(s);
  if (types.length > 0 && !types.some((t) => hasType(v, t))) {
    fail(path, types.map(describe).join(' or '), v);
  }
  if (s.const !== undefined && v !== s.const) fail(path, JSON.stringify(s.const), v);
  if (s.enum && !s.enum.includes(v)) fail(path, `one of ${JSON.stringify(s.enum)}`, v);
  if (typeof v === 'string') {
    const length = [...v].length;
    if (s.minLength !== undefined && length < s.minLength) {
      fail(path, `at least ${s.minLength} characters`, v);
    }
    if (s.maxLength !== undefined && length > s.maxLength) {
      fail(path, `at most ${s.maxLength} characters`, v);
    }
    if (s.pattern !== undefined && !patternOf(s.pattern).test(v)) {
      throw badReply(`${path} should match ${s.pattern}, got ${JSON.stringify(v.slice(0, 64))}`);
    }
    return v;
  }
  if (typeof v === 'number') {
    if (s.minimum !== undefined && v < s.minimum) fail(path, `at least ${s.minimum}`, v);
    if (s.maximum !== undefined && v > s.maximum) fail(path, `at most ${s.maximum}`, v);
    return v;
  }
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) {
      fail(path, `at least ${s.minItems} items`, v);
    }
    if (s.maxItems !== undefined && v.length > s.maxItems) {
      fail(path, `at most ${s.maxItems} items`, v);
    }
    const items = s.items;
    return items ? v.map((x, i) => conform(items, x, `${path}[${i}]`)) : v;
  }
  if (isObject(v) && s.properties) {
    const required = new Set(s.required ?? []);
    const out: Record<string, unknown> = {};
    for (const [key, property] of Object.entries(s.properties)) {
      const value = v[key];
      if (value !== undefined) out[key] = conform(property, value, `${path}.${key}`);
      else if (admitsNull(property)) out[key] = null;
      else if (required.has(key)) {
        fail(`${path}.${key}`, typesOf(property).map(describe).join(' or ') || 'present', value);
      }
    }
    return out;
  }
  return v; // free-form JSON (an entry's content), or a scalar checked above
}

function describe(type: string): string {
  return TYPE_NAMES[type] ?? type;
}

/** The check of the schema `name` (a component of the OpenAPI document). */
export function contract<N extends keyof Schemas>(name: N): Check<Schemas[N]> {
  const schema = named(name);
  return (v, path) => conform(schema, v, path) as Schemas[N];
}
