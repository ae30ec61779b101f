/**
 * Generation backend for a checkpoint the torch trainer wrote (EvalSource `mini-checkpoint` whose folder holds a torch
 * `state.json`): the Python sampler `python -m realgen_torch.sample` renders the shard with the checkpoint's diffusion
 * LoRA and, with `lm-lora/`, the LM's greedy rewrite of each prompt (trainers/torch/realgen_torch/sample.py). It draws
 * the same per-id initial noise as the TypeScript base generator, so rows pair across checkpoints.
 *
 * Its images never go into the base-image cache (they are not the base generator's). The prompt each image was drawn
 * from is kept beside the shard (`used-prompts/<id>.json`), so a retried shard reuses an uploaded image with its prompt.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FAILURE_RETRYABLE, realgenFailure, type FailureType } from '../../../contracts/failures';
import type { TorchCheckpoint } from '../../../infra/mini/torch-checkpoint';
import { spawnProcessGroup } from '../../../infra/process/process-group';
import { heartbeat } from '../../heartbeat';
import { TORCH_PACKAGE_DIR, torchVenvPython } from '../../training/torch-launcher';
import type { EvaluationContext } from '../evaluation-context';
import { getJson, listKeys, putBytes, putJson, shardKeys } from '../layout';
import type { GeneratedItem } from '../shard-records';
import type { ShardGeneration } from './shard-generator';
import { awaitGroup } from './supervised-group';

/** What the sampler reports per item in `prompts.json`, and what `used-prompts/<id>.json` keeps. */
interface UsedPrompt {
  id: string;
  prompt: string;
  usedPrompt: string;
  /** The LM's rewrite (null without `lm-lora/`). */
  rewrite: string | null;
  /** Why the rewrite was not used (rewrite.py reasons), null when it was or there was none. */
  malformed: string | null;
}

interface SamplerEvent {
  type?: unknown;
  done?: unknown;
  of?: unknown;
  kind?: unknown;
  message?: unknown;
}

/** The failure for a sampler `error` event: its kind when the closed vocabulary has it, else a retryable error. */
function samplerFailure(event: SamplerEvent, tail: string): Error {
  const message = `torch sampler: ${typeof event.message === 'string' ? event.message : 'failed'}`;
  if (typeof event.kind === 'string' && event.kind in FAILURE_RETRYABLE)
    return realgenFailure(event.kind as FailureType, message);
  return new Error(`${message}\n${tail.trim().slice(-1500)}`);
}

/** Runs the sampler to completion with heartbeats; cancellation stops its process group (and only that). */
async function runSampler(
  args: string[],
  cwd: string,
  shard: number,
  of: number,
  graceMs: number,
  extraEnv: NodeJS.ProcessEnv,
): Promise<void> {
  const python = torchVenvPython();
  if (!existsSync(python)) {
    throw realgenFailure(
      'ConfigInvalid',
      `evaluating a torch checkpoint needs the torch venv, missing on this worker (${python} not found); run ` +
        'scripts/install-python.sh (it installs into $REALGEN_TOOLS_DIR/torch-venv, default <repo>/.tools/torch-venv)',
    );
  }
  const inherited = process.env.PYTHONPATH;
  const group = await spawnProcessGroup(python, ['-m', 'realgen_torch.sample', ...args], {
    cwd,
    env: {
      ...process.env,
      PYTHONPATH: inherited ? `${TORCH_PACKAGE_DIR}${path.delimiter}${inherited}` : TORCH_PACKAGE_DIR,
      PYTHONUNBUFFERED: '1',
      ...extraEnv,
    },
  });
  let tail = '';
  let pending = '';
  let error: SamplerEvent | null = null;
  group.child.stderr.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  });
  group.child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      let event: SamplerEvent;
      try {
        event = JSON.parse(line) as SamplerEvent;
      } catch {
        tail = (tail + line + '\n').slice(-4000);
        continue;
      }
      if (event.type === 'progress' && typeof event.done === 'number') {
        heartbeat({ shard, generated: event.done, of, sampler: 'torch' });
      } else if (event.type === 'error') error = event;
    }
  });
  // Model loading prints nothing for seconds: the heartbeat stays alive meanwhile.
  const code = await awaitGroup(group, graceMs, (seconds) => ({ shard, sampler: 'torch', seconds }));
  if (error !== null) throw samplerFailure(error, tail);
  if (code !== 0) throw new Error(`torch sampler exited with ${code}: ${tail.trim().slice(-1500)}`);
}

/** The job file the sampler reads: the evaluation's run config and the folder its paths resolve against. */
function jobJson(generation: ShardGeneration): string {
  const { spec } = generation.input;
  return JSON.stringify({ config: spec.config, configBaseDir: spec.configBaseDir });
}

/**
 * Generates the shard's images that are not uploaded yet (with their used prompts) through the Python sampler, then
 * returns every item with its image key and the prompt it was drawn from.
 */
export function torchCheckpointGenerator({ store, deps }: EvaluationContext) {
  return async (generation: ShardGeneration, checkpoint: TorchCheckpoint): Promise<GeneratedItem[]> => {
    const { input, items, imagesPrefix } = generation;
    const usedPrefix = shardKeys(input.plan.shardsPrefix, input.shard).usedPrompts;
    const images = new Set((await listKeys(store, imagesPrefix)).map((k) => k.slice(imagesPrefix.length)));
    const used = new Map<string, UsedPrompt>();
    for (const it of items) {
      if (!images.has(`${it.id}.png`)) continue;
      const record = await getJson<UsedPrompt>(store, `${usedPrefix}${it.id}.json`);
      if (record !== null) used.set(it.id, record);
    }
    const todo = items.filter((it) => !used.has(it.id));
    if (todo.length > 0) {
      await mkdir(deps.workDir, { recursive: true });
      const dir = await mkdtemp(path.join(deps.workDir, `eval-torch-${input.shard}-`));
      try {
        const outDir = path.join(dir, 'out');
        const itemsFile = path.join(dir, 'items.jsonl');
        const jobFile = path.join(dir, 'job.json');
        await writeFile(
          itemsFile,
          todo.map(({ id, prompt, category }) => `${JSON.stringify({ id, prompt, category })}\n`).join(''),
        );
        await writeFile(jobFile, jobJson(generation));
        const { config } = input.spec;
        const args = ['--job', jobFile, '--items', itemsFile, '--out', outDir, '--seed', String(config.seed)];
        args.push('--checkpoint', checkpoint.dir, '--stage', String(checkpoint.stage));
        args.push('--batch', String(deps.generateBatch ?? 8));
        // The same share of the GPU worker's shutdown grace as the external generator command gets.
        const graceMs = Math.max(1, Math.floor(config.workers.gpu.shutdownGraceSeconds * 0.6)) * 1000;
        // On the worker, a slot of its pool (as a trainer): its GPUs, or the CPU for a CPU slot.
        const gpuIds = deps.gpuPool === undefined ? config.workers.gpu.gpuIds : await deps.gpuPool.acquire();
        try {
          args.push('--device', gpuIds.length === 0 ? 'cpu' : 'cuda');
          const env: NodeJS.ProcessEnv = deps.gpuPool === undefined ? {} : { CUDA_VISIBLE_DEVICES: gpuIds.join(',') };
          await runSampler(args, dir, input.shard, todo.length, graceMs, env);
        } finally {
          if (deps.gpuPool !== undefined) deps.gpuPool.release(gpuIds);
        }
        deps.onGeneratorCall?.(todo.length);
        const report = JSON.parse(await readFile(path.join(outDir, 'prompts.json'), 'utf8')) as { items: UsedPrompt[] };
        const byId = new Map(report.items.map((r) => [r.id, r]));
        for (const it of todo) {
          const record = byId.get(it.id);
          if (record === undefined) throw new Error(`torch sampler: prompts.json has no entry for item ${it.id}`);
          await putBytes(store, `${imagesPrefix}${it.id}.png`, await readFile(path.join(outDir, `${it.id}.png`)), 'image/png');
          await putJson(store, `${usedPrefix}${it.id}.json`, record);
          used.set(it.id, record);
        }
        const malformed = todo.filter((it) => used.get(it.id)?.malformed != null);
        if (malformed.length > 0) {
          // Reported, not fatal: those images were drawn from the original prompt.
          heartbeat({ shard: input.shard, malformedRewrites: malformed.map((it) => `${it.id}: ${used.get(it.id)?.malformed}`) });
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    return items.map((it) => ({
      id: it.id,
      category: it.category,
      key: `${imagesPrefix}${it.id}.png`,
      usedPrompt: used.get(it.id)?.usedPrompt ?? it.prompt,
    }));
  };
}
