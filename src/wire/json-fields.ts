import { MalformedValueError } from './errors.js';

/**
 * Hand-written field readers for decoding JSON values: the decoders run for every entry at agent bootstrap
 * (hundreds of thousands), so they avoid schema libraries and allocate nothing but the result.
 * `what` names the value being decoded (e.g. `node value`) so the error says where the bad field is.
 */

export type JsonObject = Record<string, unknown>;

const UINT32_MAX = 0xffffffff;

export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? v.slice(0, 80) + '…' : v);
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

/** Parses `bytes` as JSON and requires an object at the top level. */
export function parseJsonObject(bytes: string | Uint8Array, what: string): JsonObject {
  const text =
    typeof bytes === 'string' ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new MalformedValueError(`${what} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return asObject(parsed, what);
}

export function asObject(v: unknown, what: string): JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new MalformedValueError(`${what} must be a JSON object, got ${describe(v)}`);
  }
  return v as JsonObject;
}

function fieldError(what: string, field: string, expected: string, got: unknown): MalformedValueError {
  return new MalformedValueError(`${what}: field "${field}" must be ${expected}, got ${describe(got)}`);
}

/** A string field; absent or null reads as `fallback` (Go's zero value) when one is given. */
export function str(o: JsonObject, field: string, what: string, fallback?: string): string {
  const v = o[field];
  if (typeof v === 'string') return v;
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  throw fieldError(what, field, 'a string', v);
}

/** An omitempty string field: absent, null and "" all read as undefined. */
export function optStr(o: JsonObject, field: string, what: string): string | undefined {
  const v = o[field];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string') return v;
  throw fieldError(what, field, 'a string', v);
}

export function bool(o: JsonObject, field: string, what: string, fallback?: boolean): boolean {
  const v = o[field];
  if (typeof v === 'boolean') return v;
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  throw fieldError(what, field, 'a boolean', v);
}

/** An unsigned integer field no larger than `max`; absent or null reads as `fallback` when one is given. */
export function uint(o: JsonObject, field: string, what: string, max = UINT32_MAX, fallback?: number): number {
  const v = o[field];
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max) return v;
  if ((v === undefined || v === null) && fallback !== undefined) return fallback;
  throw fieldError(what, field, `an integer in 0..${max}`, v);
}

/** A JSON object of string values (Go map[string]string); absent/null gives null. */
export function stringMap(o: JsonObject, field: string, what: string): Record<string, string> | null {
  const v = o[field];
  if (v === undefined || v === null) return null;
  const m = asObjectField(v, what, field);
  for (const k in m) {
    if (typeof m[k] !== 'string') throw fieldError(what, `${field}.${k}`, 'a string', m[k]);
  }
  return m as Record<string, string>;
}

export function asObjectField(v: unknown, what: string, field: string): JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fieldError(what, field, 'an object', v);
  return v as JsonObject;
}

/** An array field; absent/null gives null. */
export function arrayField(o: JsonObject, field: string, what: string): unknown[] | null {
  const v = o[field];
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v)) throw fieldError(what, field, 'an array', v);
  return v as unknown[];
}
