/**
 * `realgen status RUN` shows the running segment's step and newest reward (issue 11: the "reward (last)" column was
 * stale): the stage itself learns steps and rewards only when a segment ends, so during a long segment the table
 * showed step 0 and no reward. Now both come from the segment's heartbeat, the reward with the step it belongs to.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { fixtureLauncher } from '../helpers/fixture-trainer';
import { testConfigFile } from '../helpers/stack';
import { cliEnv } from '../helpers/cli-process';
import { startPipeline, startTestWorkers, type TestWorkers } from '../helpers/workers';

const bin = path.resolve(__dirname, '..', '..', 'bin', 'realgen');
const run = promisify(execFile);
const scratch = mkdtempSync(path.join(os.tmpdir(), 'realgen-status-live-'));
const stepLog = path.join(scratch, 'steps.log');
let configFile: string;
let workers: TestWorkers;

describe('realgen status during a running segment', () => {
  before(async () => {
    writeFileSync(stepLog, '');
    configFile = await testConfigFile({
      mutate: (doc) => {
        for (const i of [1, 2]) doc.setIn(['stages', i, 'enabled'], false);
        // One long segment: nothing ends while the test looks.
        doc.setIn(['stages', 0, 'budget'], doc.createNode({ maxSteps: 500, segmentSteps: 500, segmentMinutes: 10 }));
        doc.setIn(['stages', 0, 'saveEvery'], 500);
        doc.setIn(['stages', 0, 'evalEvery'], 500);
      },
    });
    workers = await startTestWorkers(configFile, {
      launcher: fixtureLauncher({ FIXTURE_STEP_MS: '100', FIXTURE_STEP_LOG: stepLog }),
    });
  });

  after(async () => {
    await workers.stop();
  });

  it("shows the segment's step and newest reward with its step, not the last finished segment's", async () => {
    const runId = `status-live-${process.pid}`;
    const handle = await startPipeline(workers, runId);
    const deadline = Date.now() + 60_000;
    while (readFileSync(stepLog, 'utf8').split('\n').filter(Boolean).length < 3) {
      assert.ok(Date.now() < deadline, 'the trainer never reached step 3');
      await delay(20);
    }
    const env = cliEnv(scratch);
    const out = (await run(bin, ['status', runId, '-c', configFile], { env, encoding: 'utf8' })).stdout;
    // The fixture trainer reports reward = step / 10; the heartbeat carries the newest one.
    const row = /│ stage-1\s*│ running\s*│ (\d+)\/500\s*│[^│]+│ (\d+\.\d{4}) @(\d+)\s*│/.exec(out);
    assert.ok(row, `a running row with a step and a reward "@step":\n${out}`);
    const [step, reward, rewardStep] = [Number(row[1]), Number(row[2]), Number(row[3])];
    assert.ok(step >= 3, `the segment's step (${step}), not the stage's 0`);
    assert.ok(rewardStep >= 3 && rewardStep <= step, `the reward's step (${rewardStep})`);
    assert.ok(Math.abs(reward - rewardStep / 10) < 1e-9, `the reward of step ${rewardStep} (${reward})`);
    await handle.cancel();
    await assert.rejects(handle.result(), WorkflowFailedError);
  });
});
