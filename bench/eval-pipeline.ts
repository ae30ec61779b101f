/**
 * `npm run bench:eval`: a RealBench evaluation of the realgen-mini base generator on the held-out suite (105 prompts),
 * through the real evaluation DAG on a private stack with in-process workers, against the generation phase alone —
 * the same 105 images made by the same generator code in this process, with no Temporal, no S3, no scoring and no
 * judging — measured in the same run. Then the same evaluation of a second subject that shares the base generator
 * (a stage-1 checkpoint without a prompt policy is the base generator again) shows what image reuse by content hash
 * saves. Last line: `eval_wall_s=… generate_only_s=… overlap_ratio=…` (overlap_ratio = eval wall / generation alone;
 * the goal is ≤ 1.15).
 *
 * Env: REALGEN_BENCH_SUITE (default heldout).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { evalWorkflowId, evalKeyOfWorkflowId } from '../contracts/ids';
import type { RealBenchSuite } from '../contracts/realbench';
import { loadConfig } from '../configs/load';
import { stackDown, stackUp } from '../devstack/dev-stack';
import { encodePng } from '../infra/image/decode';
import { BASE_PARTS, generateWithCheckpoint } from '../infra/mini/checkpoint-generator';
import { configPath, loadGenerator } from '../infra/mini/mini-world';
import { loadRealBench, selectSuite } from '../infra/realbench/realbench';
import type { EvaluateCheckpointInput, EvaluationResult } from '../workflows/evaluate-checkpoint';
import { startWorkers } from '../workers/create-workers';
import { createWorkerContext } from '../workers/worker-context';
import { writeStackConfig } from './stack-config';

const SUITE = (process.env.REALGEN_BENCH_SUITE ?? 'heldout') as RealBenchSuite;

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-bench-eval-'));
  const stateDir = path.join(dir, 'stack');
  try {
    const state = await stackUp({ stateDir, ports: 'auto' });
    const file = writeStackConfig(state, path.join(dir, 'config.yaml'));
    const loaded = loadConfig(file);
    const config = loaded.config;

    // Generation alone: the same items, the same generator, the same batch size and seed as the generate activity.
    const bench = await loadRealBench(configPath(loaded, (config.realbench.source as { dir: string }).dir));
    const items = selectSuite(bench.items, SUITE);
    const { generator, tokenizer } = await loadGenerator(loaded);
    const batch = 8;
    const g0 = performance.now();
    for (let start = 0; start < items.length; start += batch) {
      const part = items.slice(start, start + batch).map((it) => ({ id: it.id, prompt: it.prompt, category: it.category }));
      for (const img of await generateWithCheckpoint(generator, tokenizer, BASE_PARTS, part, { seed: config.seed }))
        await encodePng(img.image);
    }
    const generateOnly = (performance.now() - g0) / 1000;
    console.log(
      `generation alone: ${items.length} images in ${generateOnly.toFixed(1)} s (${(items.length / generateOnly).toFixed(2)} images/s)`,
    );

    const ctx = await createWorkerContext(file);
    const workers = await startWorkers(ctx, ['cpu', 'gpu']);
    const client = new Client({ connection: await Connection.connect({ address: state.temporal.address }) });
    const evaluate = async (subject: string, name: string): Promise<{ seconds: number; result: EvaluationResult }> => {
      const workflowId = evalWorkflowId(subject, SUITE);
      const input: EvaluateCheckpointInput = {
        evalKey: evalKeyOfWorkflowId(workflowId),
        suite: SUITE,
        source: { kind: 'mini-checkpoint', ref: null },
        name,
        config,
        configBaseDir: loaded.baseDir,
        configDigest: loaded.digest,
        taskQueues: config.taskQueues,
      };
      const t0 = performance.now();
      const result = await client.workflow.execute('evaluateCheckpoint', {
        workflowId,
        taskQueue: config.taskQueues.cpu,
        args: [input],
      });
      return { seconds: (performance.now() - t0) / 1000, result };
    };
    try {
      const first = await evaluate(`bench-base-${Date.now()}`, 'base');
      console.log(
        `evaluation (plan, generate, score, judge, aggregate): ${first.seconds.toFixed(1)} s wall for ${first.result.headline.images} images`,
      );
      const again = await evaluate(`bench-base-again-${Date.now()}`, 'base-again');
      console.log(
        `a second evaluation of the same generator under another key: ${again.seconds.toFixed(1)} s (its images copied from the content-addressed cache)`,
      );
      console.log(
        `eval_wall_s=${first.seconds.toFixed(1)} generate_only_s=${generateOnly.toFixed(1)} overlap_ratio=${(first.seconds / generateOnly).toFixed(3)}`,
      );
    } finally {
      await workers.stop();
      await client.connection.close();
      await ctx.close();
    }
  } finally {
    await stackDown(stateDir);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:eval: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
