/** Shared options of the `realgen` command: the config file with one default rule, and checked numbers. */
import path from 'node:path';
import type { Command } from 'commander';
import { REPO_ROOT } from '../lib/repo-root';

/** Parses an integer option ≥ `min`; the error names the flag and the value given. */
export function intOption(flag: string, min: number) {
  return (value: string): number => {
    const n = /^[+-]?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min)
      throw new Error(`${flag}: expected an integer ≥ ${min}, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** Parses a number option ≥ `min` (fractions allowed). */
export function numberOption(flag: string, min: number) {
  return (value: string): number => {
    const n = value.trim() === '' ? Number.NaN : Number(value);
    if (!Number.isFinite(n) || n < min) throw new Error(`${flag}: expected a number ≥ ${min}, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** The repository's preset, the default when neither `-c` nor REALGEN_CONFIG names a config. */
export const PRESET_CONFIG = path.join(REPO_ROOT, 'configs', 'mini.yaml');

/** The one default rule for `-c/--config`: `-c FILE`, else $REALGEN_CONFIG, else `<repo>/configs/mini.yaml`. */
export function configFileOf(given: string | undefined): string {
  return given ?? process.env.REALGEN_CONFIG ?? PRESET_CONFIG;
}

/** Adds `-c, --config <file>` (resolved at run time by `configFileOf`, so the help shows the rule, not a value). */
export function addConfigOption(cmd: Command, what = 'run config'): Command {
  return cmd.option('-c, --config <file>', `${what} (default: $REALGEN_CONFIG, else <repo>/configs/mini.yaml)`);
}
