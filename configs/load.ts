/**
 * Loading a run config: YAML text → validated `RunConfig`, or a list of problems each with its path
 * (`stages[1].grpo.groupSize: expected an integer ≥ 2, got 0`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { digestOf } from '../lib/canonical-json';
import { resolveEndpoints } from './resolve-endpoints';
import { RunConfigSchema, type RunConfig } from './schema';

/** One problem with a config, located by its path. */
export interface ConfigProblem {
  /** `stages[1].grpo.groupSize`, or `(file)` for problems with the file itself. */
  path: string;
  message: string;
}

/** A validated config with where it came from. */
export interface LoadedConfig {
  config: RunConfig;
  /** Absolute folder of the config file; relative paths inside the config resolve against it. */
  baseDir: string;
  /** sha256 of the canonical validated config (defaults filled in). */
  digest: string;
  file: string;
}

/** Renders a zod path as `a.b[1].c`. */
export function formatPath(parts: readonly PropertyKey[]): string {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

/** Turns zod issues into problems; unknown keys give one problem per key. */
export function problemsFromZod(error: z.ZodError): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push({ path: formatPath([...issue.path, key]), message: 'unknown key (not part of the config schema)' });
      }
      continue;
    }
    if (issue.code === 'invalid_type' && issue.message.startsWith('Invalid input')) {
      problems.push({ path: formatPath(issue.path), message: `expected ${issue.expected}, got nothing` });
      continue;
    }
    problems.push({ path: formatPath(issue.path), message: issue.message });
  }
  return problems;
}

/** Validates an already-parsed object. */
export function validateConfig(raw: unknown): { ok: true; config: RunConfig } | { ok: false; problems: ConfigProblem[] } {
  const parsed = RunConfigSchema.safeParse(raw);
  if (parsed.success) return { ok: true, config: parsed.data };
  return { ok: false, problems: problemsFromZod(parsed.error) };
}

/** Parses YAML text and validates it. YAML syntax errors are reported with line and column. */
export function parseConfigText(text: string): { ok: true; config: RunConfig } | { ok: false; problems: ConfigProblem[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.map((e) => ({
        path: e.linePos?.[0] ? `(yaml line ${e.linePos[0].line}, column ${e.linePos[0].col})` : '(yaml)',
        message: e.message.split('\n')[0] ?? e.message,
      })),
    };
  }
  return validateConfig(doc.toJS());
}

/** Error thrown by `loadConfig`, carrying every problem. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`${file} is not a valid run config:\n${problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads, parses and validates a config file; throws `ConfigError` listing every problem. */
export function loadConfig(file: string): LoadedConfig {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '(file)', message: `cannot be read: ${(err as Error).message}` }]);
  }
  const result = parseConfigText(text);
  if (!result.ok) throw new ConfigError(file, result.problems);
  return { config: result.config, baseDir: path.dirname(abs), digest: digestOf(result.config), file: abs };
}

/**
 * The config with the endpoints this process uses (environment, then the `realgen dev up` endpoints file, then the
 * config; see ./resolve-endpoints.ts). Idempotent: resolving a resolved config changes nothing.
 */
export function applyEnvOverrides(config: RunConfig, env: NodeJS.ProcessEnv = process.env): RunConfig {
  return resolveEndpoints(config, env).config;
}
