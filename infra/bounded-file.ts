/**
 * Reading a local file with a size cap checked before anything is read: `/dev/zero`, a FIFO or a 3 GB file is
 * refused at once instead of being read until memory runs out.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** Largest image file a CLI command reads (RealBench photos are a few MiB). */
export const MAX_IMAGE_FILE_BYTES = 64 * 1024 * 1024;

/**
 * The bytes of `file`, a regular file of at most `maxBytes`. Errors say why (not a regular file, too large, or the
 * errno code), never anything of the content.
 */
export function readBoundedFile(file: string, maxBytes: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > maxBytes) throw new Error(`${st.size} bytes, more than the ${maxBytes} allowed`);
    // Read at most maxBytes + 1 whatever stat said: the file may grow while it is read.
    const buf = Buffer.alloc(Math.min(maxBytes + 1, st.size + 1));
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
    if (n > maxBytes) throw new Error(`more than the ${maxBytes} bytes allowed`);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}
