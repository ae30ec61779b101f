/**
 * Object keys and relative file paths, validated before they reach the store.
 *
 * A key built from user input (run ids, stage names, trainer-written file names) must not escape its prefix or
 * smuggle control characters into logs, so every key we write or read passes through `assertObjectKey`.
 */
import { realgenFailure } from './failures';

/** S3 allows 1024 bytes of UTF-8 per key. */
export const MAX_KEY_BYTES = 1024;
/** One segment (run id, stage, file name) stays well under the key limit. */
export const MAX_SEGMENT_BYTES = 255;

/** Returns a sentence naming the problem with `key`, or null when it is a safe relative key. */
export function objectKeyProblem(key: string): string | null {
  if (typeof key !== 'string' || key.length === 0) return 'expected a non-empty string';
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    return `is ${Buffer.byteLength(key, 'utf8')} bytes; expected at most ${MAX_KEY_BYTES}`;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'contains a control character';
  if (key.includes('\\')) return 'contains a backslash; expected "/" separators';
  if (key.startsWith('/')) return 'is absolute; expected a relative path';
  const segments = key.split('/');
  for (const [i, segment] of segments.entries()) {
    // A trailing slash is allowed for prefixes, nothing else may be empty.
    if (segment === '' && i !== segments.length - 1) return 'has an empty segment ("//")';
    if (segment === '..' || segment === '.') return `has a "${segment}" segment`;
    if (Buffer.byteLength(segment, 'utf8') > MAX_SEGMENT_BYTES) {
      return `has a segment over ${MAX_SEGMENT_BYTES} bytes`;
    }
  }
  return null;
}

/** Throws a non-retryable `InvalidObjectKey` failure naming `what` when `key` is unsafe. */
export function assertObjectKey(key: string, what = 'object key'): string {
  const problem = objectKeyProblem(key);
  if (problem !== null) {
    throw realgenFailure('InvalidObjectKey', `${what} ${JSON.stringify(key)} ${problem}`, { key: String(key) });
  }
  return key;
}

/** Validates one path segment (a run id, a stage name): a non-empty key without "/". */
export function assertKeySegment(segment: string, what: string): string {
  if (typeof segment === 'string' && segment.includes('/')) {
    throw realgenFailure('InvalidObjectKey', `${what} ${JSON.stringify(segment)} contains "/"; expected one path segment`);
  }
  return assertObjectKey(segment, what);
}

/** Joins validated parts with "/". */
export function joinKey(...parts: string[]): string {
  return assertObjectKey(parts.filter((p) => p.length > 0).join('/'));
}
