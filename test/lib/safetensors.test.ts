/** The safetensors writer and reader: a round trip, alignment, refused bad input, and a cross-check with the reference Python package. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { decodeSafetensors, encodeSafetensors, f64Tensor, f64Values } from '../../lib/safetensors';

const TORCH_PYTHON = path.join(
  process.env.REALGEN_TOOLS_DIR ?? path.resolve(__dirname, '..', '..', '.tools'),
  'torch-venv',
  'bin',
  'python',
);

describe('safetensors', () => {
  const tensors = {
    'b.matrix': f64Tensor([1.5, -2, 3.25, Math.PI, 0, -0], [2, 3]),
    'a.vector': { dtype: 'U8' as const, shape: [3], data: new Uint8Array([7, 8, 9]) },
  };

  it('round-trips tensors and metadata, with the header padded to 8 bytes', () => {
    const bytes = encodeSafetensors(tensors, { format: 'test' });
    const headerLength = Number(bytes.readBigUInt64LE(0));
    assert.equal(headerLength % 8, 0);
    const back = decodeSafetensors(bytes);
    assert.deepEqual(back.metadata, { format: 'test' });
    assert.deepEqual(back.tensors['b.matrix']?.shape, [2, 3]);
    assert.deepEqual([...f64Values(back.tensors['b.matrix'] as never)], [1.5, -2, 3.25, Math.PI, 0, -0]);
    assert.deepEqual([...(back.tensors['a.vector']?.data ?? [])], [7, 8, 9]);
    assert.deepEqual(encodeSafetensors(tensors, { format: 'test' }), bytes, 'the same tensors give the same bytes');
  });

  it('refuses a tensor whose bytes do not fit its shape, and a truncated file', () => {
    assert.throws(
      () => encodeSafetensors({ x: { dtype: 'F32', shape: [2], data: new Uint8Array(4) } }),
      /tensor x: 4 bytes, shape \[2\] F32 needs 8/,
    );
    const bytes = encodeSafetensors(tensors);
    assert.throws(() => decodeSafetensors(bytes.subarray(0, bytes.length - 4)), /bad shape or offsets/);
    assert.throws(() => decodeSafetensors(bytes.subarray(0, 4)), /too short/);
  });

  it('the reference safetensors package reads the file (torch venv)', () => {
    assert.ok(existsSync(TORCH_PYTHON), `${TORCH_PYTHON} is missing: bash scripts/install-python.sh (npm test runs it)`);
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'realgen-st-')), 'x.safetensors');
    writeFileSync(file, encodeSafetensors(tensors, { format: 'test' }));
    const py = `
import json, sys
from safetensors.numpy import load_file
from safetensors import safe_open
t = load_file(sys.argv[1])
with safe_open(sys.argv[1], 'np') as f: meta = f.metadata()
print(json.dumps({k: {'dtype': str(v.dtype), 'shape': list(v.shape), 'values': v.flatten().tolist()} for k, v in t.items()} | {'__meta__': meta}))
`;
    const r = spawnSync(TORCH_PYTHON, ['-c', py, file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, { dtype: string; shape: number[]; values: number[] }>;
    assert.deepEqual(out['b.matrix'], { dtype: 'float64', shape: [2, 3], values: [1.5, -2, 3.25, Math.PI, 0, -0] });
    assert.deepEqual(out['a.vector'], { dtype: 'uint8', shape: [3], values: [7, 8, 9] });
    assert.deepEqual(out.__meta__, { format: 'test' });
  });
});
