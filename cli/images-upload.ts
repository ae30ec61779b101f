/** Uploading a folder of generated images for `realgen eval --images`, content-addressed. */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import {
  IMAGES_INDEX,
  blobKey,
  objectExists,
  putBytes,
  putJson,
  sha256Hex,
  type ImagesIndex,
} from '../activities/evaluation/layout';
import { assertEvalName } from '../contracts/ids';
import { imagesFolderError, imagesFolderProblems } from '../infra/image/images-folder';
import type { CheckpointStore } from '../infra/s3/checkpoint-store';

const IMAGE_FILE = /^(\d{5})\.(png|jpe?g|webp)$/i;

/**
 * Uploads a folder's `<5-digit index>.{png,jpg,webp}` images content-addressed (`blobs/sha256/<sha>.<ext>`, skipped
 * when present) and writes `uploads/images/<name>/<folder digest16>/index.json`; returns that prefix. Every item of
 * the suite must have an image, checked before anything is uploaded.
 */
export async function uploadImagesFolder(
  store: CheckpointStore,
  dir: string,
  name: string,
  requiredIds: readonly string[],
): Promise<string> {
  assertEvalName(name);
  const files = (await readdir(dir)).flatMap((f) => {
    const m = IMAGE_FILE.exec(f);
    return m?.[1] && m[2] ? [{ file: f, id: m[1], ext: m[2].toLowerCase() === 'jpeg' ? 'jpg' : m[2].toLowerCase() }] : [];
  });
  const byId = new Map<string, (typeof files)[number]>();
  for (const f of files) {
    if (byId.has(f.id)) throw new Error(`${dir}: two images for ${f.id} (${byId.get(f.id)?.file}, ${f.file})`);
    byId.set(f.id, f);
  }
  const missing = requiredIds.filter((id) => !byId.has(id));
  if (missing.length > 0) {
    throw new Error(
      `${dir}: no image for ${missing.length} of the suite's ${requiredIds.length} items: ` +
        `${missing.slice(0, 20).join(', ')}${missing.length > 20 ? ', …' : ''} (expected <5-digit index>.png|jpg|webp)`,
    );
  }
  // Symlinks out of the folder and files that are not images are refused, all listed, before any upload.
  const problems = await imagesFolderProblems(
    dir,
    [...requiredIds].sort().flatMap((id) => (byId.has(id) ? [byId.get(id)!.file] : [])),
  );
  if (problems.length > 0) throw imagesFolderError(dir, problems);
  const index: ImagesIndex = { schema: 'realgen/images-upload@1', name, digest: '', files: {} };
  for (const id of [...requiredIds].sort()) {
    const f = byId.get(id);
    if (f === undefined) continue;
    const bytes = await readFile(path.join(dir, f.file));
    const sha = sha256Hex(bytes);
    const key = blobKey(sha, f.ext);
    if (!(await objectExists(store, key)))
      await putBytes(store, key, bytes, f.ext === 'png' ? 'image/png' : f.ext === 'webp' ? 'image/webp' : 'image/jpeg');
    index.files[id] = { key, sha256: sha, size: bytes.length, ext: f.ext };
  }
  index.digest = sha256Hex(
    Object.entries(index.files)
      .map(([id, f]) => `${id} ${f.sha256}`)
      .join('\n'),
  );
  const prefix = `uploads/images/${name}/${index.digest.slice(0, 16)}/`;
  await putJson(store, `${prefix}${IMAGES_INDEX}`, index);
  return prefix;
}
