/** The checkout's root folder, for defaults that must not depend on the caller's working directory. */
import path from 'node:path';

/** Absolute path of the repository root (this file lives in `<root>/lib/`). */
export const REPO_ROOT = path.resolve(__dirname, '..');
