/** Model description files: bounded reads, no content in errors, no paths out of the manifest's folder. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { readDetectorManifest } from '../../infra/detectors/detector-manifest';
import { readJsonFile, resolveBeside } from '../../infra/json-file';

const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-json-file-'));

describe('readJsonFile and resolveBeside', () => {
  it('never quotes the content of a file that is not JSON', () => {
    const file = path.join(dir, 'passwd');
    writeFileSync(file, 'root:x:0:0:root:/root:/bin/bash\n');
    assert.throws(
      () => readJsonFile(file, z.object({}), 'detector manifest'),
      (err: Error) => err.message === `${file}: cannot read detector manifest (not valid JSON)` && !err.message.includes('root:'),
    );
  });

  it('refuses non-regular files before reading them', () => {
    assert.throws(
      () => readJsonFile('/dev/zero', z.object({}), 'generator description'),
      /\/dev\/zero: cannot read generator description \(not a regular file\)/,
    );
  });

  it('refuses model files that leave the manifest folder, by path or by symlink', () => {
    const m = path.join(dir, 'models', 'det.json');
    mkdirSync(path.dirname(m), { recursive: true });
    assert.throws(
      () => resolveBeside(m, '../../../etc/passwd', 'onnx'),
      /onnx "\.\.\/\.\.\/\.\.\/etc\/passwd" leaves the manifest's folder/,
    );
    assert.throws(() => resolveBeside(m, '/etc/passwd', 'onnx'), /leaves the manifest's folder/);
    symlinkSync('/etc/passwd', path.join(dir, 'models', 'link.onnx'));
    assert.throws(() => resolveBeside(m, 'link.onnx', 'onnx'), /leaves the manifest's folder/);
    assert.equal(resolveBeside(m, 'det.onnx', 'onnx'), path.join(dir, 'models', 'det.onnx'));
    writeFileSync(
      m,
      JSON.stringify({
        name: 'd',
        role: 'reward',
        onnx: '../../../../etc/passwd',
        input: {
          name: 'x',
          size: [8, 8],
          layout: 'NCHW',
          colorOrder: 'RGB',
          resize: [{ size: [8, 8], mode: 'squash' }],
          mean: [0, 0, 0],
          std: [1, 1, 1],
        },
        output: { name: 'y', kind: 'sigmoid', realIndex: 0 },
      }),
    );
    assert.throws(() => readDetectorManifest(m), /onnx .* leaves the manifest's folder/);
  });
});
