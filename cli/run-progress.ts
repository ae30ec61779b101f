/**
 * Following a run until it closes: one redrawn progress bar per stage on a terminal, and on anything else (a pipe,
 * a log file) one plain line per change of a stage's state or step, so logs hold no bar redraws.
 */
import cliProgress from 'cli-progress';
import type { Client } from '@temporalio/client';
import type { LoadedConfig } from '../configs/load';
import { runWorkflowId, stageKey } from '../contracts/ids';
import { pipelineProgress } from '../infra/temporal/run-progress-query';
import type { PipelineResult } from '../workflows/realgen-pipeline';
import { stdoutIsTty } from './terminal';

export { pipelineProgress, type RunProgress } from '../infra/temporal/run-progress-query';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface StageView {
  step: number;
  total: number;
  state: string;
  reward: string;
  eta: string;
}

/** Shows stage views: bars on a terminal, a line per change elsewhere. */
interface ProgressSink {
  update(stage: number, view: StageView): void;
  stop(): void;
}

/** Bars on stdout (cli-progress defaults to stderr): the TTY decision is made for stdout. */
function barSink(stages: ReadonlyArray<{ stage: number; maxSteps: number }>): ProgressSink {
  const bars = new cliProgress.MultiBar(
    {
      format: ' {stage} |{bar}| {value}/{total} steps | {state} | reward {reward} | eta {eta}',
      hideCursor: true,
      clearOnComplete: false,
      stream: process.stdout,
    },
    cliProgress.Presets.shades_classic,
  );
  const byStage = new Map(
    stages.map((s) => [
      s.stage,
      bars.create(s.maxSteps, 0, { stage: stageKey(s.stage), state: 'waiting', reward: '-', eta: '-' }),
    ]),
  );
  return {
    update(stage, v) {
      const bar = byStage.get(stage);
      bar?.setTotal(v.total);
      bar?.update(v.step, { stage: stageKey(stage), state: v.state, reward: v.reward, eta: v.eta });
    },
    stop: () => bars.stop(),
  };
}

function lineSink(): ProgressSink {
  const last = new Map<number, string>();
  return {
    update(stage, v) {
      // ETA and reward change every poll; a line is printed when the state or the step changes.
      const key = `${v.state} ${v.step}/${v.total}`;
      if (last.get(stage) === key) return;
      last.set(stage, key);
      console.log(
        `${new Date().toISOString()} ${stageKey(stage)} ${v.state} ${v.step}/${v.total} steps, reward ${v.reward}, eta ${v.eta}`,
      );
    },
    stop: () => undefined,
  };
}

/** Follows a run until it closes. */
export async function followRun(client: Client, runId: string, loaded: LoadedConfig): Promise<void> {
  const stages = loaded.config.stages.filter((x) => x.enabled).map((s) => ({ stage: s.stage, maxSteps: s.budget.maxSteps }));
  const sink = stdoutIsTty() ? barSink(stages) : lineSink();
  const handle = client.workflow.getHandle(runWorkflowId(runId));
  let closed = false;
  const done = handle.result().finally(() => (closed = true));
  done.catch(() => undefined);
  const finished = (n: number, total: number): StageView => ({ step: total, total, state: 'done', reward: '-', eta: '0s' });
  while (!closed) {
    const p = await pipelineProgress(client, runId).catch(() => null);
    if (p) {
      for (const s of stages) if (p.pipeline.completed[stageKey(s.stage)]) sink.update(s.stage, finished(s.stage, s.maxSteps));
      if (p.stage) {
        const reward = p.stage.recentRewards.at(-1)?.reward;
        sink.update(p.stage.stage, {
          step: p.stage.step,
          total: p.stage.maxSteps,
          state: p.stage.state,
          reward: reward === undefined ? '-' : reward.toFixed(4),
          eta: p.stage.etaSeconds === null ? '-' : `${p.stage.etaSeconds}s`,
        });
      }
    }
    await Promise.race([done.catch(() => undefined), sleep(1000)]);
  }
  try {
    // The last stage finishes between two polls: show every completed stage as done.
    const result = (await done) as PipelineResult;
    for (const s of stages) if (result.stages[stageKey(s.stage)]) sink.update(s.stage, finished(s.stage, s.maxSteps));
  } finally {
    sink.stop();
  }
}
