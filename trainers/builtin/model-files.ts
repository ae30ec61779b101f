/**
 * Loading the built-in trainer's model files with a failure kind the supervisor can act on. A missing or corrupt
 * file (generator, detector, alignment, tokenizer, descriptors) is `ConfigInvalid` naming its path — no retry can
 * fix it — instead of a `Crash` retried for half an hour.
 */
import { accessSync, constants } from 'node:fs';
import { TrainerFailure } from '../shared/protocol-io';

/** Runs `load` for `file`; a missing, unreadable or unloadable file becomes `ConfigInvalid` naming `what` and the path. */
export async function loadModelFile<T>(what: string, file: string, load: () => T | Promise<T>): Promise<T> {
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    throw new TrainerFailure(
      'ConfigInvalid',
      `${what} ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  try {
    return await load();
  } catch (err) {
    if (err instanceof TrainerFailure) throw err;
    const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 400);
    // Running out of memory while loading is not the file's fault: keep it retryable-by-policy as OutOfMemory.
    if (/allocation failed|out of memory|bad_alloc/i.test(message))
      throw new TrainerFailure('OutOfMemory', `${what} ${file}: ${message}`);
    throw new TrainerFailure('ConfigInvalid', `${what} ${file} cannot be loaded: ${message}`);
  }
}
