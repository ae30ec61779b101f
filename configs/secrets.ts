/**
 * Resolving `SecretRef`s. Only workers and the CLI call this, never workflow code: a resolved secret must not
 * enter a workflow input, a heartbeat, a failure message or a log line.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { SecretRef } from './schema';

/** Reads the secret named by `ref`; `what` names the config field in errors (never the value). */
export function readSecret(ref: SecretRef, baseDir: string, what: string, env: NodeJS.ProcessEnv = process.env): string {
  if (ref.env !== undefined) {
    const value = env[ref.env];
    if (value === undefined || value === '') throw new Error(`${what}: environment variable ${ref.env} is not set`);
    return value;
  }
  const file = path.resolve(baseDir, ref.file ?? '');
  let value: string;
  try {
    value = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new Error(`${what}: secret file ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (value === '') throw new Error(`${what}: secret file ${file} is empty`);
  return value;
}

/** Shows a secret in logs as its first two characters and its length. */
export function redact(secret: string): string {
  return `${secret.slice(0, 2)}…(${secret.length} chars)`;
}
