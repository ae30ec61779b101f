/**
 * Checking a folder of images before `realgen eval --images DIR` uploads anything: every image file must be a
 * regular file inside DIR (a symlink may point only to another file inside DIR, never to /etc/passwd) and must
 * be a PNG, JPEG or WebP by content (the name is not trusted). All problems are reported together, as a list.
 */
import { lstat, open, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { sniffFormat } from './decode';

/** Largest image file accepted from a folder. */
export const MAX_FOLDER_IMAGE_BYTES = 64 * 1024 * 1024;

/** Why one file of the folder is refused. */
export interface FolderFileProblem {
  file: string;
  problem: string;
}

async function head(file: string, n: number): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The problems of `files` (names inside `dir`); an empty list means every file may be read and uploaded. */
export async function imagesFolderProblems(dir: string, files: readonly string[]): Promise<FolderFileProblem[]> {
  const root = await realpath(dir);
  const problems: FolderFileProblem[] = [];
  for (const file of files) {
    const full = path.join(dir, file);
    try {
      const link = await lstat(full);
      if (link.isSymbolicLink()) {
        const target = await realpath(full);
        const rel = path.relative(root, target);
        if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
          problems.push({ file, problem: `a symlink to ${target}, outside the folder` });
          continue;
        }
      }
      const st = await stat(full);
      if (!st.isFile()) {
        problems.push({ file, problem: 'not a regular file' });
        continue;
      }
      if (st.size > MAX_FOLDER_IMAGE_BYTES) {
        problems.push({ file, problem: `${st.size} bytes, more than the ${MAX_FOLDER_IMAGE_BYTES} allowed` });
        continue;
      }
      if (sniffFormat(await head(full, 16)) === null)
        problems.push({ file, problem: 'not a PNG, JPEG or WebP image (by content)' });
    } catch (err) {
      problems.push({ file, problem: `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})` });
    }
  }
  return problems;
}

/** The error for a non-empty problem list: every refused file on its own line. */
export function imagesFolderError(dir: string, problems: readonly FolderFileProblem[]): Error {
  const shown = problems.slice(0, 50).map((p) => `  ${p.file}: ${p.problem}`);
  if (problems.length > 50) shown.push(`  … and ${problems.length - 50} more`);
  return new Error(
    `${dir}: ${problems.length} file${problems.length === 1 ? '' : 's'} refused, nothing uploaded:\n${shown.join('\n')}`,
  );
}
