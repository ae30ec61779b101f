import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FilterAdapter } from '../../../domain/grpo/filter-adapter';
import { deserializeStage2Adapter } from '../../../domain/grpo/stage2-adapter';
import { VelocityAdapter } from '../../../domain/grpo/velocity-adapter';

describe('stage-2 adapter checkpoints', () => {
  it('reads both kinds back (older per-pixel checkpoints stay readable) and names the kinds it knows otherwise', () => {
    const v = VelocityAdapter.create({ D: 6 });
    v.params[3] = 0.25;
    const back = deserializeStage2Adapter(JSON.parse(JSON.stringify(v.serialize())));
    assert.ok(back instanceof VelocityAdapter);
    assert.equal(back.params[3], 0.25);
    const f = FilterAdapter.create({ side: 4 });
    f.params[5] = -1.5;
    const fb = deserializeStage2Adapter(JSON.parse(JSON.stringify(f)));
    assert.ok(fb instanceof FilterAdapter);
    assert.equal(fb.params[5], -1.5);
    assert.throws(
      () => deserializeStage2Adapter({ kind: 'lora', version: 2 }),
      /unknown adapter kind "lora".*"velocity-adapter" \(v1\) and "filter-adapter" \(v1\)/,
    );
  });
});
