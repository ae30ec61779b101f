/** The files of a checkpoint folder a trainer reported, as the paths the checkpoint store commits. */
import { readdir } from 'node:fs/promises';
import path from 'node:path';

export /** Lists every file under `dir` (relative paths with "/"), sorted. */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await listFiles(path.join(dir, entry.name), rel)));
    else if (entry.isFile()) out.push(rel);
  }
  return out.sort();
}
