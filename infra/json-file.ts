/** Reading a JSON description file (model manifests) against its zod schema, with errors that name the file. */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';

/**
 * Parses `file` with `schema`. An unreadable file or a schema violation throws an Error naming the file, `what`
 * it should be, and each problem's path.
 */
export function readJsonFile<S extends z.ZodType>(file: string, schema: S, what: string): z.output<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read ${what} (${(err as Error).message})`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`${file}: invalid ${what}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return parsed.data as z.output<S>;
}
