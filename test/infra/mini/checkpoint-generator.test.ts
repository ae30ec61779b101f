import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { PromptPolicy } from '../../../domain/grpo/prompt-policy';
import { VelocityAdapter } from '../../../domain/grpo/velocity-adapter';
import {
  BASE_PARTS,
  generateWithCheckpoint,
  greedyAction,
  loadCheckpointParts,
  rewritePrompt,
} from '../../../infra/mini/checkpoint-generator';
import { MiniGenerator } from '../../../infra/mini/generator';
import type { Tokenizer } from '../../../domain/mini/tokenizer';
import { Rng } from '../../../lib/random';
import { writeTinyGenerator } from '../../helpers/tiny-generator';
import { loadTokenizer } from '../../../infra/mini/tokenizer-file';

const repo = path.resolve(__dirname, '..', '..', '..');
const descriptors = JSON.parse(readFileSync(path.join(repo, 'models', 'realgen-mini', 'descriptors.json'), 'utf8')) as {
  slots: Record<string, string[]>;
};
let gen: MiniGenerator;
let tok: Tokenizer;
const items = [
  { id: '00000', prompt: 'a red fox in snow', category: 'animals' },
  { id: '00010', prompt: 'an old church at dusk', category: 'buildings' },
  { id: '00020', prompt: 'a bowl of ramen', category: 'dishes' },
];

describe('checkpoint generator', () => {
  before(async () => {
    gen = await MiniGenerator.load(writeTinyGenerator(mkdtempSync(path.join(os.tmpdir(), 'realgen-ckgen-'))));
    tok = loadTokenizer(path.join(repo, 'models', 'realgen-mini', 'tokenizer.json'));
  });

  it('rewrites greedily with the most likely option per slot, and not at all without a policy', () => {
    const policy = PromptPolicy.create(descriptors, { init: 'uniform', rng: Rng.fromSeed(1), scale: 2 });
    const a = greedyAction(policy, 'a red fox', 'animals');
    const probs = policy.probs(policy.features('a red fox', 'animals'));
    a.forEach((k, s) => assert.equal(probs[s]?.[k], Math.max(...(probs[s] ?? []))));
    assert.equal(rewritePrompt({ policy, adapter: null }, 'a red fox', 'animals'), policy.rewrite('a red fox', a));
    assert.equal(rewritePrompt(BASE_PARTS, 'a red fox', 'animals'), 'a red fox');
    const zeros = PromptPolicy.create(descriptors);
    assert.equal(
      rewritePrompt({ policy: zeros, adapter: null }, 'a red fox.', 'animals'),
      'a red fox.',
      'uniform ties pick "none"',
    );
  });

  it('generates per-id deterministic images whatever the batch, and the adapter changes them', async () => {
    const all = await generateWithCheckpoint(gen, tok, BASE_PARTS, items, { seed: 42 });
    const single = await generateWithCheckpoint(gen, tok, BASE_PARTS, items.slice(1, 2), { seed: 42 });
    assert.ok(all[1]?.image.data.equals(single[0]?.image.data ?? Buffer.alloc(0)), 'image 00010 does not depend on its batch');
    const adapter = VelocityAdapter.create({ D: gen.imageElements });
    adapter.params.fill(0.05);
    const adapted = await generateWithCheckpoint(gen, tok, { policy: null, adapter }, items, { seed: 42 });
    assert.ok(!adapted[0]?.image.data.equals(all[0]?.image.data ?? Buffer.alloc(0)));
    await assert.rejects(
      generateWithCheckpoint(gen, tok, { policy: null, adapter: VelocityAdapter.create({ D: 7 }) }, items, { seed: 1 }),
      /D = 7/,
    );
  });

  it('loads policy.json and adapter.json when present', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-ckparts-'));
    assert.deepEqual(await loadCheckpointParts(dir), { policy: null, adapter: null });
    const policy = PromptPolicy.create(descriptors, { init: 'uniform', rng: Rng.fromSeed(2) });
    writeFileSync(path.join(dir, 'policy.json'), JSON.stringify(policy.serialize()));
    const parts = await loadCheckpointParts(dir);
    assert.deepEqual(parts.policy?.serialize(), policy.serialize());
    assert.equal(parts.adapter, null);
  });
});
