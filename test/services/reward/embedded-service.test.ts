/**
 * Which runs get an embedded reward service with `--embedded-workers`: those with an enabled torch-trainer stage that
 * names no service of its own (no `trainer.reward.url`, no REALGEN_REWARD_URL in the environment).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { needsEmbeddedRewardService } from '../../../services/reward/embedded-service';
import { loadConfig } from '../../../configs/load';

const repo = path.resolve(__dirname, '..', '..', '..');
const load = (name: string) => loadConfig(path.join(repo, 'configs', name));

describe('needsEmbeddedRewardService', () => {
  it('is true for a torch stage without a service of its own, false otherwise', () => {
    const torch = load('mini-torch.yaml');
    assert.equal(needsEmbeddedRewardService(torch, {}), true);
    assert.equal(needsEmbeddedRewardService(load('mini.yaml'), {}), false, 'built-in trainers score in-process');
    assert.equal(needsEmbeddedRewardService(torch, { REALGEN_REWARD_URL: 'http://127.0.0.1:1' }), false, 'the env names one');
    const withUrl = structuredClone(torch);
    for (const s of withUrl.config.stages) if (s.trainer.backend === 'torch') s.trainer.reward.url = 'http://127.0.0.1:2';
    assert.equal(needsEmbeddedRewardService(withUrl, {}), false, 'trainer.reward.url names one');
    const disabled = structuredClone(torch);
    for (const s of disabled.config.stages) if (s.trainer.backend === 'torch') s.enabled = false;
    assert.equal(needsEmbeddedRewardService(disabled, {}), false, 'a disabled torch stage needs none');
  });
});
