/**
 * The endpoints file `realgen dev up` writes into its state folder (`<state>/endpoints.json`): where the embedded
 * stack it started listens and where its generated credentials are. Every command reads it (configs/resolve-endpoints.ts)
 * so that a stack started with `--auto-ports` or `--state-dir` is found without exporting anything.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../lib/repo-root';

/** The default state folder of `realgen dev up` (REALGEN_STATE_DIR overrides). */
export const DEFAULT_STATE_DIR = path.join(REPO_ROOT, '.realgen');

/** The endpoints a config names when it means "the embedded stack on its default ports" (configs/mini.yaml). */
export const DEV_STACK_DEFAULTS = { temporalAddress: '127.0.0.1:7233', s3Endpoint: 'http://127.0.0.1:9000' } as const;

export const DEV_ENDPOINTS_SCHEMA = 'realgen/dev-endpoints@1';

/** Contents of `<state>/endpoints.json`. Paths are absolute; no secret values, only the files holding them. */
export interface DevEndpoints {
  schema: typeof DEV_ENDPOINTS_SCHEMA;
  temporalAddress: string;
  temporalUiUrl: string;
  s3Endpoint: string;
  s3ConsoleUrl: string;
  accessKeyFile: string;
  secretKeyFile: string;
}

/** The state folder in use: REALGEN_STATE_DIR, else the repository's `.realgen/`. */
export function stateDirFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.REALGEN_STATE_DIR ?? DEFAULT_STATE_DIR);
}

export function devEndpointsFile(stateDir: string): string {
  return path.join(stateDir, 'endpoints.json');
}

/** Reads `<state>/endpoints.json`; null when absent. A malformed file is an error naming the file. */
export function readDevEndpoints(stateDir: string): DevEndpoints | null {
  const file = devEndpointsFile(stateDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let parsed: Partial<DevEndpoints>;
  try {
    parsed = JSON.parse(text) as Partial<DevEndpoints>;
  } catch {
    throw new Error(`${file}: expected JSON written by \`realgen dev up\`; run it again to rewrite the file`);
  }
  for (const key of ['temporalAddress', 's3Endpoint', 'accessKeyFile', 'secretKeyFile'] as const) {
    if (typeof parsed[key] !== 'string' || parsed[key] === '') {
      throw new Error(`${file}: ${key}: expected a non-empty string; run \`realgen dev up\` again to rewrite the file`);
    }
  }
  return parsed as DevEndpoints;
}
