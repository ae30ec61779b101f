/**
 * The built-in trainer's full resumable state, as checkpoint files: step, RNG state, prompt cursor, the trainable
 * parts and their Adam moments. Everything is stored exactly (float64 as raw bytes), so a run resumed from a
 * checkpoint continues bit for bit like an uninterrupted one.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Adam, type AdamConfig } from '../../domain/grpo/adam';
import { PromptPolicy } from '../../domain/grpo/prompt-policy';
import { deserializeStage2Adapter, type Stage2Adapter } from '../../domain/grpo/stage2-adapter';
import type { RngState } from '../../lib/random';

export interface TrainerState {
  stage: number;
  step: number;
  rng: RngState;
  cursor: number;
  /** Trained in stages 1 and 3, frozen (carried along) in stage 2. */
  policy: PromptPolicy | null;
  policyAdam: Adam | null;
  /** Trained in stages 2 and 3. */
  adapter: Stage2Adapter | null;
  adapterAdam: Adam | null;
  /** Deterministic metrics of the last step (no timings: they would break byte equality). */
  lastMetrics: Record<string, number>;
  /** Mean reward of every step of this stage so far (reports plot it as the reward curve). */
  rewardHistory: Array<{ step: number; reward: number }>;
}

const FILES = {
  state: 'state.json',
  policy: 'policy.json',
  policyAdam: 'policy-adam.json',
  adapter: 'adapter.json',
  adapterAdam: 'adapter-adam.json',
};

/** Writes the state into `<dir>` atomically (a temp folder renamed into place). */
export function writeState(dir: string, s: TrainerState): void {
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const json = (file: string, value: unknown) => writeFileSync(path.join(tmp, file), `${JSON.stringify(value)}\n`);
  json(FILES.state, {
    format: 'realgen-mini-trainer/1',
    stage: s.stage,
    step: s.step,
    rng: s.rng,
    cursor: s.cursor,
    lastMetrics: s.lastMetrics,
    rewardHistory: s.rewardHistory,
  });
  if (s.policy) json(FILES.policy, s.policy.serialize());
  if (s.policyAdam) json(FILES.policyAdam, s.policyAdam.serialize());
  if (s.adapter) json(FILES.adapter, s.adapter.serialize());
  if (s.adapterAdam) json(FILES.adapterAdam, s.adapterAdam.serialize());
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}

function readJson(dir: string, file: string): unknown {
  return JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
}

/** Parts of a checkpoint folder (any stage), for warm starts and initialisation from earlier stages. */
export function readParts(dir: string): { policy: PromptPolicy | null; adapter: Stage2Adapter | null } {
  return {
    policy: existsSync(path.join(dir, FILES.policy)) ? PromptPolicy.deserialize(readJson(dir, FILES.policy) as never) : null,
    adapter: existsSync(path.join(dir, FILES.adapter)) ? deserializeStage2Adapter(readJson(dir, FILES.adapter)) : null,
  };
}

/** Reads the full state written by `writeState`. */
export function readState(dir: string, adam: { policy: AdamConfig; adapter: AdamConfig }): TrainerState {
  const meta = readJson(dir, FILES.state) as {
    format: string;
    stage: number;
    step: number;
    rng: RngState;
    cursor: number;
    lastMetrics: Record<string, number>;
    rewardHistory?: Array<{ step: number; reward: number }>;
  };
  if (meta.format !== 'realgen-mini-trainer/1')
    throw new Error(`${dir}/state.json: unknown format ${JSON.stringify(meta.format)}`);
  const parts = readParts(dir);
  return {
    stage: meta.stage,
    step: meta.step,
    rng: meta.rng,
    cursor: meta.cursor,
    policy: parts.policy,
    policyAdam: existsSync(path.join(dir, FILES.policyAdam))
      ? Adam.deserialize(readJson(dir, FILES.policyAdam) as never, adam.policy)
      : null,
    adapter: parts.adapter,
    adapterAdam: existsSync(path.join(dir, FILES.adapterAdam))
      ? Adam.deserialize(readJson(dir, FILES.adapterAdam) as never, adam.adapter)
      : null,
    lastMetrics: meta.lastMetrics,
    rewardHistory: meta.rewardHistory ?? [],
  };
}
