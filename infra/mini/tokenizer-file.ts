/** Loads the realgen-mini tokenizer from its `tokenizer.json` file. */
import { Tokenizer } from '../../domain/mini/tokenizer';
import { MAX_JSON_FILE_BYTES, readBoundedText } from '../json-file';

/** Reads and validates `file`; a malformed file is an error naming it. */
export function loadTokenizer(file: string): Tokenizer {
  let json: unknown;
  try {
    json = JSON.parse(readBoundedText(file, MAX_JSON_FILE_BYTES));
  } catch (err) {
    throw new Error(
      `${file}: not a realgen-mini tokenizer (${err instanceof SyntaxError ? 'not JSON' : ((err as NodeJS.ErrnoException).code ?? (err as Error).message)})`,
    );
  }
  return Tokenizer.fromJson(json, file);
}
