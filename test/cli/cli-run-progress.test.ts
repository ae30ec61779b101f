/**
 * `realgen run --embedded-workers` with stdout not a terminal (a pipe, as in a log file): progress comes as plain
 * timestamped lines, one per change of a stage's state or step, with no progress-bar redraws or colour codes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { testConfigFile } from '../helpers/stack';

const bin = path.resolve(__dirname, '..', '..', 'bin', 'realgen');

describe('realgen run progress off a terminal', () => {
  it('prints plain lines per stage change, no bars', async () => {
    const config = await testConfigFile({
      mutate: (doc) => {
        const n = (doc.getIn(['stages']) as { items: unknown[] }).items.length;
        for (let i = 0; i < n; i++) doc.setIn(['stages', i, 'enabled'], i === 0);
        doc.setIn(['stages', 0, 'grpo', 'groupSize'], 2);
        doc.setIn(['stages', 0, 'grpo', 'promptsPerEpoch'], 1);
        doc.setIn(['stages', 0, 'grpo', 'samplingSteps'], 2);
        doc.setIn(['stages', 0, 'budget'], doc.createNode({ maxSteps: 2, segmentSteps: 2, segmentMinutes: 10 }));
        doc.setIn(['stages', 0, 'saveEvery'], 1);
        doc.setIn(['stages', 0, 'evalEvery'], 1000);
      },
    });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      REALGEN_STATE_DIR: mkdtempSync(path.join(os.tmpdir(), 'realgen-progress-')),
    };
    for (const k of ['REALGEN_TEMPORAL_ADDRESS', 'REALGEN_S3_ENDPOINT', 'REALGEN_CONFIG', 'NO_COLOR']) delete env[k];
    const r = spawnSync(bin, ['run', config, '--embedded-workers', '--no-final-eval', '--run-id', `progress-${process.pid}`], {
      encoding: 'utf8',
      env,
      timeout: 240_000,
    });
    assert.equal(r.status, 0, r.stderr.slice(-3000));
    assert.match(r.stdout, /^\d{4}-\d\d-\d\dT\S+ stage-1 done 2\/2 steps/m, r.stdout);
    assert.ok(!r.stdout.includes('\r') && !r.stdout.includes('\u001b['), 'no redraws or escape codes');
    assert.ok(!/[░█]/.test(r.stdout + r.stderr), 'no bar characters');
    const progressLines = r.stdout.split('\n').filter((l) => / stage-1 /.test(l));
    assert.equal(new Set(progressLines.map((l) => l.replace(/^\S+ /, ''))).size, progressLines.length, 'no repeated line');
  });
});
