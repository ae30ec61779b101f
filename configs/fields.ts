/**
 * Field builders with the error wording `realgen config check` prints:
 * `stages[1].grpo.groupSize: expected an integer ≥ 2, got 0`.
 */
import { z } from 'zod';

/** Longest string any config field takes (names, paths, templates); longer ones are refused, never echoed. */
export const MAX_STRING_LENGTH = 4096;

/**
 * Says what kind of value was given without showing it: the wording for fields that may hold a secret
 * (`a string of 57 characters`), so a refused secret is never printed back.
 */
export function describeKind(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return `a string of ${value.length} character${value.length === 1 ? '' : 's'}`;
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  if (Array.isArray(value)) return 'a list';
  return 'a mapping';
}

/** Renders an offending input value briefly for an error message (never for secret fields: see `describeKind`). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string' && value.length > MAX_STRING_LENGTH) return describeKind(value);
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  return 'an object';
}

function rangeText(kind: 'an integer' | 'a number', min?: number, max?: number): string {
  if (min !== undefined && max !== undefined) return `${kind} in [${min}, ${max}]`;
  if (min !== undefined) return `${kind} ≥ ${min}`;
  if (max !== undefined) return `${kind} ≤ ${max}`;
  return kind;
}

function numberField(kind: 'an integer' | 'a number', min?: number, max?: number, exclusiveMin = false) {
  const expected = exclusiveMin && min !== undefined ? `${kind} > ${min}` : rangeText(kind, min, max);
  const error = (iss: { input?: unknown }) => `expected ${expected}, got ${describeValue(iss.input)}`;
  let schema = z.number({ error });
  if (kind === 'an integer') schema = schema.int({ error });
  if (min !== undefined) schema = exclusiveMin ? schema.gt(min, { error }) : schema.min(min, { error });
  if (max !== undefined) schema = schema.max(max, { error });
  return schema;
}

/** An integer within [min, max]. */
export const int = (min?: number, max?: number) => numberField('an integer', min, max);
/** A finite number within [min, max]. */
export const num = (min?: number, max?: number) => numberField('a number', min, max);
/** A number strictly greater than `min`. */
export const positive = (min = 0, max?: number) => numberField('a number', min, max, true);

/** A non-empty string of at most `max` characters. */
export const str = (what = 'a non-empty string', max = MAX_STRING_LENGTH) =>
  z
    .string({ error: (iss) => `expected ${what}, got ${describeValue(iss.input)}` })
    .min(1, { error: `expected ${what}, got ""` })
    .max(max, { error: (iss) => `expected ${what} of at most ${max} characters, got ${describeKind(iss.input)}` });

/** A boolean. */
export const bool = () => z.boolean({ error: (iss) => `expected true or false, got ${describeValue(iss.input)}` });

/** One of a fixed set of strings. */
export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (iss) => `expected one of ${values.join(' | ')}, got ${describeValue(iss.input)}` });

/**
 * An object holding a secret or a reference to one: like `strict`, but a wrong value is described by its kind
 * only (`expected a mapping, got a string of 57 characters`), never shown.
 */
export const secretStrict = <T extends z.ZodRawShape>(shape: T, expected: string) =>
  z.strictObject(shape, {
    error: (iss) => (iss.code === 'invalid_type' ? `expected ${expected}, got ${describeKind(iss.input)}` : undefined),
  });

/** An object that refuses unknown keys (they are errors, never dropped). */
export const strict = <T extends z.ZodRawShape>(shape: T) =>
  z.strictObject(shape, {
    error: (iss) => (iss.code === 'invalid_type' ? `expected a mapping, got ${describeKind(iss.input)}` : undefined),
  });
