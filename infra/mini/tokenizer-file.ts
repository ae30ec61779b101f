/** Loads the realgen-mini tokenizer from its `tokenizer.json` file. */
import { readFileSync } from 'node:fs';
import { Tokenizer } from '../../domain/mini/tokenizer';

/** Reads and validates `file`; a malformed file is an error naming it. */
export function loadTokenizer(file: string): Tokenizer {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not a realgen-mini tokenizer (${err instanceof SyntaxError ? 'not JSON' : ((err as NodeJS.ErrnoException).code ?? 'unreadable')})`);
  }
  return Tokenizer.fromJson(json, file);
}
