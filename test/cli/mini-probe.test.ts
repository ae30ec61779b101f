/**
 * The reward-signal gate of issue 15, on the committed realgen-mini models and configs/mini.yaml: before any
 * training, the Detector Reward must point where the held-out detector sees realism (within-group correlation ≥ 0.3)
 * and every reward detector must move the same way as the held-out detector when images are sharpened or blurred.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';

const repo = path.resolve(__dirname, '..', '..');

describe('realgen mini probe', () => {
  it('the mini reward passes the gate on base-generator groups built as stage 2 builds them', () => {
    const r = spawnSync(path.join(repo, 'bin', 'realgen'), ['mini', 'probe', '--json', '--groups', '16'], { encoding: 'utf8' });
    const report = JSON.parse(r.stdout) as {
      withinGroupCorrelation: number;
      nSamples: number;
      editEffects: Record<string, Record<string, number>>;
      gate: { passed: boolean; failures: string[] };
    };
    assert.equal(report.nSamples, 64);
    assert.equal(typeof report.withinGroupCorrelation, 'number');
    for (const edit of ['sharpen', 'blur', 'contrast', 'noise']) assert.ok(report.editEffects[edit], `edit ${edit} measured`);
    assert.deepEqual(report.gate.failures, []);
    assert.ok(report.withinGroupCorrelation >= 0.3, `within-group correlation ${report.withinGroupCorrelation}`);
    assert.equal(r.status, 0, r.stderr);
  });
});
