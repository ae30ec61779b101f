/**
 * Recognises a checkpoint folder written by the torch trainer (trainers/torch, `realgen_torch`): its `state.json`
 * has `format: realgen-torch-trainer/1`. Such a folder carries no `policy.json`/`adapter.json` for the TypeScript
 * generator; what it trained is a diffusion LoRA (`lora/`, peft layout; EMA weights when EMA was on) and/or the prompt
 * optimizer LM's LoRA (`lm-lora/`), which only the Python sampler (`python -m realgen_torch.sample`) applies.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { realgenFailure } from '../../contracts/failures';

/** `state.json` `format` of the torch trainer's checkpoints (trainers/torch/realgen_torch/checkpoint.py FORMAT). */
export const TORCH_CHECKPOINT_FORMAT = 'realgen-torch-trainer/1';
/** The diffusion LoRA and the prompt-optimizer LM's LoRA inside a torch checkpoint. */
export const TORCH_LORA_FILE = 'lora/adapter_model.safetensors';
export const TORCH_LM_LORA_FILE = 'lm-lora/adapter_model.safetensors';

/** A downloaded torch-trainer checkpoint: where it is and what it trained. */
export interface TorchCheckpoint {
  dir: string;
  /** The stage (1-based) that wrote it: `stages[stage - 1]` describes its models. */
  stage: number;
  /** `mini` or `flux`. */
  family: string;
  /** `state.json` `kind` (`prompt-optimizer`, `joint`), null for stage 2. */
  kind: string | null;
  /** Holds a diffusion LoRA (`lora/`). */
  lora: boolean;
  /** Holds a prompt-optimizer LM LoRA (`lm-lora/`). */
  lmLora: boolean;
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * The torch checkpoint in `dir`, or null when `dir` is not one (no `state.json`, or another format: a built-in
 * trainer's checkpoint). A torch `state.json` without a usable stage is CheckpointCorrupt.
 */
export async function readTorchCheckpoint(dir: string): Promise<TorchCheckpoint | null> {
  const file = path.join(dir, 'state.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch {
    return null; // not ours to judge: whoever wrote a non-JSON state.json is not the torch trainer
  }
  if (typeof state !== 'object' || state === null || (state as { format?: unknown }).format !== TORCH_CHECKPOINT_FORMAT)
    return null;
  const { stage, family, kind } = state as { stage?: unknown; family?: unknown; kind?: unknown };
  if (typeof stage !== 'number' || !Number.isInteger(stage) || stage < 1) {
    throw realgenFailure('CheckpointCorrupt', `${file}: "stage" must be a stage number ≥ 1, got ${JSON.stringify(stage)}`);
  }
  return {
    dir,
    stage,
    family: typeof family === 'string' ? family : 'mini',
    kind: typeof kind === 'string' ? kind : null,
    lora: await isFile(path.join(dir, TORCH_LORA_FILE)),
    lmLora: await isFile(path.join(dir, TORCH_LM_LORA_FILE)),
  };
}
