/** onnxruntime's telemetry stays off: no process leaves an empty /tmp/mat-debug-<pid>.log behind. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const repo = path.resolve(__dirname, '..', '..', '..');
const tsx = path.join(repo, 'node_modules', 'tsx', 'dist', 'loader.mjs');

describe('onnxruntime telemetry', () => {
  it('loading a detector leaves no /tmp/mat-debug-<pid>.log', async () => {
    const code = `const { OnnxDetector } = require(${JSON.stringify(path.join(repo, 'infra', 'detectors', 'onnx-detector.ts'))});
OnnxDetector.load(${JSON.stringify(path.join(repo, 'models', 'realgen-mini', 'detector-cnn.json'))}).then((d) => d.close());`;
    const env = { ...process.env };
    delete env.ORT_DISABLE_TELEMETRY;
    const child = spawn(process.execPath, ['--import', tsx, '-e', code], { stdio: ['ignore', 'ignore', 'inherit'], env });
    const status = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    assert.equal(status, 0);
    assert.equal(existsSync(`/tmp/mat-debug-${child.pid}.log`), false);
  });
});
