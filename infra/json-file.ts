/** Reading a JSON description file (model manifests) against its zod schema, with errors that name the file. */
import path from 'node:path';
import type { z } from 'zod';
import { isInside } from '../configs/model-paths';
import { readBoundedFile } from './bounded-file';

/** Largest description file read; manifests are a few KiB. */
export const MAX_JSON_FILE_BYTES = 4 * 1024 * 1024;

/** Reads a regular file of at most `maxBytes` as UTF-8 (see readBoundedFile). */
export function readBoundedText(file: string, maxBytes: number): string {
  return readBoundedFile(file, maxBytes).toString('utf8');
}

/**
 * Parses `file` with `schema`. An unreadable file or a schema violation throws an Error naming the file, `what`
 * it should be, and each problem's path. The file's content is never quoted: a JSON syntax error says only that.
 */
export function readJsonFile<S extends z.ZodType>(file: string, schema: S, what: string): z.output<S> {
  let text: string;
  try {
    text = readBoundedText(file, MAX_JSON_FILE_BYTES);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${file}: cannot read ${what} (${e.code ?? e.message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`${file}: cannot read ${what} (not valid JSON)`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(
      `${file}: invalid ${what}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data as z.output<S>;
}

/**
 * Resolves a path written inside a manifest (its ONNX file, its tokenizer) against the manifest's folder; a path
 * that leaves that folder (`../../etc/passwd`, an absolute path, a symlink out) is refused.
 */
export function resolveBeside(manifestFile: string, rel: string, field: string): string {
  const dir = path.dirname(path.resolve(manifestFile));
  const abs = path.resolve(dir, rel);
  if (!isInside(dir, abs))
    throw new Error(`${manifestFile}: ${field} ${JSON.stringify(rel)} leaves the manifest's folder ${dir}`);
  return abs;
}
