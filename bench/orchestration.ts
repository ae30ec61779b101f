/**
 * `npm run bench:orchestration`: the overhead Temporal orchestration adds to training. A 20-segment stage with 2 s
 * segments (a plain-JS protocol trainer sleeping through 4 steps of 500 ms) runs on a private real stack with
 * in-process workers; efficiency = trainer work time / wall time of the stage, and the gap = time from one
 * trainer's exit to the next trainer's start (checkpoint commit, activity completion, workflow task, next
 * activity dispatch, checkpoint resolution and download, process spawn). Last line:
 * `efficiency=<x> gap_p50_ms=<y> gap_p99_ms=<z>`.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { stackDown, stackUp } from '../devstack/dev-stack';
import { stageWorkflowId } from '../contracts/ids';
import { createWorker } from '../workers/create-workers';
import { createWorkerContext } from '../workers/worker-context';
import { writeStackConfig } from './stack-config';

const repo = path.resolve(__dirname, '..');
const SEGMENTS = Number(process.env.REALGEN_BENCH_SEGMENTS ?? 20);
const STEPS_PER_SEGMENT = 4;
const STEP_MS = 500;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-bench-orch-'));
  const stateDir = path.join(dir, 'stack');
  const times = path.join(dir, 'times.jsonl');
  writeFileSync(times, '');
  try {
    const state = await stackUp({ stateDir, ports: 'auto' });
    const file = writeStackConfig(state, path.join(dir, 'config.yaml'), (doc) => {
      doc.setIn(
        ['stages', 0, 'budget'],
        doc.createNode({ maxSteps: SEGMENTS * STEPS_PER_SEGMENT, segmentSteps: STEPS_PER_SEGMENT, segmentMinutes: 10 }),
      );
      doc.setIn(['stages', 0, 'saveEvery'], STEPS_PER_SEGMENT);
      doc.setIn(['stages', 0, 'evalEvery'], 1_000_000);
    });
    const ctx = await createWorkerContext(file, {
      launcher: (_t, job) => ({
        command: process.execPath,
        args: [path.join(repo, 'bench', 'fixtures', 'sleep-trainer.mjs'), '--job', job],
        env: { STEP_MS: String(STEP_MS), BENCH_TIMES: times },
      }),
    });
    const workers = [await createWorker(ctx, 'cpu'), await createWorker(ctx, 'gpu')];
    const running = Promise.all(workers.map((w) => w.run()));
    const client = new Client({ connection: await Connection.connect({ address: state.temporal.address }) });
    const t0 = Date.now();
    await client.workflow.execute('trainStage', {
      workflowId: stageWorkflowId(`bench-${Date.now()}`, 1),
      taskQueue: ctx.config.taskQueues.cpu,
      args: [
        {
          runId: `bench-${Date.now()}`,
          stage: 1,
          config: ctx.config,
          configBaseDir: ctx.loaded.baseDir,
          configDigest: ctx.loaded.digest,
          initFrom: {},
        },
      ],
    });
    const wall = Date.now() - t0;
    for (const w of workers) w.shutdown();
    await running;
    await ctx.connection.close();
    await client.connection.close();

    const rows = readFileSync(times, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { startedAt: number; work: number; endedAt: number; segment: number });
    rows.sort((a, b) => a.segment - b.segment);
    const work = rows.reduce((a, r) => a + r.work, 0);
    const gaps = rows.slice(1).map((r, i) => r.startedAt - (rows[i]?.endedAt ?? r.startedAt));
    console.log(
      `segments: ${rows.length} × ${STEPS_PER_SEGMENT} steps × ${STEP_MS} ms; trainer work ${(work / 1000).toFixed(1)} s; stage wall ${(wall / 1000).toFixed(1)} s`,
    );
    console.log(`gaps between segments (ms): ${gaps.join(' ')}`);
    console.log(`efficiency=${(work / wall).toFixed(3)} gap_p50_ms=${percentile(gaps, 50)} gap_p99_ms=${percentile(gaps, 99)}`);
  } finally {
    await stackDown(stateDir);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
