/**
 * `realgen status RUN` shows the last failure of the running segment (issue 12 item 7): while the retry of a crashed
 * trainer attempt waits, the stage reads "retry waiting" with no ETA, and a line names the failure type, its message
 * and the attempt that failed; once the cause is gone the retry finishes the run, and the finished stage's row keeps
 * its last reward with its step.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { PipelineResult } from '../../workflows/realgen-pipeline';
import { fixtureLauncher } from '../helpers/fixture-trainer';
import { testConfigFile } from '../helpers/stack';
import { cliEnv } from '../helpers/cli-process';
import { startPipeline, startTestWorkers, type TestWorkers } from '../helpers/workers';

const bin = path.resolve(__dirname, '..', '..', 'bin', 'realgen');
const run = promisify(execFile);
const scratch = mkdtempSync(path.join(os.tmpdir(), 'realgen-status-failure-'));
/** The trainer crashes (exit 3, a retryable TrainerCrashed) at step 3 until this file exists. */
const healed = path.join(scratch, 'healed');
let configFile: string;
let workers: TestWorkers;

describe('realgen status shows the last failure of the running attempt', () => {
  before(async () => {
    configFile = await testConfigFile({
      mutate: (doc) => {
        for (const i of [1, 2]) doc.setIn(['stages', i, 'enabled'], false);
        doc.setIn(['stages', 0, 'budget'], doc.createNode({ maxSteps: 4, segmentSteps: 4, segmentMinutes: 10 }));
        doc.setIn(['stages', 0, 'saveEvery'], 2);
        doc.setIn(['stages', 0, 'evalEvery'], 1000);
      },
    });
    workers = await startTestWorkers(configFile, {
      launcher: fixtureLauncher({ FIXTURE_STEP_MS: '50', FIXTURE_CRASH_AT: '3', FIXTURE_CRASH_UNTIL: healed }),
    });
  });

  after(async () => {
    await workers.stop();
  });

  it('names the failure type, message and attempt while the retry waits; the retry then finishes', async () => {
    const runId = `status-failure-${process.pid}`;
    const handle = await startPipeline(workers, runId);
    const env = cliEnv(scratch);
    // Retries back off (2 s, 4 s, 8 s, …): the CLI is asked until one answer falls inside a waiting retry.
    const deadline = Date.now() + 120_000;
    let out = '';
    while (!/stage-1 segment: retry waiting/.test(out)) {
      assert.ok(Date.now() < deadline, `status never showed a waiting retry; last output:\n${out}`);
      out = (await run(bin, ['status', runId, '-c', configFile], { env, encoding: 'utf8' })).stdout;
    }
    assert.match(out, /^run status-failure-\d+: RUNNING/m);
    assert.match(out, /stage-1 segment: retry waiting: attempt (\d+)( in \d+s|, due now)$/m);
    const waiting = Number(/retry waiting: attempt (\d+)/.exec(out)![1]);
    assert.ok(waiting >= 2, `a retry, not the first attempt (${waiting})`);
    assert.match(
      out,
      new RegExp(
        `^stage-1 last failure \\(attempt ${waiting - 1}\\): TrainerCrashed: trainer exited with code 3 before reporting done`,
        'm',
      ),
    );
    assert.match(out, /│ stage-1 │ retry waiting │/, 'the stage reads as waiting for its retry, not as running');
    assert.doesNotMatch(out, /│ \d+s\s*│/, 'no ETA while the retry waits');

    writeFileSync(healed, '');
    const result = (await handle.result()) as PipelineResult;
    assert.equal(result.stages['stage-1']?.step, 4);
    // A finished stage's row keeps its last reward and the step it belongs to (the fixture reports step / 10).
    const done = (await run(bin, ['status', runId, '-c', configFile], { env, encoding: 'utf8' })).stdout;
    assert.match(done, /│ stage-1\s*│ done\s*│ 4\s*│[^│]+│ 0\.4000 @4\s*│/, done);
  });
});
