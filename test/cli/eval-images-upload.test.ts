/** `realgen eval --images DIR`: symlinks out of DIR and non-images are refused, all listed, before any upload. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { loadRealBench, selectSuite } from '../../infra/realbench/realbench';
import { testConfigFile, testS3 } from '../helpers/stack';

const repo = path.resolve(__dirname, '..', '..');
const realgen = path.join(repo, 'bin', 'realgen');

function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(realgen, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Refusal comes before any server is contacted; a CLI that went on to wait for workers is stopped here.
    const limit = setTimeout(() => child.kill('SIGTERM'), 60_000);
    child.on('close', (code) => {
      clearTimeout(limit);
      resolve({ code, stderr });
    });
  });
}

describe('realgen eval --images', () => {
  it('refuses a symlink leaving the folder and a file that is not an image, listing both, uploading nothing', async () => {
    const bucket = `evalimg-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const config = await testConfigFile({ bucket });
    const ids = selectSuite((await loadRealBench(path.resolve(repo, '..', 'shared', 'realbench-data'))).items, 'smoke').map(
      (it) => it.id,
    );
    assert.ok(ids.length >= 3);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-evalimg-'));
    const png = path.join(dir, 'base.png.keep');
    writeFileSync(
      png,
      await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
        .png()
        .toBuffer(),
    );
    const [evil, notes, ...rest] = ids as [string, string, ...string[]];
    symlinkSync('/etc/passwd', path.join(dir, `${evil}.png`));
    writeFileSync(path.join(dir, `${notes}.jpg`), 'just some notes\n');
    // Symlinks to an image inside the folder are fine.
    for (const id of rest) symlinkSync(png, path.join(dir, `${id}.png`));
    const r = await run(['eval', '-c', config, '--images', dir, '--name', 'evil', '--suite', 'smoke', '--no-embedded-workers']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /2 files refused, nothing uploaded/, r.stderr);
    assert.match(r.stderr, new RegExp(`\\n {2}${evil}\\.png: a symlink to /etc/passwd, outside the folder`));
    assert.match(r.stderr, new RegExp(`\\n {2}${notes}\\.jpg: not a PNG, JPEG or WebP image \\(by content\\)`));
    let objects = 0;
    for await (const _ of (await testS3()).listObjectsV2(bucket, 'uploads/', true)) objects++;
    for await (const _ of (await testS3()).listObjectsV2(bucket, 'blobs/', true)) objects++;
    assert.equal(objects, 0);
  });
});
